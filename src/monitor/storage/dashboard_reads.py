"""SQL for the dashboard's event reads that are not plain counts.

Counts of events (totals, per level, type, source) come from
`event_count_query`; metric reads from `metric_query`. Here: error groups
(new in a range, ranked with a trend), the events received in a recent
window, and the percentiles of a numeric attribute per key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from psycopg import sql
from psycopg.rows import class_row

from monitor.storage.events import EventGroup
from monitor.storage.gateway import Connection, Gateway

_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Period:
    """[start, end)"""

    start: datetime
    end: datetime


def _counts_per_period(
    table: str, column: str, where: str, periods: Sequence[Period]
) -> tuple[sql.Composed, list[object]]:
    """One statement counting the rows of `table` whose `column` falls in each period."""
    counts = sql.SQL(", ").join(
        sql.SQL("count(*) filter (where {0} >= %s and {0} < %s)").format(sql.Identifier(column))
        for _ in periods
    )
    params: list[object] = [moment for period in periods for moment in (period.start, period.end)]
    params += [min(p.start for p in periods), max(p.end for p in periods)]
    statement = sql.SQL("select {} from {} where {} and {} >= %s and {} < %s").format(
        counts,
        sql.Identifier(table),
        sql.SQL(where),  # one of this module's constants
        sql.Identifier(column),
        sql.Identifier(column),
    )
    return statement, params


async def _count(gateway: Gateway, statement: sql.Composed, params: list[object]) -> list[int]:
    def work(connection: Connection) -> list[int]:
        row = connection.execute(statement, params).fetchone()
        assert row is not None
        return [int(count) for count in row]

    return await gateway.run(work)


async def new_open_groups(gateway: Gateway, periods: Sequence[Period]) -> list[int]:
    """For each period, the error groups first seen in it that are open now."""
    if not periods:
        return []
    return await _count(
        gateway, *_counts_per_period("event_groups", "first_seen", "status = 'open'", periods)
    )


async def events_received(gateway: Gateway, periods: Sequence[Period]) -> list[int]:
    """For each period, how many events were received (`received_at`) in it, whatever
    their own time.

    Served by the BRIN index on received_at (migration 0011): rows are
    appended to each partition in the order they arrive.
    """
    if not periods:
        return []
    return await _count(gateway, *_counts_per_period("events", "received_at", "true", periods))


@dataclass(frozen=True)
class GroupTrend(EventGroup):
    """An error group with its events in the range (`count_in_range`) and their trend:
    events per bucket, the range cut into `buckets` equal parts."""

    trend: list[int] = field(default_factory=list)


# Bucket n holds [start + n*span/buckets, start + (n+1)*span/buckets), in
# whole microseconds (exact, unlike seconds as a double).
_BUCKET = sql.SQL(
    "div(extract(epoch from e.time - %(start)s) * 1000000 * %(buckets)s, %(span_us)s)::int"
)

_TOP_GROUPS = sql.SQL("""
with ranked as (
    select e.group_id as id, count(*) as count_in_range
    from events e
    join event_groups g on g.id = e.group_id
    where e.time >= %(start)s and e.time < %(end)s and e.group_id is not null
      and (%(statuses)s::text[] is null or g.status = any(%(statuses)s::text[]))
    group by e.group_id
    order by count_in_range desc, e.group_id
    limit %(limit)s
),
per_bucket as (
    select e.group_id as id, {bucket} as bucket, count(*) as events
    from events e join ranked r on r.id = e.group_id
    where e.time >= %(start)s and e.time < %(end)s
    group by 1, 2
)
select g.id, g.fingerprint, g.type, g.source, g.level, g.message, g.first_seen, g.last_seen,
       g.count, g.status, r.count_in_range,
       array(
           select coalesce(p.events, 0)::int8
           from generate_series(0, %(buckets)s - 1) as n
           left join per_bucket p on p.id = g.id and p.bucket = n
           order by n
       ) as trend
