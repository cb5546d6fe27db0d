"""Event counts over a range: a series, totals, a weekday-by-hour heatmap.

Each answer equals counting the raw events, and reads as few of them as it
can: from the smallest count table that keeps what the question filters or
groups by (`storage/event_counts.py`), hour buckets for the whole hours the
question allows, minute buckets for the other whole minutes; raw events for
the rest,
that is the partial minutes at the range's edges and, across the range, the
events the counting actor has not reached yet (`ingest_xid` at or above its
mark). The mark and all parts are read in one snapshot, so an event is
never counted twice or missed. A filter the counts do not keep (`q`,
`attr.*`) is answered from raw events alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from psycopg import sql

from monitor.domain.events import EventFilter
from monitor.storage.event_counts import (
    COUNT_TABLES,
    HOUR,
    MINUTE,
    CountTable,
    counted_below,
)
from monitor.storage.events import filter_clauses
from monitor.storage.gateway import Connection, Gateway
from monitor.storage.rollups import floor_to as _floor

GroupBy = Literal["level", "type", "source"]
GroupKey = int | str | None
MAX_SERIES_BUCKETS = 100_000
_EPOCH_SQL = sql.SQL("timestamptz '1970-01-01T00:00:00Z'")


@dataclass(frozen=True)
class CountSeries:
    """Event counts per bucket.

    `buckets` are the buckets' starts, aligned to the Unix epoch (as
    `date_bin` with the epoch as origin, which `/events/stats` uses); the
    first holds `start`, the last ends at or after `end`. `counts` maps each
    group (a level number, a type or a source; None when not grouped) to its
    count per bucket, 0 where it had none. Grouped, a group with no event in
    the range is absent; ungrouped, None is always there.
    """

    buckets: list[datetime]
    counts: dict[GroupKey, list[int]]


@dataclass(frozen=True)
class CountTotals:
    total: int
    by_level: dict[int, int]  # level number → count, levels without events absent
    by_type: list[tuple[str, int]]  # the `top` busiest, most first, ties by name
    by_source: list[tuple[str, int]]


@dataclass(frozen=True)
class Heatmap:
    """Events per local weekday and hour: counts[weekday][hour], Monday = 0."""

    time_zone: str
    counts: list[list[int]]


# --- what each part of a range is answered from -------------------------------------------


@dataclass(frozen=True)
class _Counted:
    resolution: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class _Raw:
    start: datetime
    end: datetime
    uncounted_only: bool  # only the events the counting actor has not reached


_Part = _Counted | _Raw


def _ceil(moment: datetime, seconds: int) -> datetime:
    floor = _floor(moment, seconds)
    return floor if floor == moment else floor + timedelta(seconds=seconds)


def countable(event_filter: EventFilter) -> bool:
    """True when the counts keep every field the filter uses (type, level, source)."""
    kept = EventFilter(
        types=event_filter.types,
        levels=event_filter.levels,
        min_level=event_filter.min_level,
        sources=event_filter.sources,
        time_from=event_filter.time_from,
        time_to=event_filter.time_to,
    )
    return kept == event_filter


def _count_table(event_filter: EventFilter, *grouped_by: str) -> CountTable:
    """The smallest count table that keeps what the filter and the grouping use."""
    used = {"level", *grouped_by}
    if event_filter.types:
        used.add("type")
    if event_filter.sources:
        used.add("source")
    return next(table for table in COUNT_TABLES if used <= set(table.columns))


def _parts(start: datetime, end: datetime, granularity: int | None) -> list[_Part]:
    """How [start, end) splits. `granularity`: the coarsest buckets the question
    allows (HOUR, MINUTE), or None when only raw events can answer it."""
    if granularity is None:
        return [_Raw(start, end, uncounted_only=False)]
    minutes = (_ceil(start, MINUTE), _floor(end, MINUTE))
    if minutes[0] >= minutes[1]:
        return [_Raw(start, end, uncounted_only=False)]
    parts: list[_Part] = []
    if start < minutes[0]:
        parts.append(_Raw(start, minutes[0], uncounted_only=False))
    if minutes[1] < end:
        parts.append(_Raw(minutes[1], end, uncounted_only=False))
    parts.append(_Raw(*minutes, uncounted_only=True))
    hours = (_ceil(minutes[0], HOUR), _floor(minutes[1], HOUR))
    if granularity == HOUR and hours[0] < hours[1]:
        parts.append(_Counted(HOUR, *hours))
        for edge in ((minutes[0], hours[0]), (hours[1], minutes[1])):
            if edge[0] < edge[1]:
                parts.append(_Counted(MINUTE, *edge))
    else:
        parts.append(_Counted(MINUTE, *minutes))
    return parts


# --- one statement over all parts ---------------------------------------------------------

# The grouping columns of an answer, given the time column of a part (`bucket`
# of event_counts or `time` of events): each an expression and its parameters.
Dimensions = Callable[[sql.Composable], list[tuple[sql.Composable, list[Any]]]]


def _part_query(
    part: _Part, dimensions: Dimensions, event_filter: EventFilter, table: CountTable, mark: int
) -> tuple[sql.Composable, list[Any]]:
    time_column = sql.Identifier("bucket" if isinstance(part, _Counted) else "time")
    selected = dimensions(time_column)
    columns = sql.SQL(", ").join(
        sql.SQL("{} as {}").format(expression, sql.Identifier(f"d{number}"))
        for number, (expression, _) in enumerate(selected, 1)
    )
    params = [param for _, expression_params in selected for param in expression_params]
    group_by = sql.SQL(", ").join(sql.Literal(n) for n in range(1, len(selected) + 1))
    if isinstance(part, _Counted):
        kept = dataclasses.replace(event_filter, time_from=None, time_to=None)
        clauses, filter_params = filter_clauses(kept)
        clauses[:0] = [sql.SQL("resolution_s = %s and bucket >= %s and bucket < %s")]
        filter_params[:0] = [part.resolution, part.start, part.end]
        origin, count = sql.Identifier(table.name), sql.SQL("sum(count)")
    else:
        bounded = dataclasses.replace(event_filter, time_from=part.start, time_to=part.end)
        clauses, filter_params = filter_clauses(bounded)
        if part.uncounted_only:
            clauses.append(sql.SQL("ingest_xid >= %s"))
            filter_params.append(mark)
        origin, count = sql.Identifier("events"), sql.SQL("count(*)")
    query = sql.SQL("select {}, {} as n from {} where {} group by {}").format(
        columns, count, origin, sql.SQL(" and ").join(clauses), group_by
    )
    return query, [*params, *filter_params]


def _count(
    connection: Connection,
    parts: Sequence[_Part],
    dimensions: Dimensions,
    event_filter: EventFilter,
    table: CountTable,
) -> list[tuple[Any, ...]]:
    """(dimension values..., count) over all parts, in the transaction's one snapshot."""
    return _count_each(connection, [(part, dimensions) for part in parts], event_filter, table)


