"""The notifier's planner: while this instance leads alert evaluation, queues what groups are told.

Every instance runs it; only the leader plans, under the evaluator's
leadership and epoch (actors/leadership.py), not a lock of its own: the
groups are the leader's as the alert instances are. Every `tick` it runs
one `plan_once` (notification_planning.py) at the current time, in one
transaction fenced by the epoch; every `rescan` that tick looks at every
group, not only the touched and due ones, because silences and inhibitions
begin and end without a transition.

Its state is in the database (cursor, groups, timers), so a new leader or
a restarted process carries on from the last committed tick; a failed tick
leaves everything to the next.

Error handling: a database outage skips the tick (logged, counted);
`LostLeadership` drops it (the leadership actor notices the loss itself).
Anything else crashes the actor; the supervisor restarts it. Resource
handling: no inbox, no state beyond the time of the last rescan; cancelled
at shutdown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import trio

from monitor.leadership import Leadership
from monitor.notification_planning import PlanOutcome
from monitor.planner_figures import PlannerFigures
from monitor.storage.errors import StorageUnavailable
from monitor.storage.leadership import LostLeadership

log = logging.getLogger(__name__)

# (epoch, now, rescan) -> what the tick did
Plan = Callable[[int, datetime, bool], Awaitable[PlanOutcome]]


async def run(
    leadership: Leadership,
    plan: Plan,
    figures: PlannerFigures,
    *,
    tick: float,
    rescan: float,
    now: Callable[[], datetime],
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    last_rescan: float | None = None  # trio time of the last tick that looked at every group
    while True:
        epoch = leadership.epoch
        if epoch is None:
            last_rescan = None  # a new term starts with a look at everything
        else:
            every = last_rescan is None or trio.current_time() - last_rescan >= rescan
            began = time.perf_counter()
            try:
                outcome = await plan(epoch, now(), every)
            except StorageUnavailable as failure:
                figures.skipped_ticks += 1
                log.warning(
                    "notification planning skipped: database unavailable",
                    extra={"error": str(failure)},
                )
            except LostLeadership as lost:
                log.warning(
                    "notification planning stopped: leadership lost", extra={"error": str(lost)}
                )
            else:
                if every:
                    last_rescan = trio.current_time()
                _count(figures, outcome, (time.perf_counter() - began) * 1000)
        await trio.sleep(tick)


def _count(figures: PlannerFigures, outcome: PlanOutcome, elapsed_ms: float) -> None:
    figures.ticks += 1
    figures.transitions += outcome.transitions
    figures.queued += outcome.queued
    figures.last_queued = outcome.queued
    figures.last_looked_at = outcome.looked_at
    figures.groups = outcome.groups
    figures.members = outcome.members
    figures.cursor_lag = outcome.held_back
    figures.last_tick_ms = round(elapsed_ms, 1)
    figures.max_tick_ms = max(figures.max_tick_ms, figures.last_tick_ms)
    figures.last_planned_at = time.time()
