"""SQL for reading metrics: bucketed aggregations, latest values, names, sources, labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from monitor.domain.audit import Attribution, AuditEntry
from monitor.domain.metrics import PERCENTILES, LabelMatcher
from monitor.domain.value_buckets import Scale, value_edges
from monitor.storage import rollups
from monitor.storage.audit import record_change
from monitor.storage.errors import QueryRefused
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


def group_key_sql(group_by: tuple[str, ...], params: dict[str, Any]) -> sql.Composable:
    """A series `s`'s group: the jsonb of its `group_by` labels (absent ones left out)."""
    if not group_by:
        return sql.SQL("'{}'::jsonb")
    parts = []
    for number, label in enumerate(group_by):
        params[f"group_{number}"] = label
        parts.append(
            sql.SQL("{0}::text, s.labels -> {0}::text").format(sql.Placeholder(f"group_{number}"))
        )
    return sql.SQL("jsonb_strip_nulls(jsonb_build_object({}))").format(sql.SQL(", ").join(parts))


def matchers_sql(matchers: tuple[LabelMatcher, ...], params: dict[str, Any]) -> sql.Composable:
    """` and <condition>` on a series `s`'s labels for each matcher."""
    parts: list[sql.Composable] = []
    for number, matcher in enumerate(matchers):
        params[f"label_{number}"] = matcher.name
        params[f"value_{number}"] = matcher.value
        operator = "=" if matcher.equal else "is distinct from"
        parts.append(
            sql.SQL(" and s.labels ->> {} " + operator + " {}").format(
                sql.Placeholder(f"label_{number}"), sql.Placeholder(f"value_{number}")
            )
        )
    return sql.SQL("").join(parts)


def _group_key(query: SeriesQuery, params: dict[str, Any]) -> sql.Composable:
    return group_key_sql(query.group_by, params)


def _matchers(query: SeriesQuery | MetricSelector, params: dict[str, Any]) -> sql.Composable:
    return matchers_sql(query.matchers, params)


def _base_params(query: SeriesQuery, time_from: datetime, time_to: datetime) -> dict[str, Any]:
    return {
        "interval": query.interval,
        "epoch": EPOCH,
        "name": query.name,
        "time_from": time_from,
        "time_to": time_to,
        "width": query.interval.total_seconds(),
    }