def _count_each(
    connection: Connection,
    parts: Sequence[tuple[_Part, Dimensions]],
    event_filter: EventFilter,
    table: CountTable,
) -> list[tuple[Any, ...]]:
    """As `_count`, each part grouped by its own dimensions (as many of them for every
    part), so that one statement can answer several questions told apart by a dimension."""
    mark = counted_below(connection)
    queries = [
        _part_query(part, dimensions, event_filter, table, mark) for part, dimensions in parts
    ]
    width = len(parts[0][1](sql.Identifier("time")))
    names = sql.SQL(", ").join(sql.Identifier(f"d{n}") for n in range(1, width + 1))
    query = sql.SQL("select {}, sum(n)::bigint from ({}) as parts group by {}").format(
        names,
        sql.SQL(" union all ").join(query for query, _ in queries),
        sql.SQL(", ").join(sql.Literal(n) for n in range(1, width + 1)),
    )
    params = [param for _, part_params in queries for param in part_params]
    # Never a prepared statement: PostgreSQL would switch to a generic plan
    # after five runs, and one blind to the mark's value scans whole partitions
    # for the uncounted events (measured: 30 ms became 250 ms).
    return connection.execute(query, params, prepare=False).fetchall()


def _one_snapshot(connection: Connection) -> None:
    # The mark, the counts and the raw events must agree: one snapshot for all.
    connection.execute("set transaction isolation level repeatable read, read only")


