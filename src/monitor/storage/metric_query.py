"""SQL for reading metrics: bucketed aggregations, latest values, names, sources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import sql

from monitor.domain.metrics import PERCENTILES, LabelMatcher
from monitor.storage.gateway import Connection, Gateway

EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class SeriesQuery:
    name: str
    matchers: tuple[LabelMatcher, ...]
    time_from: datetime
    time_to: datetime
    interval: timedelta
    aggregation: str
    group_by: tuple[str, ...]


@dataclass(frozen=True)
class GroupPoints:
    labels: dict[str, str]
    points: list[tuple[int, float]]  # (unix seconds of the bucket start, value)


def _matcher_clauses(matchers: tuple[LabelMatcher, ...], params: list[Any]) -> sql.Composable:
    clauses: list[sql.Composable] = []
    for matcher in matchers:
        if matcher.equal:
            clauses.append(sql.SQL("s.labels ->> %s = %s"))
        else:
            clauses.append(sql.SQL("s.labels ->> %s is distinct from %s"))
        params.extend((matcher.name, matcher.value))
    if not clauses:
        return sql.SQL("")
    return sql.SQL(" and ") + sql.SQL(" and ").join(clauses)


_SIMPLE_AGGREGATES = {
    "avg": "avg(value)",
    "sum": "sum(value)",
    "min": "min(value)",
    "max": "max(value)",
    "count": "count(*)::float8",
    "last": "(array_agg(value order by time desc, value desc))[1]",
}


async def query_series(gateway: Gateway, query: SeriesQuery) -> list[GroupPoints]:
    """One point list per group, buckets aligned to the Unix epoch, from raw samples."""
    params: dict[str, Any] = {
        "interval": query.interval,
        "epoch": EPOCH,
        "name": query.name,
        "time_from": query.time_from,
        "time_to": query.time_to,
        "width": query.interval.total_seconds(),
    }
    group_key: sql.Composable = sql.SQL("'{}'::jsonb")
    if query.group_by:
        parts = []
        for number, label in enumerate(query.group_by):
            params[f"group_{number}"] = label
            parts.append(
                sql.SQL("{0}::text, s.labels -> {0}::text").format(
                    sql.Placeholder(f"group_{number}")
                )
            )
        group_key = sql.SQL("jsonb_strip_nulls(jsonb_build_object({}))").format(
            sql.SQL(", ").join(parts)
        )
    matcher_parts: list[sql.Composable] = []
    for number, matcher in enumerate(query.matchers):
        params[f"label_{number}"] = matcher.name
        params[f"value_{number}"] = matcher.value
        operator = "=" if matcher.equal else "is distinct from"
        matcher_parts.append(
            sql.SQL(" and s.labels ->> {} " + operator + " {}").format(
                sql.Placeholder(f"label_{number}"), sql.Placeholder(f"value_{number}")
            )
        )
    window = sql.SQL("")
    if query.aggregation == "rate":
        window = sql.SQL(
            ", lag(p.value) over (partition by p.series_id, "
            "date_bin(%(interval)s, p.time, %(epoch)s::timestamptz) "
            "order by p.time, p.value) as previous"
        )
        aggregate = sql.SQL(
            "coalesce(sum(case when value >= previous then value - previous else value end) "
            "filter (where previous is not null), 0) / %(width)s"
        )
    elif query.aggregation in PERCENTILES:
        params["fraction"] = PERCENTILES[query.aggregation]
        aggregate = sql.SQL("percentile_cont(%(fraction)s) within group (order by value)")
    else:
        aggregate = sql.SQL(_SIMPLE_AGGREGATES[query.aggregation])
    statement = sql.SQL(
        """
        select grp, bucket, {aggregate} from (
            select {group_key} as grp,
                   date_bin(%(interval)s, p.time, %(epoch)s::timestamptz) as bucket,
                   p.time, p.value{window}
            from samples p join series s on s.id = p.series_id
            where s.name = %(name)s and s.deleted_at is null{matchers}
              and p.time >= %(time_from)s and p.time < %(time_to)s
        ) points
        group by grp, bucket
        order by grp::text, bucket
        """
    ).format(
        aggregate=aggregate,
        group_key=group_key,
        window=window,
        matchers=sql.SQL("").join(matcher_parts),
    )

    def work(connection: Connection) -> list[GroupPoints]:
        groups: dict[str, GroupPoints] = {}
        for labels, bucket, value in connection.execute(statement, params).fetchall():
            identity = repr(sorted(labels.items()))
            group = groups.setdefault(identity, GroupPoints(dict(labels), []))
            group.points.append((int(bucket.timestamp()), float(value)))
        return list(groups.values())

    return await gateway.run(work)


@dataclass(frozen=True)
class LatestValue:
    series_id: int
    name: str
    source: str
    labels: dict[str, str]
    time: datetime
    value: float


async def latest_values(
    gateway: Gateway,
    *,
    name: str | None,
    source: str | None,
    matchers: tuple[LabelMatcher, ...],
    limit: int,
) -> list[LatestValue]:
    params: list[Any] = []
    clauses = [sql.SQL("s.deleted_at is null")]
    if name is not None:
        clauses.append(sql.SQL("s.name = %s"))
        params.append(name)
    if source is not None:
        clauses.append(sql.SQL("s.source = %s"))
        params.append(source)
    statement = sql.SQL(
        """
        select s.id, s.name, s.source, s.labels, l.time, l.value
        from series s
        cross join lateral (
            select time, value from samples where series_id = s.id
            order by time desc limit 1
        ) l
        where {clauses}{matchers}
        order by s.name, s.id
        limit %s
        """
    ).format(clauses=sql.SQL(" and ").join(clauses), matchers=_matcher_clauses(matchers, params))
    params.append(limit)

    def work(connection: Connection) -> list[LatestValue]:
        return [
            LatestValue(int(i), str(n), str(src), dict(labels), time, float(value))
            for i, n, src, labels, time, value in connection.execute(statement, params)
        ]

    return await gateway.run(work)


async def metric_names(gateway: Gateway) -> list[tuple[str, str, str | None, int]]:
    """(name, type, unit, live series) for every metric."""

    def work(connection: Connection) -> list[tuple[str, str, str | None, int]]:
        return [
            (str(name), str(kind), unit, int(count))
            for name, kind, unit, count in connection.execute(
                """
                select m.name, m.type, m.unit, count(s.id)
                from metrics m left join series s on s.name = m.name and s.deleted_at is null
                group by m.name order by m.name
                """
            )
        ]

    return await gateway.run(work)


async def metric_sources(gateway: Gateway) -> list[str]:
    def work(connection: Connection) -> list[str]:
        return [
            str(row[0])
            for row in connection.execute(
                "select distinct source from series where deleted_at is null order by source"
            )
        ]

    return await gateway.run(work)


async def metric_stats(gateway: Gateway) -> dict[str, int]:
    def work(connection: Connection) -> dict[str, int]:
        row = connection.execute(
            """
            select (select count(*) from metrics),
                   (select count(*) from series where deleted_at is null),
                   (select coalesce(sum(c.reltuples), 0)::bigint from pg_inherits i
                    join pg_class p on p.oid = i.inhparent join pg_class c on c.oid = i.inhrelid
                    where p.relname = 'samples' and c.reltuples > 0)
            """
        ).fetchone()
        assert row is not None
        return {"metrics": int(row[0]), "series": int(row[1]), "samples_estimate": int(row[2])}

    return await gateway.run(work)


async def delete_series(gateway: Gateway, series_id: int) -> bool:
    """Tombstone a series and delete its samples; caches elsewhere notice the tombstone."""

    def work(connection: Connection) -> bool:
        deleted = connection.execute(
            "update series set deleted_at = now() where id = %s and deleted_at is null",
            (series_id,),
        ).rowcount
        if deleted:
            connection.execute("delete from samples where series_id = %s", (series_id,))
        return deleted > 0

    return await gateway.run(work)
