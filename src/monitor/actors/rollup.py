"""The rollup actor: keeps 1-minute and 1-hour rollups current, and trims them.

Every `interval` seconds it rolls up the complete minutes older than SETTLE
(and the hours they complete), then deletes rollups past their retention.
Late samples for buckets already rolled up are refreshed by the sample
commit itself, so this actor never has to look back.

Error handling: a database outage skips the run (logged); anything else
crashes the actor and the supervisor restarts it. Resource handling: no
inbox, no state between runs; cancelled at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import trio

from monitor.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)

SETTLE = timedelta(seconds=30)
MAX_STEPS_PER_RUN = 24  # then sleep, so a long backlog never starves everything else

RollUp = Callable[[datetime, timedelta], Awaitable[datetime | None]]
Trim = Callable[[datetime], Awaitable[object]]


async def run(
    roll_up: RollUp,
    trim: Trim,
    *,
    interval: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    while True:
        try:
            now = clock()
            # Each step is its own short transaction; a backlog takes several.
            for _ in range(MAX_STEPS_PER_RUN):
                mark = await roll_up(now, SETTLE)
                if mark is None or mark >= now - SETTLE - timedelta(minutes=1):
                    break
            await trim(now)
        except StorageUnavailable as failure:
            log.warning("rollup skipped: database unavailable", extra={"error": str(failure)})
        await trio.sleep(interval)
