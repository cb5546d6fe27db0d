"""Partition DDL against the real database: concurrent creation, retention drops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import trio

from monitor.domain.partitions import DayPartition
from monitor.storage import partitions as partition_store
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations


async def test_two_instances_creating_the_same_days_both_succeed(empty_database_url: str) -> None:
    apply_migrations(empty_database_url)
    days = {DayPartition((datetime(2026, 1, 1) + timedelta(days=d)).date()) for d in range(5)}
    created: list[list[DayPartition]] = []
    async with (
        open_gateway(
            empty_database_url,
            pool_size=2,
            statement_timeout=10,
            acquire_timeout=5,
            connect_timeout=5,
        ) as one,
        open_gateway(
            empty_database_url,
            pool_size=2,
            statement_timeout=10,
            acquire_timeout=5,
            connect_timeout=5,
        ) as two,
        trio.open_nursery() as nursery,
    ):

        async def create(gateway) -> None:  # type: ignore[no-untyped-def]
            created.append(await partition_store.create_partitions(gateway, "events", days))

        nursery.start_soon(create, one)
        nursery.start_soon(create, two)
    assert sorted(p for batch in created for p in batch) == sorted(days)
    async with open_gateway(
        empty_database_url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        assert await partition_store.existing_partitions(gateway, "events") == days


async def test_dropping_a_partition_removes_its_rows_only(empty_database_url: str) -> None:
    apply_migrations(empty_database_url)
    old = DayPartition(datetime(2026, 1, 1).date())
    kept = DayPartition(datetime(2026, 1, 2).date())
    async with open_gateway(
        empty_database_url, pool_size=2, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        await partition_store.create_partitions(gateway, "events", [old, kept])
        with psycopg.connect(empty_database_url, autocommit=True) as connection:
            for partition in (old, kept):
                connection.execute(
                    "insert into events (id, time, received_at, type, level) "
                    "values (gen_random_uuid(), %s, now(), 't', 1)",
                    (partition.start + timedelta(hours=1),),
                )
        dropped = await partition_store.drop_partitions(gateway, "events", [old])
        assert dropped == [old]
        assert await partition_store.existing_partitions(gateway, "events") == {kept}
    with psycopg.connect(empty_database_url) as connection:
        times = [row[0] for row in connection.execute("select time from events")]
    assert [t.astimezone(UTC).date() for t in times] == [kept.day]
