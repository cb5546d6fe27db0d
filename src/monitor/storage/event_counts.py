"""Event counts per minute and per hour by level, source and type: keeping them exact.

The counts hold every event whose `ingest_xid` (the id of the transaction
that inserted it) is below `event_count_progress.counted_below`, plus the
events stored before counting began (no ingest_xid). `count_new_events`
moves the mark up to the oldest transaction still running, adding the
events in between to their buckets, in the same transaction as the move:
each event is counted exactly once, whenever it commits and whatever its
`time`. Deleting a counted event takes it out of its buckets in the delete's
transaction; dropping a day partition drops that day's counts.

COUNT_LOCK orders these writers: counting holds it exclusively, deletes and
partition drops share it, so a delete never races a count that still sees
its row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Cursor, sql

from monitor.storage.gateway import Connection, Gateway

log = logging.getLogger(__name__)

MINUTE = 60
HOUR = 3600
COUNT_LOCK = 7_236_300
# A step counts the events of at most this many transaction ids (the caller
# chooses fewer to keep steps short). The ids of every database on the
# server count, not only ingest commits.
MAX_XIDS_PER_STEP = 1_000_000
STATEMENT_TIMEOUT = "120s"


@dataclass(frozen=True)
class CountTable:
    """A table of counts per bucket (a minute or an hour) and these event columns."""

    name: str
    columns: tuple[str, ...]


# The same counts at four levels of detail, smallest first: a question is
# answered from the first that keeps every column it filters or groups by.
COUNT_TABLES = (
    CountTable("event_counts_by_level", ("level",)),
    CountTable("event_counts_by_type", ("level", "type")),
    CountTable("event_counts_by_source", ("level", "source")),
    CountTable("event_counts", ("level", "source", "type")),
)

_HORIZON = "select pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
_EPOCH = sql.SQL("timestamptz '1970-01-01T00:00:00Z'")


def _names(columns: tuple[str, ...]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(column) for column in columns)


def _add_to(table: CountTable) -> sql.Composed:
    """Add the minutes of `fresh` to the table's minute and hour buckets."""
    key = ("resolution_s", "bucket", *table.columns)
    return sql.SQL(
        "insert into {table} ({key}, count) "
        "select r.seconds, date_bin(make_interval(secs => r.seconds), bucket, {epoch}), "
        "{columns}, sum(n) "
        "from fresh cross join (values (60), (3600)) as r(seconds) "
        "group by {positions} "
        "on conflict ({key}) do update set count = {table}.count + excluded.count"
    ).format(
        table=sql.Identifier(table.name),
        key=_names(key),
        epoch=_EPOCH,
        columns=_names(table.columns),
        positions=sql.SQL(", ").join(sql.Literal(n) for n in range(1, len(key) + 1)),
    )


def _add_counts(which: sql.Composable) -> sql.Composed:
    """One statement: count the events `which` selects into every count table.

    It returns how many events it counted. (Data-modifying CTEs run whether
    or not the final select reads them.)
    """
    fresh = sql.SQL(
        "with fresh as ("
        "select date_bin('60 seconds', time, {epoch}) as bucket, level, source, type, "
        "count(*) as n from events where {which} group by 1, 2, 3, 4)"
    ).format(epoch=_EPOCH, which=which)
    added = [
        sql.SQL(", {} as ({})").format(sql.Identifier(f"added_{n}"), _add_to(table))
        for n, table in enumerate(COUNT_TABLES)
    ]
    total = sql.SQL(" select coalesce(sum(n), 0)::bigint from fresh")
    return sql.Composed([fresh, *added, total])


_NEW_EVENTS = _add_counts(sql.SQL("ingest_xid >= %(from)s and ingest_xid < %(to)s"))
_ALL_EVENTS = _add_counts(sql.SQL("ingest_xid is null or ingest_xid < %(to)s"))


def _event_buckets(table: CountTable) -> sql.Composed:
    """A deleted event's minute and hour bucket in `table` (parameters by column name)."""
    return sql.SQL(
        "(resolution_s, bucket) in ("
        "(60, date_bin('60 seconds', %(time)s, {epoch})), "
        "(3600, date_bin('3600 seconds', %(time)s, {epoch}))) and {same}"
    ).format(
        epoch=_EPOCH,
        same=sql.SQL(" and ").join(
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
            for column in table.columns
        ),
    )