from ranked r join event_groups g on g.id = r.id
order by r.count_in_range desc, g.id
""").format(bucket=_BUCKET)


async def top_groups_with_trend(
    gateway: Gateway,
    period: Period,
    *,
    statuses: Sequence[str],
    limit: int,
    buckets: int,
) -> list[GroupTrend]:
    """The `limit` groups with the most events in `period` (ties by id, as /events/groups
    ranks them), each with its events per bucket, in one statement."""
    span_us = (period.end - period.start) // _MICROSECOND
    params = {
        "start": period.start,
        "end": period.end,
        "statuses": list(statuses) or None,
        "limit": limit,
        "buckets": buckets,
        "span_us": span_us,
    }

    def work(connection: Connection) -> list[GroupTrend]:
        with connection.cursor(row_factory=class_row(GroupTrend)) as cursor:
            return cursor.execute(_TOP_GROUPS, params).fetchall()

    return await gateway.run(work)


_GROUP_TREND = sql.SQL(
    "select {bucket} as bucket, count(*) from events e"
    " where e.group_id = %(group_id)s and e.time >= %(start)s and e.time < %(end)s"
    " group by 1"
).format(bucket=_BUCKET)


async def group_trend(
    gateway: Gateway, group_id: int, period: Period, *, buckets: int
) -> list[int]:
    """One group's events per bucket of `period`, bucketed as `top_groups_with_trend` does."""
    params = {
        "group_id": group_id,
        "start": period.start,
        "end": period.end,
        "buckets": buckets,
        "span_us": (period.end - period.start) // _MICROSECOND,
    }

    def work(connection: Connection) -> list[int]:
        trend = [0] * buckets
        for bucket, count in connection.execute(_GROUP_TREND, params):
            trend[int(bucket)] = int(count)
        return trend

    return await gateway.run(work)


@dataclass(frozen=True)
class KeyPercentiles:
    key: str
    count: int
    p50: float
    p95: float
    p99: float
    max: float


# A jsonb number may lie beyond what a double holds: larger ones are left
# out, smaller than the least normal double read as 0, so no stored value
# makes the read fail (and a value that is not a number is simply not one).
_SLOW = """
with points as (
    select attributes ->> %(key)s as key,
           case when jsonb_typeof(attributes -> %(attr)s) = 'number' then
               case
                   when abs((attributes -> %(attr)s)::numeric) > 1.7976931348623157e308 then null
                   when abs((attributes -> %(attr)s)::numeric) < 2.2250738585072014e-308 then 0
                   else (attributes -> %(attr)s)::numeric::float8
               end
           end as value
    from events
    where time >= %(start)s and time < %(end)s
      and attributes ? %(key)s and attributes ? %(attr)s
),
numeric_points as (
    select key, value from points where value is not null and key is not null
),
busiest as (
    select key from numeric_points group by key
    order by count(*) desc, key collate "C" limit %(max_keys)s
)
select key, count, fractions, max from (
    select p.key, count(*) as count,
           percentile_cont(array[0.5, 0.95, 0.99]) within group (order by p.value) as fractions,
           max(p.value) as max
    from numeric_points p join busiest b on b.key = p.key
    group by p.key
) ranked
order by fractions[2] desc, key collate "C"
limit %(limit)s
"""


async def slowest_keys(
    gateway: Gateway,
    period: Period,
    *,
    attr: str,
    key: str,
    limit: int,
    max_keys: int,
) -> list[KeyPercentiles]:
    """Events of `period` whose attribute `attr` is a JSON number, grouped by the text of
    their attribute `key`, ranked by the 95th percentile of `attr` (highest first).

    Only the `max_keys` keys with the most such events are ranked, so the
    work stays bounded whatever `key` is (a request id, say). Percentiles
    interpolate linearly (`percentile_cont`).
    """
    params = {
        "start": period.start,
        "end": period.end,
        "attr": attr,
        "key": key,
        "limit": limit,
        "max_keys": max_keys,
    }

    def work(connection: Connection) -> list[KeyPercentiles]:
        return [
            KeyPercentiles(
                str(name),
                int(count),
                float(fractions[0]),
                float(fractions[1]),
                float(fractions[2]),
                float(highest),
            )
            for name, count, fractions, highest in connection.execute(_SLOW.encode(), params)
        ]

    return await gateway.run(work)


async def firing_alerts(gateway: Gateway) -> dict[str, int]:
    """Firing alert instances now, per severity (an instance that fires is its slot's latest)."""

    def work(connection: Connection) -> dict[str, int]:
        rows = connection.execute(
            "select labels ->> 'severity', count(*) from alert_instances "
            "where state = 'firing' group by 1"
        ).fetchall()
        return {str(severity): int(count) for severity, count in rows}

    return await gateway.run(work)