def _check_range(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    if start >= end:
        raise ValueError("start must be before end")


def _group_column(group_by: GroupBy | None) -> list[tuple[sql.Composable, list[Any]]]:
    return [] if group_by is None else [(sql.Identifier(group_by), [])]


def _plain(columns: tuple[str, ...]) -> Dimensions:
    """Group by event columns only (not by time)."""

    def dimensions(_: sql.Composable) -> list[tuple[sql.Composable, list[Any]]]:
        return [(sql.Identifier(column), []) for column in columns]

    return dimensions


# --- the questions ------------------------------------------------------------------------


async def event_count_series(
    gateway: Gateway,
    event_filter: EventFilter,
    *,
    start: datetime,
    end: datetime,
    interval: timedelta,
    group_by: GroupBy | None = None,
) -> CountSeries:
    """Events per `interval` over [start, end), as `/events/stats` buckets them.

    The range is [start, end); the filter's own time_from/time_to are ignored.
    ValueError for an empty range, an interval that is not whole seconds or
    more than MAX_SERIES_BUCKETS buckets.
    """
    _check_range(start, end)
    seconds = interval.total_seconds()
    if seconds <= 0 or seconds != int(seconds):
        raise ValueError("interval must be a positive whole number of seconds")
    width = int(seconds)
    first = _floor(start, width)
    count = -(-(end - first) // interval)
    if count > MAX_SERIES_BUCKETS:
        raise ValueError(f"more than {MAX_SERIES_BUCKETS} buckets")
    buckets = [first + interval * n for n in range(count)]
    # Minute (hour) buckets fit whole into series buckets that are whole minutes (hours).
    granularity = HOUR if width % HOUR == 0 else MINUTE if width % MINUTE == 0 else None
    if not countable(event_filter):
        granularity = None
    parts = _parts(start, end, granularity)

    def dimensions(time_column: sql.Composable) -> list[tuple[sql.Composable, list[Any]]]:
        binned = sql.SQL("date_bin(%s, {}, {})").format(time_column, _EPOCH_SQL)
        return [(binned, [interval]), *_group_column(group_by)]

    table = _count_table(event_filter, *([group_by] if group_by else []))

    def work(connection: Connection) -> list[tuple[Any, ...]]:
        _one_snapshot(connection)
        return _count(connection, parts, dimensions, event_filter, table)

    counts: dict[GroupKey, list[int]] = {} if group_by else {None: [0] * count}
    for row in await gateway.run(work):
        bucket, group, total = (row[0], row[1], row[2]) if group_by else (row[0], None, row[1])
        counts.setdefault(group, [0] * count)[(bucket - first) // interval] = int(total)
    return CountSeries(buckets, counts)


async def event_count_totals(
    gateway: Gateway, event_filter: EventFilter, *, start: datetime, end: datetime, top: int
) -> CountTotals:
    """How many events [start, end) holds: in all, per level, and the `top` types and sources.

    The filter's own time_from/time_to are ignored.
    """
    _check_range(start, end)
    served = countable(event_filter)
    parts = _parts(start, end, HOUR if served else None)
    every: tuple[str, ...] = ("level", "type", "source")
    # Raw events once, by all three; the counts by each list from the smallest
    # table that has it, unless the filter needs the full table anyway.
    questions: list[tuple[tuple[str, ...], list[_Part]]] = [(every, parts)]
    if served and not (event_filter.types and event_filter.sources):
        raw: list[_Part] = [part for part in parts if isinstance(part, _Raw)]
        counted: list[_Part] = [part for part in parts if isinstance(part, _Counted)]
        questions = [(every, raw), *(((column,), counted) for column in every)]

    def work(connection: Connection) -> list[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
        _one_snapshot(connection)
        return [
            (
                columns,
                _count(
                    connection,
                    some,
                    _plain(columns),
                    event_filter,
                    _count_table(event_filter, *columns),
                ),
            )
            for columns, some in questions
            if some
        ]

    found: dict[str, dict[Any, int]] = {"level": {}, "type": {}, "source": {}}
    for columns, rows in await gateway.run(work):
        for row in rows:
            for column, value in zip(columns, row[:-1], strict=True):
                found[column][value] = found[column].get(value, 0) + int(row[-1])

    def named(counts: dict[Any, int]) -> dict[str, int]:
        return {str(key): count for key, count in counts.items()}

    by_level = {int(level): count for level, count in found["level"].items()}
    return CountTotals(
        sum(by_level.values()),
        by_level,
        busiest(named(found["type"]), top),
        busiest(named(found["source"]), top),
    )


@dataclass(frozen=True)
class PeriodTotals:
    """The events of one period: in all, per level and per source (every source)."""

    total: int
    by_level: dict[int, int]  # level number → count, levels without events absent
    by_source: dict[str, int]  # sources without events absent


def _tagged(period: int) -> Dimensions:
    """Group by the period's number, level and source."""

    def dimensions(_: sql.Composable) -> list[tuple[sql.Composable, list[Any]]]:
        return [
            (sql.SQL("%s::int"), [period]),
            (sql.Identifier("level"), []),
            (sql.Identifier("source"), []),
        ]

    return dimensions


async def event_count_periods(
    gateway: Gateway, event_filter: EventFilter, periods: Sequence[tuple[datetime, datetime]]
) -> list[PeriodTotals]:
    """For each [start, end) of `periods`, how many events it holds: in all, per level and
    per source; equal to `event_count_totals` of each period.

    One statement over the counts by source for all periods (the overview
    compares a range with the one before it), where `event_count_totals`
    would read three count tables per period. The filter's own
    time_from/time_to are ignored.
    """
    for start, end in periods:
        _check_range(start, end)
    if not periods:
        return []
    granularity = HOUR if countable(event_filter) else None
    parts = [
        (part, _tagged(number))
        for number, (start, end) in enumerate(periods)
        for part in _parts(start, end, granularity)
    ]
    table = _count_table(event_filter, "source")

    def work(connection: Connection) -> list[tuple[Any, ...]]:
        _one_snapshot(connection)
        # A few thousand count rows per period: parallel workers made it no
        # faster on bench/dashboard.py's data (12 ms median either way), and
        # they would take cores from the overview's other reads running beside.
        connection.execute("set local max_parallel_workers_per_gather = 0")
        return _count_each(connection, parts, event_filter, table)

    levels: list[dict[int, int]] = [{} for _ in periods]
    sources: list[dict[str, int]] = [{} for _ in periods]
    for period, level, source, count in await gateway.run(work):
        number = int(period)
        levels[number][int(level)] = levels[number].get(int(level), 0) + int(count)
        sources[number][str(source)] = sources[number].get(str(source), 0) + int(count)
    return [
        PeriodTotals(sum(by_level.values()), by_level, by_source)
        for by_level, by_source in zip(levels, sources, strict=True)
    ]


def busiest(counts: dict[str, int], top: int) -> list[tuple[str, int]]:
    """The `top` keys with the highest counts, most first, ties by name."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]


def _zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{time_zone!r} is not a known IANA time zone") from None


def _heatmap_granularity(zone: ZoneInfo, start: datetime, end: datetime) -> int | None:
    """The coarsest buckets whose every instant has the same local weekday and hour.

    A bucket lies within one local hour when the zone's offset is a whole
    number of its widths (whole hours, or whole minutes as in India's +05:30)
    all through the range. Checked hour by hour: offsets change on the hour.
    """
    offsets: set[int] = set()
    moment = _floor(start, HOUR)
    while moment < end:
        offset = zone.utcoffset(moment)
        assert offset is not None
        offsets.add(int(offset.total_seconds()))
        moment += timedelta(hours=1)
    for granularity in (HOUR, MINUTE):
        if all(offset % granularity == 0 for offset in offsets):
            return granularity
    return None


async def event_count_heatmap(
    gateway: Gateway, event_filter: EventFilter, *, start: datetime, end: datetime, time_zone: str
) -> Heatmap:
    """Events of [start, end) per weekday and hour of day in the IANA `time_zone`.

    The filter's own time_from/time_to are ignored. ValueError for a zone
    that is not an IANA name PostgreSQL and Python both know.
    """
    _check_range(start, end)
    zone = _zone(time_zone)
    granularity = _heatmap_granularity(zone, start, end)
    parts = _parts(start, end, granularity if countable(event_filter) else None)
    table = _count_table(event_filter)

    def dimensions(time_column: sql.Composable) -> list[tuple[sql.Composable, list[Any]]]:
        local = sql.SQL("({} at time zone %s)").format(time_column)
        return [
            (sql.SQL("extract(isodow from {})::int").format(local), [time_zone]),
            (sql.SQL("extract(hour from {})::int").format(local), [time_zone]),
        ]

    def work(connection: Connection) -> list[tuple[Any, ...]]:
        _one_snapshot(connection)
        try:
            return _count(connection, parts, dimensions, event_filter, table)
        except psycopg.errors.InvalidParameterValue:
            raise ValueError(f"{time_zone!r} is not a time zone PostgreSQL knows") from None

    counts = [[0] * 24 for _ in range(7)]
    for weekday, hour, count in await gateway.run(work):
        counts[int(weekday) - 1][int(hour)] = int(count)
    return Heatmap(time_zone, counts)