# Per table: a bucket the deleted event was the last of goes; the others lose one.
_UNCOUNT = [
    statement
    for table in COUNT_TABLES
    for statement in (
        sql.SQL("delete from {} where count = 1 and {}").format(
            sql.Identifier(table.name), _event_buckets(table)
        ),
        sql.SQL("update {} set count = count - 1 where {}").format(
            sql.Identifier(table.name), _event_buckets(table)
        ),
    )
]


@dataclass(frozen=True)
class Step:
    counted_below: int
    caught_up: bool  # no transaction that had ended was left uncounted
    events: int  # how many this step counted


def lock_shared(connection: Connection) -> None:
    connection.execute("select pg_advisory_xact_lock_shared(%s)", (COUNT_LOCK,))


def counted_below(connection: Connection) -> int:
    row = connection.execute("select counted_below from event_count_progress").fetchone()
    assert row is not None, "migration 0009 inserts the progress row"
    return int(row[0])


async def count_new_events(gateway: Gateway, max_xids: int = MAX_XIDS_PER_STEP) -> Step:
    """Add the events of transactions ended since the last step to their buckets.

    One step covers at most `max_xids` transaction ids, so that a backlog is
    caught up in steps short enough not to hold deletes up for long.
    """
    span = max(1, min(max_xids, MAX_XIDS_PER_STEP))

    def work(connection: Connection) -> Step:
        connection.execute(f"set local statement_timeout = '{STATEMENT_TIMEOUT}'")
        connection.execute("select pg_advisory_xact_lock(%s)", (COUNT_LOCK,))
        # Read before this transaction takes an id of its own: every id below
        # the horizon belongs to a transaction that has committed or aborted,
        # and the statements below (later snapshots) see all it committed.
        found = connection.execute(_HORIZON).fetchone()
        assert found is not None
        horizon = int(found[0])
        mark = counted_below(connection)
        if horizon < mark:
            counted = _recount_after_restore(connection, horizon, mark)
            return Step(horizon, caught_up=True, events=counted)
        target = min(horizon, mark + span)
        counted = 0
        if target > mark:
            counted = _counted(connection.execute(_NEW_EVENTS, {"from": mark, "to": target}))
            connection.execute("update event_count_progress set counted_below = %s", (target,))
        return Step(target, caught_up=target == horizon, events=counted)

    return await gateway.run(work)


def _counted(cursor: Cursor[tuple[Any, ...]]) -> int:
    row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def _recount_after_restore(connection: Connection, horizon: int, mark: int) -> int:
    """Transaction ids ran backwards: this is a restored copy on another server.

    Its events carry the old server's ids, which new transactions here may
    repeat, so those ids no longer tell counted from uncounted. Forget them
    and count every event again (rare, and as long as the table is big).
    """
    log.warning(
        "event counts: transaction ids went backwards (a restored database?); recounting",
        extra={"counted_below": mark, "horizon": horizon},
    )
    connection.execute("set local statement_timeout = 0")
    # Statements run in later snapshots: an event committed after this update
    # keeps an id at or above the horizon and is left to the next steps.
    connection.execute("update events set ingest_xid = null where ingest_xid >= %s", (horizon,))
    for table in COUNT_TABLES:
        connection.execute(sql.SQL("delete from {}").format(sql.Identifier(table.name)))
    counted = _counted(connection.execute(_ALL_EVENTS, {"to": horizon}))
    connection.execute("update event_count_progress set counted_below = %s", (horizon,))
    return counted


def uncount_deleted(
    connection: Connection,
    *,
    time: datetime,
    level: int,
    source: str,
    event_type: str,
    ingest_xid: int | None,
) -> None:
    """Take a just-deleted event out of its buckets, if it was counted.

    Call with COUNT_LOCK held shared (taken before the delete).
    """
    if ingest_xid is not None and ingest_xid >= counted_below(connection):
        return
    key: dict[str, Any] = {"time": time, "level": level, "source": source, "type": event_type}
    for statement in _UNCOUNT:
        connection.execute(statement, key)


def forget_range(connection: Connection, start: datetime, end: datetime) -> None:
    """Drop the counts of [start, end): their events are gone (a dropped day partition).

    Both bounds must be whole hours, so that the hour buckets go too.
    """
    lock_shared(connection)
    for table in COUNT_TABLES:
        connection.execute(
            sql.SQL("delete from {} where bucket >= %s and bucket < %s").format(
                sql.Identifier(table.name)
            ),
            (start, end),
        )