def _raw_statement(
    query: SeriesQuery, time_from: datetime, time_to: datetime
) -> tuple[sql.Composed, dict[str, Any]]:
    params = _base_params(query, time_from, time_to)
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
        select grp::text, extract(epoch from bucket)::int8, {aggregate} from (
            select {group_key} as grp,
                   date_bin(%(interval)s, p.time, %(epoch)s::timestamptz) as bucket,
                   p.time, p.value{window}
            from samples p join series s on s.id = p.series_id
            where s.name = %(name)s and s.deleted_at is null{matchers}
              and p.time >= %(time_from)s and p.time < %(time_to)s
        ) points
        group by grp, bucket
        """
    ).format(
        aggregate=aggregate,
        group_key=_group_key(query, params),
        window=window,
        matchers=_matchers(query, params),
    )
    return statement, params


_ROLLUP_AGGREGATES = {
    "avg": "sum(sum) / sum(count)",
    "sum": "sum(sum)",
    "min": "min(min)",
    "max": "max(max)",
    "count": "sum(count)::float8",
    "last": "(array_agg(last order by last_time desc, last desc))[1]",
    "rate": (
        "(sum(increase) + coalesce(sum(case when first >= previous_last "
        "then first - previous_last else first end) "
        "filter (where previous_last is not null), 0)) / %(width)s"
    ),
}


def _rollup_statement(
    query: SeriesQuery, resolution: int, time_from: datetime, time_to: datetime
) -> tuple[sql.Composed, dict[str, Any]]:
    params = _base_params(query, time_from, time_to)
    params["resolution"] = resolution
    aggregate = sql.SQL(_ROLLUP_AGGREGATES[query.aggregation])
    if not query.group_by and not query.matchers and query.aggregation != "rate":
        # The whole metric as one group: its name rollup answers directly.
        return (
            sql.SQL(
                """
                select '{{}}' as grp,
                       extract(epoch from
                           date_bin(%(interval)s, bucket, %(epoch)s::timestamptz))::int8 as qbucket,
                       {aggregate}
                from name_rollups
                where resolution_s = %(resolution)s and name = %(name)s
                  and bucket >= %(time_from)s and bucket < %(time_to)s
                group by qbucket
                """
            ).format(aggregate=aggregate),
            params,
        )
    # Only rate needs the previous bucket's last value (a window, so a sort).
    previous_last = sql.SQL(
        """lag(r.last) over (
                       partition by r.series_id,
                                    date_bin(%(interval)s, r.bucket, %(epoch)s::timestamptz)
                       order by r.bucket
                   )"""
        if query.aggregation == "rate"
        else "null::float8"
    )
    statement = sql.SQL(
        """
        select grp::text, extract(epoch from qbucket)::int8, {aggregate} from (
            select {group_key} as grp,
                   date_bin(%(interval)s, r.bucket, %(epoch)s::timestamptz) as qbucket,
                   r.count, r.sum, r.min, r.max, r.first, r.last, r.last_time, r.increase,
                   {previous_last} as previous_last
            from rollups r join series s on s.id = r.series_id
            where r.resolution_s = %(resolution)s and s.name = %(name)s
              and s.deleted_at is null{matchers}
              and r.bucket >= %(time_from)s and r.bucket < %(time_to)s
        ) buckets
        group by grp, qbucket
        """
    ).format(
        aggregate=aggregate,
        group_key=_group_key(query, params),
        matchers=_matchers(query, params),
        previous_last=previous_last,
    )
    return statement, params


def _aligned(moment: datetime, seconds: int) -> bool:
    return (moment - rollups.EPOCH) % timedelta(seconds=seconds) == timedelta(0)


def plan_rollup(query: SeriesQuery, marks: dict[int, datetime]) -> tuple[int, datetime] | None:
    """(resolution, split) when rollups answer [from, split) exactly; raw does the rest.

    The coarsest resolution that divides the interval and the range's ends, and
    whose watermark has passed at least one whole query bucket. Percentiles
    always read raw samples.
    """
    if query.aggregation in PERCENTILES:
        return None
    width = query.interval.total_seconds()
    for resolution in sorted(rollups.RESOLUTIONS, reverse=True):
        if width % resolution or not (
            _aligned(query.time_from, resolution) and _aligned(query.time_to, resolution)
        ):
            continue
        mark = marks.get(resolution)
        if mark is None:
            continue
        split = min(query.time_to, rollups.floor_to(mark, int(width)))
        if split > query.time_from:
            return resolution, split
    return None


async def query_series(gateway: Gateway, query: SeriesQuery) -> list[GroupPoints]:
    """One point list per group, buckets aligned to the Unix epoch.

    Served from rollups where they answer exactly, from raw samples elsewhere
    (the newest buckets, percentiles, ranges not aligned to a rollup).
    """

    def work(connection: Connection) -> list[GroupPoints]:
        plan = plan_rollup(query, rollups.watermarks(connection))
        statements: list[tuple[sql.Composed, dict[str, Any]]] = []
        raw_from = query.time_from
        if plan is not None:
            resolution, split = plan
            statements.append(_rollup_statement(query, resolution, query.time_from, split))
            raw_from = split
        if raw_from < query.time_to:
            statements.append(_raw_statement(query, raw_from, query.time_to))
        groups: dict[str, dict[str, Any]] = {}
        for statement, params in statements:
            # One row per group with its buckets and values as arrays, in
            # binary: psycopg decodes arrays in C, rows one by one in Python.
            per_group = sql.SQL(
                "select grp, array_agg(bucket order by bucket), array_agg(value order by bucket) "
                "from ({}) points (grp, bucket, value) group by grp"
            ).format(statement)
            try:
                with connection.cursor(binary=True) as cursor:
                    rows = cursor.execute(per_group, params).fetchall()
            except psycopg.errors.NumericValueOutOfRange as failure:
                raise QueryRefused(
                    "the aggregation overflows or underflows a double for these samples"
                ) from failure
            for key_text, buckets, values in rows:
                group = groups.get(key_text)
                if group is None:
                    group = {"labels": msgspec.json.decode(key_text), "points": {}}
                    groups[key_text] = group
                group["points"].update(zip(buckets, map(float, values), strict=True))
        return [
            GroupPoints(group["labels"], sorted(group["points"].items()))
            for _, group in sorted(groups.items())
        ]

    return await gateway.run(work)


@dataclass(frozen=True)
class MetricSelector:
    """The series of one metric: by name, label matchers and, when given, source."""

    name: str
    matchers: tuple[LabelMatcher, ...]
    source: str | None = None


@dataclass(frozen=True)
class ValueDistribution:
    """How a metric's samples spread over value buckets, per time bucket.

    `edges` (see domain/value_buckets.py) span the values bucketed in the
    whole range; [] when there were none. `counts` maps a time bucket's start
    (Unix seconds, epoch-aligned) to its samples per value bucket;
    `excluded` to its samples a logarithmic scale has no place for (zero or
    negative). Time buckets without samples are absent from both.
    """

    edges: list[float]
    counts: dict[int, list[int]]
    excluded: dict[int, int]

    @property
    def samples(self) -> int:
        return sum(map(sum, self.counts.values())) + sum(self.excluded.values())


def _series_ids(series: sql.Composable) -> sql.Composed:
    """The ids of the series `series` (a condition on `s`) selects, as one array.

    Samples read by `series_id = any(<this>)` come from one bitmap scan per
    partition, each heap page once; joined to `series`, PostgreSQL looks
    each series' samples up apart, a page per sample (a metric's 120 series
    over a day: 75 ms instead of 190 on bench/dashboard.py's data).
    """
    return sql.SQL("array(select s.id from series s where {})").format(series)


def _bound_rows(
    rolled: list[tuple[int, datetime, datetime]],
    raw: list[tuple[datetime, datetime]],
    series: sql.Composable,
    scale: Scale,
    params: dict[str, Any],
) -> sql.Composed:
    """The bounds statement; adds the parts' own parameters to `params` (rolled part n's
    as r<n>, r<n>_from, r<n>_to, which the counting pass uses too).

    Per rolled part (its number) and for the raw parts together (-1): samples, lowest and
    highest value with a place on `scale`, and whether a rollup bucket mixes values with
    and without one (on a log scale, its min does not tell the lowest positive value)."""
    log = scale == "log"
    rows: list[sql.Composable] = []
    for number, (resolution, start, end) in enumerate(rolled):
        params |= {f"r{number}": resolution, f"r{number}_from": start, f"r{number}_to": end}
        rows.append(
            sql.SQL(
                "select {number} as part, r.count as n, {low} as low, {high} as high, "
                "{mixed} as mixed from rollups r where r.series_id = any({ids}) "
                "and r.resolution_s = {resolution} and r.bucket >= {start} and r.bucket < {end}"
            ).format(
                number=sql.Literal(number),
                low=sql.SQL("case when r.min > 0 then r.min end" if log else "r.min"),
                high=sql.SQL("case when r.max > 0 then r.max end" if log else "r.max"),
                mixed=sql.SQL("r.min <= 0 and r.max > 0" if log else "false"),
                ids=_series_ids(series),
                resolution=sql.Placeholder(f"r{number}"),
                start=sql.Placeholder(f"r{number}_from"),
                end=sql.Placeholder(f"r{number}_to"),
            )
        )
    placed = sql.SQL("case when p.value > 0 then p.value end" if log else "p.value")
    for number, (start, end) in enumerate(raw):
        params |= {f"p{number}_from": start, f"p{number}_to": end}
        rows.append(
            sql.SQL(
                "select -1, 1, {placed}, {placed}, false from samples p "
                "where p.series_id = any({ids}) and p.time >= {start} and p.time < {end}"
            ).format(
                placed=placed,
                ids=_series_ids(series),
                start=sql.Placeholder(f"p{number}_from"),
                end=sql.Placeholder(f"p{number}_to"),
            )
        )
    return sql.SQL(
        "select part, sum(n)::int8, min(low), max(high), bool_or(mixed) "
        "from ({}) as bounds (part, n, low, high, mixed) group by part"
    ).format(sql.SQL(" union all ").join(rows))


async def value_distribution(
    gateway: Gateway,
    selector: MetricSelector,
    *,
    time_from: datetime,
    time_to: datetime,
    interval: timedelta,
    buckets: int,
    scale: Scale,
) -> ValueDistribution:
    """Samples of [time_from, time_to) counted per time bucket of `interval` and value bucket.

    The value buckets span the lowest and highest value (positive values
    only, on a log scale) of the range's samples; each sample is placed by
    `width_bucket` over the interior edges. Rollups cannot count this (a
    bucket's min, max and sum do not tell how its values spread), but their
    min and max give the bounds of the part they cover (`plan_counts`),
    so the raw samples are read once for the counts and only the newest
    ones, past the rollup watermark, for the bounds too.

    A rollup bucket equals its raw samples (late samples refresh it in
    their own transaction), but rollups outlive dropped raw partitions and
    may expire before them. So the counting pass also counts each rolled
    part's raw samples; a part whose count differs from its rollups', or a
    log scale meeting a rollup bucket of both signs, is answered by a
    second reading of the raw samples for the bounds, as if there were no
    rollups. Everything is read in one snapshot.
    """
    params: dict[str, Any] = {
        "name": selector.name,
        "time_from": time_from,
        "time_to": time_to,
        "interval": interval,
        "epoch": EPOCH,
        "source": selector.source,
    }
    source = sql.SQL(" and s.source = %(source)s" if selector.source is not None else "")
    series = sql.SQL("s.name = %(name)s and s.deleted_at is null{matchers}{source}").format(
        matchers=_matchers(selector, params), source=source
    )
    samples = sql.SQL(
        """samples p
        where p.series_id = any({ids}) and p.time >= %(time_from)s and p.time < %(time_to)s"""
    ).format(ids=_series_ids(series))
    placed = sql.SQL("p.value > 0" if scale == "log" else "true")

    def counts(checked: list[tuple[int, datetime, datetime]]) -> sql.Composed:
        """The counting pass; with the raw samples of each `checked` part counted too."""
        in_part = [
            sql.SQL("count(*) filter (where p.time >= {} and p.time < {}) as {}").format(
                sql.Placeholder(f"r{number}_from"),
                sql.Placeholder(f"r{number}_to"),
                sql.Identifier(f"in_part_{number}"),
            )
            for number in range(len(checked))
        ]
        in_part_names = [sql.Identifier(f"in_part_{number}") for number in range(len(checked))]
        # Seconds from the bucket's start once per group, not per sample: extract()
        # makes a numeric, and per sample that cost a third of the pass.
        return sql.SQL(
            """
            select extract(epoch from bucket)::int8, value_bucket, n{in_part_names} from (
                select date_bin(%(interval)s, p.time, %(epoch)s::timestamptz) as bucket,
                       case when {placed} then width_bucket(p.value, %(interior)s::float8[])
                            else -1 end as value_bucket,
                       count(*) as n{in_part}
                from {samples}
                group by 1, 2
            ) counted
            """
        ).format(
            placed=placed,
            in_part=sql.SQL("").join(sql.SQL(", ") + part for part in in_part),
            in_part_names=sql.SQL("").join(sql.SQL(", ") + name for name in in_part_names),
            samples=samples,
        )

    def count_with(
        connection: Connection, edges: list[float], checked: list[tuple[int, datetime, datetime]]
    ) -> tuple[ValueDistribution, list[int]]:
        width = max(1, len(edges) - 1)
        found: dict[int, list[int]] = {}
        excluded: dict[int, int] = {}
        per_part = [0] * len(checked)
        for bucket, value_bucket, count, *in_parts in connection.execute(
            counts(checked), {**params, "interior": edges[1:-1]}
        ):
            if value_bucket < 0:
                excluded[int(bucket)] = int(count)
            else:
                found.setdefault(int(bucket), [0] * width)[value_bucket] = int(count)
            per_part = [total + int(n) for total, n in zip(per_part, in_parts, strict=True)]
        return ValueDistribution(edges, found, excluded), per_part

    def edges_of(rows: list[tuple[Any, ...]]) -> list[float]:
        lows = [row[2] for row in rows if row[2] is not None]
        highs = [row[3] for row in rows if row[3] is not None]
        return [] if not lows else value_edges(min(lows), max(highs), buckets, scale)

    def work(connection: Connection) -> ValueDistribution:
        # The bounds and the counts must see the same samples and rollups.
        connection.execute("set transaction isolation level repeatable read, read only")
        rolled, raw = plan_counts(time_from, time_to, rollups.watermarks(connection))
        rows = connection.execute(_bound_rows(rolled, raw, series, scale, params), params)
        bounds = rows.fetchall()
        rollup_counts = [0] * len(rolled)
        for part, count, *_ in bounds:
            if part >= 0:
                rollup_counts[part] = int(count)
        if not any(row[4] for row in bounds):
            found, raw_counts = count_with(connection, edges_of(bounds), rolled)
            if raw_counts == rollup_counts:
                return found
        whole = [(time_from, time_to)]
        raw_bounds = connection.execute(_bound_rows([], whole, series, scale, params), params)
        return count_with(connection, edges_of(raw_bounds.fetchall()), [])[0]

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


async def delete_series(gateway: Gateway, series_id: int, *, by: Attribution) -> bool:
    """Tombstone a series and delete its samples; caches elsewhere notice the tombstone.

    The audit row keeps what the series was and how many samples went with it.
    """

    def work(connection: Connection) -> bool:
        # Exclusive: waits for sample commits in flight, and every later one
        # sees the new generation and drops its cached series ids.
        rollups.lock_exclusive(connection)
        row = connection.execute(
            "update series s set deleted_at = now() where id = %s and deleted_at is null "
            "returning name, source, labels, (select type from metrics m where m.name = s.name)",
            (series_id,),
        ).fetchone()
        if row is None:
            return False
        name, source, labels, kind = row
        connection.execute("update series_generation set generation = generation + 1")
        samples = connection.execute(
            "delete from samples where series_id = %s", (series_id,)
        ).rowcount
        rollups.forget_series(connection, series_id, str(name))
        summary = {
            "id": series_id,
            "name": name,
            "type": kind,
            "source": source,
            "labels": labels,
            "samples": samples,
        }
        record_change(
            connection, AuditEntry(by, "series", str(series_id), "delete", before=summary)
        )
        return True

    return await gateway.run(work)


@dataclass(frozen=True)
class Bounded:
    """At most `limit` distinct texts in code point order, and whether more exist."""

    items: list[str]
    truncated: bool


def _series_filter(name: str | None, source: str | None, params: dict[str, Any]) -> sql.Composable:
    clauses = [sql.SQL("s.deleted_at is null")]
    if name is not None:
        clauses.append(sql.SQL("s.name = %(name)s"))
        params["name"] = name
    if source is not None:
        clauses.append(sql.SQL("s.source = %(source)s"))
        params["source"] = source
    return sql.SQL(" and ").join(clauses)


async def _bounded(gateway: Gateway, statement: sql.Composed, params: dict[str, Any]) -> Bounded:
    """Run `statement` (one text column, ordered, `limit %(limit)s`) for one row more than
    `params["limit"]`, to tell whether the list was cut."""
    wanted = int(params["limit"])
    params = {**params, "limit": wanted + 1}

    def work(connection: Connection) -> Bounded:
        found = [str(row[0]) for row in connection.execute(statement, params)]
        return Bounded(found[:wanted], len(found) > wanted)

    return await gateway.run(work)


async def label_names(
    gateway: Gateway, *, name: str | None, source: str | None, limit: int
) -> Bounded:
    """The label names used by live series (of metric `name`, from `source`, if given)."""
    params: dict[str, Any] = {"limit": limit}
    # The set-returning function in the select list, not a lateral join: the
    # planner then expects a few keys per series rather than 100, and picks a
    # plain plan (12 ms instead of 70 for a metric's 2,000 series).
    statement = sql.SQL(
        """
        select label collate "C" from (
            select distinct jsonb_object_keys(s.labels) as label from series s where {where}
        ) labels
        order by 1
        limit %(limit)s
        """
    ).format(where=_series_filter(name, source, params))
    return await _bounded(gateway, statement, params)


async def label_values(
    gateway: Gateway,
    *,
    label: str,
    name: str | None,
    source: str | None,
    prefix: str,
    limit: int,
) -> Bounded:
    """The distinct values of `label` among live series, those starting with `prefix`."""
    params: dict[str, Any] = {"limit": limit, "label": label}
    where = _series_filter(name, source, params)
    if prefix:
        params["prefix"] = prefix
        where = sql.SQL("{} and starts_with(s.labels ->> %(label)s, %(prefix)s)").format(where)
    statement = sql.SQL(
        """
        select distinct (s.labels ->> %(label)s) collate "C" as value
        from series s
        where s.labels ? %(label)s and {where}
        order by value
        limit %(limit)s
        """
    ).format(where=where)
    return await _bounded(gateway, statement, params)


# --- dashboard reads ----------------------------------------------------------------------


async def samples_in(gateway: Gateway, periods: list[tuple[datetime, datetime]]) -> list[int]:
    """For each [start, end), how many samples are timestamped in it (BRIN on time)."""
    if not periods:
        return []
    counts = sql.SQL(", ").join(
        sql.SQL("count(*) filter (where time >= %s and time < %s)") for _ in periods
    )
    params: list[Any] = [moment for period in periods for moment in period]
    params += [min(start for start, _ in periods), max(end for _, end in periods)]
    statement = sql.SQL("select {} from samples where time >= %s and time < %s").format(counts)

    def work(connection: Connection) -> list[int]:
        row = connection.execute(statement, params).fetchone()
        assert row is not None
        return [int(count) for count in row]

    return await gateway.run(work)


async def live_series_at(gateway: Gateway, moments: list[datetime]) -> list[int]:
    """For each moment, how many series existed then: created before it, not yet deleted."""
    if not moments:
        return []
    counts = sql.SQL(", ").join(
        sql.SQL(
            "count(*) filter (where created_at < %s and (deleted_at is null or deleted_at >= %s))"
        )
        for _ in moments
    )
    params = [moment for moment in moments for _ in range(2)]

    def work(connection: Connection) -> list[int]:
        row = connection.execute(sql.SQL("select {} from series").format(counts), params).fetchone()
        assert row is not None
        return [int(count) for count in row]

    return await gateway.run(work)


def plan_counts(
    start: datetime, end: datetime, marks: dict[int, datetime]
) -> tuple[list[tuple[int, datetime, datetime]], list[tuple[datetime, datetime]]]:
    """How to count the samples of [start, end): (rollup parts as (resolution, start, end),
    raw parts as (start, end)), disjoint and covering the range.

    Rollups answer the whole minutes (hours where they fit) before their
    watermark; raw samples the partial minutes at the edges and what the
    rollup job has not reached.
    """
    minute_mark = marks.get(rollups.MINUTE)
    if minute_mark is None:
        return [], [(start, end)]
    minutes = (
        rollups.ceil_to(start, rollups.MINUTE),
        min(rollups.floor_to(end, rollups.MINUTE), rollups.floor_to(minute_mark, rollups.MINUTE)),
    )
    if minutes[0] >= minutes[1]:
        return [], [(start, end)]
    raw = [part for part in ((start, minutes[0]), (minutes[1], end)) if part[0] < part[1]]
    hour_mark = marks.get(rollups.HOUR)
    hours = (rollups.ceil_to(minutes[0], rollups.HOUR), rollups.floor_to(minutes[1], rollups.HOUR))
    if hour_mark is not None:
        hours = (hours[0], min(hours[1], rollups.floor_to(hour_mark, rollups.HOUR)))
    if hour_mark is None or hours[0] >= hours[1]:
        return [(rollups.MINUTE, *minutes)], raw
    rolled = [(rollups.HOUR, *hours)]
    rolled += [
        (rollups.MINUTE, a, b) for a, b in ((minutes[0], hours[0]), (hours[1], minutes[1])) if a < b
    ]
    return rolled, raw


@dataclass(frozen=True)
class SampleCount:
    name: str
    type: str
    unit: str | None
    samples: int


async def sample_counts(
    gateway: Gateway, *, start: datetime, end: datetime, name: str | None, limit: int
) -> list[SampleCount]:
    """The `limit` metrics with the most samples in [start, end) (ties by name), from
    name rollups where they are complete and raw samples elsewhere."""

    def work(connection: Connection) -> list[SampleCount]:
        rolled, raw = plan_counts(start, end, rollups.watermarks(connection))
        params: list[Any] = []
        parts: list[sql.Composable] = []
        if rolled:
            # Per metric and part, a range of the primary key (resolution, name, bucket):
            # name rollups have no index by bucket alone.
            each_part = sql.SQL(" union all ").join(
                sql.SQL(
                    "select count from name_rollups r where r.resolution_s = %s "
                    "and r.name = m.name and r.bucket >= %s and r.bucket < %s"
                )
                for _ in rolled
            )
            params += [value for part in rolled for value in part]
            name_clause = sql.SQL("")
            if name is not None:
                name_clause = sql.SQL(" where m.name = %s")
                params.append(name)
            parts.append(
                sql.SQL(
                    "select m.name, c.n from metrics m "
                    "cross join lateral (select sum(count)::int8 as n from ({}) r) c{}"
                ).format(each_part, name_clause)
            )
        if raw:
            ranges = sql.SQL(" or ").join(sql.SQL("(p.time >= %s and p.time < %s)") for _ in raw)
            params += [value for part in raw for value in part]
            name_clause = sql.SQL("")
            if name is not None:
                name_clause = sql.SQL(" and s.name = %s")
                params.append(name)
            parts.append(
                sql.SQL(
                    "select s.name, count(*) as n "
                    "from samples p join series s on s.id = p.series_id "
                    "where s.deleted_at is null and ({}){} group by s.name"
                ).format(ranges, name_clause)
            )
        statement = sql.SQL(
            """
            select m.name, m.type, m.unit, sum(c.n)::int8 as samples
            from ({}) c join metrics m on m.name = c.name
            group by m.name
            having sum(c.n) > 0
            order by samples desc, m.name collate "C"
            limit %s
            """
        ).format(sql.SQL(" union all ").join(parts))
        params.append(limit)
        return [
            SampleCount(str(n), str(kind), unit, int(samples))
            for n, kind, unit, samples in connection.execute(statement, params)
        ]

    return await gateway.run(work)


async def highest_latest_values(
    gateway: Gateway, *, start: datetime, end: datetime, name: str | None, limit: int
) -> list[LatestValue]:
    """The `limit` series whose latest sample in [start, end) is highest (ties by id)."""
    params: list[Any] = [start, end]
    name_clause = sql.SQL("")
    if name is not None:
        name_clause = sql.SQL(" and s.name = %s")
        params.append(name)
    params.append(limit)
    statement = sql.SQL(
        """
        select s.id, s.name, s.source, s.labels, l.time, l.value
        from series s
        cross join lateral (
            select time, value from samples
            where series_id = s.id and time >= %s and time < %s
            order by time desc, value desc limit 1
        ) l
        where s.deleted_at is null{}
        order by l.value desc, s.id
        limit %s
        """
    ).format(name_clause)

    def work(connection: Connection) -> list[LatestValue]:
        return [
            LatestValue(int(i), str(n), str(src), dict(labels), time, float(value))
            for i, n, src, labels, time, value in connection.execute(statement, params)
        ]

    return await gateway.run(work)
