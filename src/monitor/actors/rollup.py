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

RollUp = Callable[[datetime, timedelta], Awaitable[object]]
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
            await roll_up(now, SETTLE)
            await trim(now)
        except StorageUnavailable as failure:
            log.warning("rollup skipped: database unavailable", extra={"error": str(failure)})
        await trio.sleep(interval)
