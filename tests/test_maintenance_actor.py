from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import trio
import trio.testing

from monitor.actors import maintenance
from monitor.domain.partitions import DayPartition
from monitor.storage.errors import StorageUnavailable


class FakePartitions:
    def __init__(self, days: Iterable[DayPartition]) -> None:
        self.present = set(days)
        self.down = False

    async def existing(self) -> set[DayPartition]:
        if self.down:
            raise StorageUnavailable("down")
        return set(self.present)

    async def create(self, wanted: Iterable[DayPartition]) -> None:
        if self.down:
            raise StorageUnavailable("down")
        self.present |= set(wanted)

    async def drop(self, doomed: Iterable[DayPartition]) -> None:
        self.present -= set(doomed)


async def test_creates_partitions_ahead_and_drops_expired_ones(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = datetime(2026, 6, 10, 12, tzinfo=UTC)
    fake = FakePartitions(DayPartition((start - timedelta(days=d)).date()) for d in range(40))
    table = maintenance.PartitionedTable(
        "events", timedelta(days=30), fake.existing, fake.create, fake.drop
    )
    clock_now = [start]
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: maintenance.run(
                [table], interval=3600, clock=lambda: clock_now[0], task_status=task_status
            )
        )
        await trio.testing.wait_all_tasks_blocked()
        days = sorted(p.day for p in fake.present)
        assert days[-1] == (start + timedelta(days=2)).date()
        assert days[0] == (start - timedelta(days=30)).date()  # its end is within retention
        # A day later, one more partition ahead and one more dropped.
        clock_now[0] = start + timedelta(days=1)
        await trio.sleep(3601)
        days = sorted(p.day for p in fake.present)
        assert days[-1] == (start + timedelta(days=3)).date()
        assert days[0] == (start - timedelta(days=29)).date()
        nursery.cancel_scope.cancel()


async def test_an_outage_skips_a_run_without_crashing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    now = datetime(2026, 6, 10, tzinfo=UTC)
    fake = FakePartitions([])
    fake.down = True
    table = maintenance.PartitionedTable(
        "events", timedelta(days=30), fake.existing, fake.create, fake.drop
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: maintenance.run(
                [table], interval=60, clock=lambda: now, task_status=task_status
            )
        )
        await trio.sleep(61)
        assert fake.present == set()
        fake.down = False
        await trio.sleep(60)
        assert DayPartition(now.date()) in fake.present
        nursery.cancel_scope.cancel()


async def test_pruned_tables_lose_rows_past_retention_every_run_and_survive_an_outage(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = datetime(2026, 6, 10, 12, tzinfo=UTC)
    cutoffs: list[datetime] = []
    down = [True]

    async def prune(older_than: datetime) -> int:
        if down[0]:
            raise StorageUnavailable("down")
        cutoffs.append(older_than)
        return 3

    audit = maintenance.PrunedTable("audit_log", timedelta(days=400), prune)
    clock_now = [start]
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: maintenance.run(
                [],
                pruned=[audit],
                interval=600,
                clock=lambda: clock_now[0],
                task_status=task_status,
            )
        )
        await trio.testing.wait_all_tasks_blocked()
        assert cutoffs == []  # the database was down: skipped, not crashed
        down[0] = False
        clock_now[0] = start + timedelta(hours=1)
        await trio.sleep(601)
        assert cutoffs == [start + timedelta(hours=1) - timedelta(days=400)]
        nursery.cancel_scope.cancel()
