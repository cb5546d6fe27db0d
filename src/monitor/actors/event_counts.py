"""The event-count actor: keeps the per-minute and per-hour event counts current.

Every `interval` seconds it adds the events committed since its last run to
their buckets (`monitor.storage.event_counts`). It works after commit, from
commit order, so ingest never waits for it and late events (an old `time`
arriving now) are counted like any other. Reads stay exact in between: they
count the events it has not reached yet from the raw table.

Error handling: a database outage skips the run (logged); anything else
crashes the actor and the supervisor restarts it. Resource handling: no
inbox, no state between runs; cancelled at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

from monitor.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)

MAX_STEPS_PER_RUN = 24  # then sleep, so a long backlog never starves everything else


class Step(Protocol):
    """What one counting step reports."""

    @property
    def caught_up(self) -> bool: ...


CountNewEvents = Callable[[], Awaitable[Step]]


async def run(
    count_new_events: CountNewEvents,
    *,
    interval: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    while True:
        try:
            # Each step is its own short transaction; a backlog takes several.
            for _ in range(MAX_STEPS_PER_RUN):
                if (await count_new_events()).caught_up:
                    break
        except StorageUnavailable as failure:
            log.warning(
                "event counting skipped: database unavailable", extra={"error": str(failure)}
            )
        await trio.sleep(interval)
