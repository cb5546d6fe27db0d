"""The maintenance actor: partitions ahead of time, retention by dropping partitions.

Every `interval` seconds (and once at start) it makes sure today's and the
next days' partitions exist, and drops the partitions whose whole day lies
beyond retention. The decisions are pure (`monitor.domain.partitions`); this
module only schedules them. Tables that are not partitioned (the audit log,
dashboard sessions) have their rows older than retention deleted instead; for
sessions "older" means ended (idle or past their maximum age), with no
retention beyond that.

Error handling: a database outage skips the run (logged) and the next run
tries again; a run that raises anything else crashes the actor, and the
supervisor restarts it.

Resource handling: no inbox; holds nothing between runs. Cancelled at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import trio

from monitor.domain.partitions import DayPartition, expired, partitions_ahead
from monitor.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)

DAYS_AHEAD = 2


@dataclass(frozen=True)
class PartitionedTable:
    """A table to maintain, with its storage operations and retention."""

    name: str
    retention: timedelta
    existing: Callable[[], Awaitable[set[DayPartition]]]
    create: Callable[[Iterable[DayPartition]], Awaitable[object]]
    drop: Callable[[Iterable[DayPartition]], Awaitable[object]]


@dataclass(frozen=True)
class PrunedTable:
    """A table whose rows older than retention are deleted; `prune` returns how many."""

    name: str
    retention: timedelta
    prune: Callable[[datetime], Awaitable[int]]


async def maintain_once(table: PartitionedTable, now: datetime) -> None:
    await table.create(partitions_ahead(now, DAYS_AHEAD))
    doomed = expired(await table.existing(), now, table.retention)
    if doomed:
        await table.drop(doomed)


async def prune_once(table: PrunedTable, now: datetime) -> None:
    deleted = await table.prune(now - table.retention)
    if deleted:
        log.info("retention: rows deleted", extra={"table": table.name, "rows": deleted})


async def run(
    tables: list[PartitionedTable],
    *,
    pruned: Sequence[PrunedTable] = (),
    interval: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    while True:
        for table in tables:
            try:
                await maintain_once(table, clock())
            except StorageUnavailable as failure:
                log.warning(
                    "maintenance skipped: database unavailable",
                    extra={"table": table.name, "error": str(failure)},
                )
        for table_to_prune in pruned:
            try:
                await prune_once(table_to_prune, clock())
            except StorageUnavailable as failure:
                log.warning(
                    "maintenance skipped: database unavailable",
                    extra={"table": table_to_prune.name, "error": str(failure)},
                )
        await trio.sleep(interval)
