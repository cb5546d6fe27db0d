"""The event-count actor: keeps the per-minute and per-hour event counts current.

Every `interval` seconds it adds the events committed since its last run to
their buckets (`monitor.storage.event_counts`). It works after commit, from
commit order, so ingest never waits for it and late events (an old `time`
arriving now) are counted like any other. Reads stay exact in between: they
count the events it has not reached yet from the raw table.

A backlog (after an outage) is caught up in steps of about TARGET_EVENTS
events: each step covers a span of transaction ids, halved after a step that
counted too many and doubled after one that counted few, so no step holds
the count lock (and the deletes waiting on it) for long.

Error handling: a database outage skips the run (logged); anything else
crashes the actor and the supervisor restarts it. Resource handling: no
inbox; between runs it keeps only the span; cancelled at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

from monitor.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)

MAX_STEPS_PER_RUN = 24  # then sleep, so a long backlog never starves everything else
TARGET_EVENTS = 50_000  # per step: about a second of work
FIRST_SPAN = 1_000  # transaction ids per step at start
MAX_SPAN = 1_000_000


class Step(Protocol):
    """What one counting step reports."""

    @property
    def caught_up(self) -> bool: ...

    @property
    def events(self) -> int: ...


CountNewEvents = Callable[[int], Awaitable[Step]]


def next_span(span: int, step: Step) -> int:
    """The span of transaction ids for the next step."""
    if step.events > TARGET_EVENTS:
        return max(1, span // 2)
    if not step.caught_up and step.events < TARGET_EVENTS // 2:
        return min(MAX_SPAN, span * 2)  # the span, not the events, ended this step
    return span


async def run(
    count_new_events: CountNewEvents,
    *,
    interval: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    span = FIRST_SPAN
    while True:
        try:
            # Each step is its own short transaction; a backlog takes several.
            for _ in range(MAX_STEPS_PER_RUN):
                step = await count_new_events(span)
                span = next_span(span, step)
                if step.caught_up:
                    break
        except StorageUnavailable as failure:
            log.warning(
                "event counting skipped: database unavailable", extra={"error": str(failure)}
            )
        await trio.sleep(interval)
