"""Daily partitions of the time-partitioned tables: list, create, drop.

Creation holds an advisory lock so two instances (or two ingest workers)
creating the same day never collide. A partition is created as a plain table
and then attached, and dropped after a concurrent detach: both take only a
SHARE UPDATE EXCLUSIVE lock on the parent, which never blocks the reads and
inserts of other sessions (CREATE TABLE ... PARTITION OF and DROP TABLE would
take ACCESS EXCLUSIVE and queue every query behind them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from psycopg import sql

from monitor.domain.partitions import DayPartition
from monitor.storage import event_counts
from monitor.storage.gateway import Connection, Gateway

log = logging.getLogger(__name__)

PARTITION_LOCK_ID = 7_236_003
PARTITIONED_TABLES = frozenset({"events", "samples"})


def _check_table(table: str) -> None:
    if table not in PARTITIONED_TABLES:
        raise ValueError(f"{table} is not a partitioned table")


def _existing(connection: Connection, table: str) -> set[DayPartition]:
    rows = connection.execute(
        """
        select child.relname from pg_inherits
        join pg_class parent on parent.oid = pg_inherits.inhparent
        join pg_class child on child.oid = pg_inherits.inhrelid
        where parent.relname = %s
        """,
        (table,),
    ).fetchall()
    found = (DayPartition.from_name(table, str(row[0])) for row in rows)
    return {partition for partition in found if partition is not None}


async def existing_partitions(gateway: Gateway, table: str) -> set[DayPartition]:
    _check_table(table)
    return await gateway.run(lambda connection: _existing(connection, table))


async def create_partitions(
    gateway: Gateway, table: str, wanted: Iterable[DayPartition]
) -> list[DayPartition]:
    """Create the missing partitions among `wanted`; return the ones created."""
    _check_table(table)
    wanted = sorted(set(wanted))

    def work(connection: Connection) -> list[DayPartition]:
        connection.execute("select pg_advisory_xact_lock(%s)", (PARTITION_LOCK_ID,))
        missing = [p for p in wanted if p not in _existing(connection, table)]
        for partition in missing:
            name = sql.Identifier(partition.name(table))
            connection.execute(
                sql.SQL(
                    "create table {} (like {} including defaults including constraints)"
                ).format(name, sql.Identifier(table))
            )
            connection.execute(
                sql.SQL("alter table {} attach partition {} for values from ({}) to ({})").format(
                    sql.Identifier(table),
                    name,
                    sql.Literal(partition.start),
                    sql.Literal(partition.end),
                )
            )
        return missing

    created = await gateway.run(work)
    if created:
        log.info(
            "created partitions",
            extra={"table": table, "partitions": [p.name(table) for p in created]},
        )
    return created


async def drop_partitions(
    gateway: Gateway, table: str, doomed: Iterable[DayPartition]
) -> list[DayPartition]:
    """Drop whole partitions (retention). Returns the ones dropped."""
    _check_table(table)
    dropped: list[DayPartition] = []
    for partition in sorted(set(doomed)):
        name = sql.Identifier(partition.name(table))

        def detach(connection: Connection, name: sql.Identifier = name) -> None:
            connection.execute("set lock_timeout = '5s'")
            try:
                connection.execute(
                    sql.SQL("alter table {} detach partition {} concurrently").format(
                        sql.Identifier(table), name
                    )
                )
            finally:
                connection.execute("reset lock_timeout")

        def drop(
            connection: Connection, name: sql.Identifier = name, day: DayPartition = partition
        ) -> None:
            if table == "events":
                # The day's events are gone (detached above): so go their counts.
                event_counts.forget_range(connection, day.start, day.end)
            connection.execute(sql.SQL("drop table if exists {}").format(name))

        if partition in await existing_partitions(gateway, table):
            await gateway.run(detach, autocommit=True)
        await gateway.run(drop)
        dropped.append(partition)
    if dropped:
        log.info(
            "dropped partitions past retention",
            extra={"table": table, "partitions": [p.name(table) for p in dropped]},
        )
    return dropped
