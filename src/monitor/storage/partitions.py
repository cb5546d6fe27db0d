"""Daily partitions of the time-partitioned tables: list, create, drop.

Creation holds an advisory lock so two instances (or two ingest workers)
creating the same day never collide. Dropping uses a short lock_timeout: if
busy queries hold the table, the drop waits for the next maintenance run
instead of stalling ingest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from psycopg import sql

from monitor.domain.partitions import DayPartition
from monitor.storage.gateway import Connection, Gateway

log = logging.getLogger(__name__)

PARTITION_LOCK_ID = 7_236_003
PARTITIONED_TABLES = frozenset({"events"})


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
            connection.execute(
                sql.SQL("create table {} partition of {} for values from ({}) to ({})").format(
                    sql.Identifier(partition.name(table)),
                    sql.Identifier(table),
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

        def work(connection: Connection, partition: DayPartition = partition) -> None:
            connection.execute("set local lock_timeout = '5s'")
            connection.execute(
                sql.SQL("drop table if exists {}").format(sql.Identifier(partition.name(table)))
            )

        await gateway.run(work)
        dropped.append(partition)
    if dropped:
        log.info(
            "dropped partitions past retention",
            extra={"table": table, "partitions": [p.name(table) for p in dropped]},
        )
    return dropped
