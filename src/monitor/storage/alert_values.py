"""The values alert rules compare: metric aggregations and event counts, per window and group.

Rules that watch the same series (metric name and label matchers) and group
them alike are read together: `selector_values` answers every (aggregation,
window) they ask for in ONE statement over the longest window's samples,
each aggregate restricted to its own window with FILTER. A rule's window
ends at `end` (the evaluation time minus the rule's offset, so late samples
are not read as missing) and is half-open: `[end - window, end)`.

avg, sum, min, max, count and last take a window's whole minutes before the
rollup watermark from the 1-minute rollups, when there are at least
ROLLUP_MIN_SPAN of them, and the rest from raw samples (`_layout`); the
answer is the raw samples' (sums up to the order of addition). Samples and
minutes between the same two window edges are folded into one part before
the asks aggregate (`_FOLD`), unless a percentile needs every value; a
selector asking only `last` reads each series' latest sample (one index
probe; decision 0072).

The aggregations mean what the metrics query API means (domain/metrics.py):
`rate` is each series' increase over the pairs of consecutive samples
inside the window, counter resets read as a restart from 0, divided by the
window, summed over the group's series. A group with no sample in a window
has no value for it (None): the rule's `no_data` policy decides.

Event rules count the events matching the events list's filters
(`EventFilter`, its time range replaced by each window), per source or type
when grouped, every window in one statement (`event_counts`). A group with
no event in any window is absent from the answer: its count is 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from monitor.domain.events import EventFilter
from monitor.domain.metrics import PERCENTILES, LabelMatcher
from monitor.storage.errors import QueryRefused
from monitor.storage.events import filter_clauses
from monitor.storage.gateway import Connection, Gateway
from monitor.storage.metric_query import group_key_sql, matchers_sql
from monitor.storage.rollups import MINUTE, ceil_to, floor_to, watermarks


@dataclass(frozen=True)
class WindowAggregate:
    """One value a rule asks for: an aggregation over the window ending at `end`."""

    aggregation: str
    window: timedelta


@dataclass(frozen=True)
class SelectorQuery:
    """Every value asked of one selector and grouping, at one `end`."""

    name: str
    matchers: tuple[LabelMatcher, ...]
    group_by: tuple[str, ...]
    asks: tuple[WindowAggregate, ...]
    end: datetime


@dataclass(frozen=True)
class GroupValues:
    labels: dict[str, str]  # the group's values of `group_by` (labels a series lacks: absent)
    values: tuple[float | None, ...]  # one per ask, None: no sample in that window


# Aggregations a minute's rollup answers exactly when combined with its neighbours:
# counts, sums, extremes and the latest sample add up across disjoint pieces of a window.
ROLLED = frozenset({"avg", "sum", "min", "max", "count", "last"})
# Rollups older than this are not read: retention (at least a day, for samples and
# for rollups alike, trimmed at `now - retention`) may already have removed either,
# and a rule's end lies at most MAX_OFFSET (1 h) before now.
ROLLUP_HORIZON = timedelta(hours=22)
# A window takes rollups only for at least this many whole minutes: each rolled
# window adds an index range per series for its partial first minute, which costs
# more than short spans of rollups save (measured with a sample every 10 s: windows
# of 1-15 min read 10-20 % faster raw, 30-39 min 30 % faster rolled, 10-120 min 3x;
# decision 0063).
ROLLUP_MIN_SPAN = timedelta(minutes=20)


@dataclass(frozen=True)
class _Cut:
    """Where one ask's window [since, end) takes rollup minutes: [cut, rolled_to).

    cut == rolled_to: none, the window is read from raw samples only."""

    since: datetime
    cut: datetime


@dataclass(frozen=True)
class _Layout:
    cuts: tuple[_Cut, ...]  # one per ask
    rolled_to: datetime  # rollup minutes end here (every ask alike); raw samples after
    raw_ranges: tuple[tuple[datetime, datetime], ...]  # disjoint, ascending, within the windows

    @property
    def rolled_from(self) -> datetime:
        return min(cut.cut for cut in self.cuts)


def _layout(query: SelectorQuery, minute_mark: datetime | None) -> _Layout:
    """Which minutes of each window come from rollups and which samples are read raw.

    Rollups are complete before their watermark (`minute_mark`; storage/rollups.py:
    a late sample refreshes its minute's rollup in its own transaction), so a
    whole minute inside a window and before the watermark equals its samples. The
    partial minute at a window's start, and everything from the last whole minute
    before `end` or the watermark (whichever is earlier) on, are read raw."""
    end = query.end
    rolled_to = end
    if minute_mark is not None:
        rolled_to = min(floor_to(end, MINUTE), floor_to(minute_mark, MINUTE))
    horizon = ceil_to(end - ROLLUP_HORIZON, MINUTE)
    cuts = []
    ranges: list[tuple[datetime, datetime]] = []
    for ask in query.asks:
        since = end - ask.window
        cut = max(ceil_to(since, MINUTE), horizon)
        if (
            minute_mark is None
            or ask.aggregation not in ROLLED
            or rolled_to - cut < ROLLUP_MIN_SPAN
        ):
            cuts.append(_Cut(since, rolled_to))
            ranges.append((since, end))
        else:
            cuts.append(_Cut(since, cut))
            ranges.extend(((since, cut), (rolled_to, end)))
    merged: list[tuple[datetime, datetime]] = []
    for low, high in sorted(part for part in ranges if part[0] < part[1]):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return _Layout(tuple(cuts), rolled_to, tuple(merged))


def _aggregate(
    ask: WindowAggregate, number: int, params: dict[str, Any], rolled_part: bool, folded: bool
) -> tuple[sql.Composable, sql.Composable]:
    """The SQL of one ask over the pieces of its window only: (how many samples, value).

    A piece is a rollup minute or a raw sample (`rolled` says which), with the
    columns of a rollup: n, total, low, high, last, last_time. A rolled ask takes
    the rollup minutes in [cut, rolled_to) and the raw samples elsewhere in its
    window; any other ask takes raw samples only (its cut is rolled_to).
    `rolled_part`: whether the statement reads rollup minutes at all. `folded`:
    the pieces are parts of a window folded by `_FOLD` (`last_pair` instead of
    `last` and `last_time`)."""
    since, cut = sql.Placeholder(f"since_{number}"), sql.Placeholder(f"cut_{number}")
    if params[f"cut_{number}"] != params["rolled_to"]:
        within = sql.SQL("t0 >= {since} and rolled = (t0 >= {cut} and t0 < %(rolled_to)s)")
    elif rolled_part:
        within = sql.SQL("t0 >= {since} and not rolled")
    else:  # the simplest filter: it is evaluated for every sample and ask
        within = sql.SQL("t0 >= {since}")
    inside = within.format(since=since, cut=cut)
    count = sql.SQL("sum(n) filter (where {})").format(inside)
    if ask.aggregation == "rate":
        # A pair counts when both samples lie inside the window (rollup pieces
        # have no previous sample).
        params[f"width_{number}"] = ask.window.total_seconds()
        return count, sql.SQL(
            "coalesce(sum(step) filter (where previous_time >= {since}), 0) / {width}"
        ).format(since=since, width=sql.Placeholder(f"width_{number}"))
    if ask.aggregation in PERCENTILES:
        params[f"fraction_{number}"] = PERCENTILES[ask.aggregation]
        return count, sql.SQL(
            "percentile_cont({}) within group (order by value) filter (where {})"
        ).format(sql.Placeholder(f"fraction_{number}"), inside)
    simple = {
        # avg(value) is sum(value) / count(*) (PostgreSQL's float8 avg keeps both sums).
        "avg": "sum(total) filter (where {inside}) / sum(n) filter (where {inside})",
        "sum": "sum(total) filter (where {inside})",
        "min": "min(low) filter (where {inside})",
        "max": "max(high) filter (where {inside})",
        "count": "sum(n) filter (where {inside})",
    }
    if ask.aggregation in simple:
        return count, sql.SQL(simple[ask.aggregation]).format(inside=inside)
    if ask.aggregation == "last":
        # Every window ends at `end`, so a window's last sample is the latest of all
        # pieces, if it holds any (its count says): one aggregate for all of them,
        # which PostgreSQL computes once however often it is written. A sample read
        # both raw and in its minute's rollup is the same (time, value) twice.
        if folded:
            return count, sql.SQL("(max(last_pair))[2]")
        return count, sql.SQL("(array_agg(last order by last_time desc, last desc))[1]")
    raise ValueError(f"unknown aggregation {ask.aggregation}")


def _series_sql(
    matchers: tuple[LabelMatcher, ...], group_by: tuple[str, ...], params: dict[str, Any]
) -> tuple[sql.Composable, sql.Composable]:
    """A series' group key and the matchers' conditions on the series `s`, as the
    metrics query spells them (storage/metric_query.py)."""
    return group_key_sql(group_by, params), matchers_sql(matchers, params)


# LATERAL (kept by `offset 0`, which stops the planner from flattening it back into
# a join): one index range scan of (series_id, time) per series and range. As a
# plain join, a selector matching most series may be planned as a scan of the time
# range over all series (the BRIN index: every page of the day, once per range).
_RAW_PIECE = """
    select m.gid, false, p.time, 1::float8, p.value, p.value, p.value, p.value, p.time,
           p.value, {pairs}
    from members m cross join lateral (
        select p.time, p.value{lags} from samples p
        where p.series_id = m.id and p.time >= {low} and p.time < {high}{gaps}
        {order}
    ) p
"""


def _raw_pieces(layout: _Layout, rates: bool, params: dict[str, Any]) -> sql.Composable:
    """The raw samples of the layout's ranges, as pieces of one sample each."""
    bounds = []
    for number, (low, high) in enumerate(layout.raw_ranges):
        params[f"raw_from_{number}"], params[f"raw_to_{number}"] = low, high
        bounds.append((sql.Placeholder(f"raw_from_{number}"), sql.Placeholder(f"raw_to_{number}")))
    if not rates:
        # One index range per range and series: the samples between the ranges
        # (minutes the rollups answer) are not even fetched.
        return sql.SQL(" union all ").join(
            sql.SQL(_RAW_PIECE).format(
                pairs=sql.SQL("null::float8, null::timestamptz"),
                lags=sql.SQL(""),
                low=low,
                high=high,
                gaps=sql.SQL(""),
                order=sql.SQL("offset 0"),
            )
            for low, high in bounds
        )
    # Pairs of consecutive samples of one series, for `rate`, paired inside the
    # series' own read: its index range comes in time order, so only samples of
    # equal time are sorted (by value), not every row of the selector. A rate's
    # window is read whole, so a pair inside it is a pair of what was read; the
    # samples between the ranges are skipped, not paired.
    gaps = [
        sql.SQL(" and not (p.time >= {} and p.time < {})").format(before[1], after[0])
        for before, after in itertools.pairwise(bounds)
    ]
    paired = sql.SQL(_RAW_PIECE).format(
        pairs=sql.SQL("p.previous, p.previous_time"),
        lags=sql.SQL(
            ", lag(p.value) over in_order as previous, lag(p.time) over in_order as previous_time"
        ),
        low=bounds[0][0],
        high=bounds[-1][1],
        gaps=sql.SQL("").join(gaps),
        order=sql.SQL("window in_order as (order by p.time, p.value)"),
    )
    # The pair's increase, a counter reset read as a restart from 0: once per
    # sample here, not once per sample and ask.
    return sql.SQL(
        """
        select gid, rolled, t0, n, total, low, high, last, last_time, value,
               case when value >= previous then value - previous else value end,
               previous_time
        from ({}) paired (gid, rolled, t0, n, total, low, high, last, last_time, value,
                          previous, previous_time)
        """
    ).format(paired)


_ROLLED_PIECES = sql.SQL(
    """
    select m.gid, true, r.bucket, r.count::float8, r.sum, r.min, r.max, r.last, r.last_time,
           null::float8, null::float8, null::timestamptz
    from members m cross join lateral (
        select * from rollups r
        where r.resolution_s = 60 and r.series_id = m.id
          and r.bucket >= %(rolled_from)s and r.bucket < %(rolled_to)s
        offset 0
    ) r
    """
)


_MEMBERS = """
    with matched as materialized (
        select s.id, {group_key} as grp from series s
        where s.name = %(name)s and s.deleted_at is null{matchers}
    ), members as materialized (
        select id, grp, dense_rank() over (order by grp) as gid from matched
    ), group_keys (texts) as (
        select array_agg(grp::text order by gid) from (select distinct gid, grp from members) g
    )
"""


# The pieces folded into parts of a window before the asks' aggregates run: each
# ask's filters compare a piece's t0 (and previous_time) with the asks' edges (since,
# cut, rolled_to) only, so pieces between the same two edges, equally rolled, are in
# the same asks; summed, compared and their latest kept per part, they answer every
# ask as the pieces would. Each ask then aggregates a handful of parts per group
# instead of every sample: 2 aggregates per sample instead of 2 per sample and ask.
# A part's t0 and previous_time are those of one of its pieces: between the same edges.
# The latest (time, value) is kept as a float8 pair: microseconds since 1970 lie
# apart by more than a float8's step here, so the pairs order as the pieces do.
_FOLD = """
    select gid, rolled, min(t0), sum(n), sum(total), min(low), max(high), {last_pair},
           sum(step), min(previous_time)
    from ({parts}) pieces (gid, rolled, t0, n, total, low, high, last, last_time,
                           value, step, previous_time)
    group by gid, rolled, width_bucket(t0, %(edges)s::timestamptz[]){rate_part}
"""


def _folded_pieces(
    query: SelectorQuery, layout: _Layout, parts: sql.Composable, params: dict[str, Any]
) -> sql.Composable:
    edges = {layout.rolled_to, *(cut.since for cut in layout.cuts), *(c.cut for c in layout.cuts)}
    params["edges"] = sorted(edges)
    aggregations = {ask.aggregation for ask in query.asks}
    return sql.SQL(_FOLD).format(
        parts=parts,
        last_pair=sql.SQL(
            "max(array[extract(epoch from last_time)::float8, last])"
            if "last" in aggregations
            else "null::float8[]"
        ),
        rate_part=sql.SQL(
            ", width_bucket(previous_time, %(edges)s::timestamptz[])"
            if "rate" in aggregations
            else ""
        ),
    )


def _statement(
    query: SelectorQuery, minute_mark: datetime | None
) -> tuple[sql.Composed, dict[str, Any]]:
    if all(ask.aggregation == "last" for ask in query.asks):
        return _latest_statement(query)
    layout = _layout(query, minute_mark)
    params: dict[str, Any] = {
        "name": query.name,
        "rolled_to": layout.rolled_to,
        "rolled_from": layout.rolled_from,
    }
    group_key, matchers = _series_sql(query.matchers, query.group_by, params)
    columns: list[sql.Composable] = []
    rolled_part = layout.rolled_from < layout.rolled_to
    # Percentiles need every value: their pieces cannot be folded into parts.
    folded = not any(ask.aggregation in PERCENTILES for ask in query.asks)
    for number, (ask, cut) in enumerate(zip(query.asks, layout.cuts, strict=True)):
        params[f"since_{number}"], params[f"cut_{number}"] = cut.since, cut.cut
        columns.extend(_aggregate(ask, number, params, rolled_part, folded))
    parts: list[sql.Composable] = []
    if rolled_part:
        parts.append(_ROLLED_PIECES)
    if layout.raw_ranges:
        rates = any(ask.aggregation == "rate" for ask in query.asks)
        parts.append(_raw_pieces(layout, rates, params))
    pieces: sql.Composable = sql.SQL(" union all ").join(parts)
    if folded:
        pieces = _folded_pieces(query, layout, pieces, params)
    # The group key (jsonb) is computed once per series, and pieces are grouped by
    # a small integer standing for it (its rank): per piece, jsonb would be built,
    # sorted and compared thousands of times. The keys come back as one array.
    statement = sql.SQL(
        """
        {members}
        select (select texts from group_keys)[a.gid], a.*
        from (
            select gid, {columns} from (
                {pieces}
            ) pieces ({names})
            group by gid
        ) a
        """
    ).format(
        columns=sql.SQL(", ").join(columns),
        members=sql.SQL(_MEMBERS).format(group_key=group_key, matchers=matchers),
        pieces=pieces,
        names=sql.SQL(
            "gid, rolled, t0, n, total, low, high, last_pair, step, previous_time"
            if folded
            else "gid, rolled, t0, n, total, low, high, last, last_time, value, step, previous_time"
        ),
    )
    return statement, params


def _latest_statement(query: SelectorQuery) -> tuple[sql.Composed, dict[str, Any]]:
    """Only `last` asks: each series' latest sample of the longest window is all it takes.

    Every window ends at `end`, so a window's last sample is the latest sample
    before `end`, when it lies inside the window; one index probe per series
    instead of reading every sample of the window."""
    longest = max(ask.window for ask in query.asks)
    params: dict[str, Any] = {"name": query.name, "since": query.end - longest, "end": query.end}
    group_key, matchers = _series_sql(query.matchers, query.group_by, params)
    columns = []
    for number, ask in enumerate(query.asks):
        params[f"since_{number}"] = query.end - ask.window
        columns.append(
            sql.SQL("case when latest >= {since} then 1 end, last_pair[2]").format(
                since=sql.Placeholder(f"since_{number}")
            )
        )
    statement = sql.SQL(
        """
        {members}
        select (select texts from group_keys)[a.gid], a.gid, {columns}
        from (
            select m.gid, max(p.time) as latest,
                   max(array[extract(epoch from p.time)::float8, p.value]) as last_pair
            from members m cross join lateral (
                select p.time, p.value from samples p
                where p.series_id = m.id and p.time >= %(since)s and p.time < %(end)s
                order by p.time desc, p.value desc
                limit 1
            ) p
            group by m.gid
        ) a
        """
    ).format(
        members=sql.SQL(_MEMBERS).format(group_key=group_key, matchers=matchers),
        columns=sql.SQL(", ").join(columns),
    )
    return statement, params


Marks = Mapping[int, datetime]


def read_selector(
    connection: Connection, query: SelectorQuery, marks: Marks | None = None
) -> list[GroupValues]:
    """Each group's value for every ask of `query`, in one statement.

    `marks`: the rollup watermarks (storage/rollups.py `watermarks`), read on
    `connection` when not given; without a 1-minute one, raw samples only."""
    if not query.asks:
        return []
    if marks is None:
        marks = watermarks(connection)
    statement, params = _statement(query, marks.get(MINUTE))
    try:
        # Not prepared: after five runs PostgreSQL may switch a prepared statement to
        # a generic plan, made without the times, which read `last` and `rate`
        # selectors at half the speed (measured: 6.3 against 3.2 ms, 17.6 against
        # 15.6 ms per selector on bench/alerts.py's data); planning costs 0.3-0.5 ms.
        rows = connection.execute(statement, params, prepare=False).fetchall()
    except psycopg.errors.NumericValueOutOfRange as failure:
        raise QueryRefused(
            "the aggregation overflows or underflows a double for these samples"
        ) from failure
    found = []
    for row in rows:
        pairs = zip(row[2::2], row[3::2], strict=True)  # row[1] is the group's number
        values = tuple(
            None if not count or value is None else float(value) for count, value in pairs
        )
        found.append(GroupValues(msgspec.json.decode(row[0]), values))
    found.sort(key=lambda group: sorted(group.labels.items()))
    return found


async def selector_values(gateway: Gateway, query: SelectorQuery) -> list[GroupValues]:
    """Each group's value for every ask of `query`, in one statement."""
    return await gateway.run(lambda connection: read_selector(connection, query))


EVENT_GROUPS = ("source", "type")  # what an event rule may group by: columns, not labels


@dataclass(frozen=True)
class EventCountQuery:
    """How many events match `event_filter` in each window ending at `end`, per group."""

    event_filter: EventFilter  # its own time range is ignored: the windows are the range
    group_by: tuple[str, ...]  # () or a subset of EVENT_GROUPS
    windows: tuple[timedelta, ...]
    end: datetime


def read_event_counts(connection: Connection, query: EventCountQuery) -> list[GroupValues]:
    if not query.windows:
        return []
    unknown = set(query.group_by) - set(EVENT_GROUPS)
    if unknown:
        raise ValueError(f"events are grouped by {EVENT_GROUPS}, not {sorted(unknown)}")
    longest = max(query.windows)
    windowed = replace(query.event_filter, time_from=query.end - longest, time_to=query.end)
    clauses, filter_params = filter_clauses(windowed)
    counts = sql.SQL(", ").join(
        sql.SQL("count(*) filter (where time >= %s)") for _ in query.windows
    )
    columns = [sql.Identifier(name) for name in query.group_by]
    statement = sql.SQL("select {keys}{counts} from events where {where}{grouping}").format(
        keys=sql.SQL("").join(sql.SQL("{}, ").format(column) for column in columns),
        counts=counts,
        where=sql.SQL(" and ").join(clauses),
        grouping=sql.SQL(" group by {}").format(sql.SQL(", ").join(columns))
        if columns
        else sql.SQL(""),
    )
    params = [query.end - window for window in query.windows] + filter_params
    found = []
    for row in connection.execute(statement, params).fetchall():
        labels = dict(zip(query.group_by, row[: len(columns)], strict=True))
        values = tuple(float(count) for count in row[len(columns) :])
        if any(values):  # without grouping, one row even when nothing matched
            found.append(GroupValues(labels, values))
    found.sort(key=lambda group: sorted(group.labels.items()))
    return found


async def event_counts(gateway: Gateway, query: EventCountQuery) -> list[GroupValues]:
    """Each group's count of matching events in every window of `query`, in one statement."""
    return await gateway.run(lambda connection: read_event_counts(connection, query))


@dataclass(frozen=True)
class PresenceQuery:
    """For an absence rule on metrics: which groups were seen, and their samples lately."""

    name: str
    matchers: tuple[LabelMatcher, ...]
    group_by: tuple[str, ...]
    window: timedelta  # the samples counted: [end - window, end)
    lookback: timedelta  # a group is expected if seen in [end - window - lookback, end)
    end: datetime


def read_metric_presence(connection: Connection, query: PresenceQuery) -> list[GroupValues]:
    """Each expected group's count of samples in the window (0: absent), in one statement.

    Per series, two index probes (its latest sample since the lookback began, and its
    count in the window) instead of reading the lookback's samples, which may be a
    day of them."""
    params: dict[str, Any] = {
        "name": query.name,
        "end": query.end,
        "window_start": query.end - query.window,
        "seen_since": query.end - query.window - query.lookback,
    }
    group_key, matchers = _series_sql(query.matchers, query.group_by, params)
    statement = sql.SQL(
        """
        with matched as materialized (
            select s.id, {group_key} as grp from series s
            where s.name = %(name)s and s.deleted_at is null{matchers}
        ), seen as (
            select m.grp,
                   exists (select from samples p where p.series_id = m.id
                           and p.time >= %(seen_since)s and p.time < %(end)s) as expected,
                   (select count(*) from samples p where p.series_id = m.id
                    and p.time >= %(window_start)s and p.time < %(end)s) as recent
            from matched m
        )
        select grp::text, sum(recent)::float8 from seen
        group by grp having bool_or(expected)
        """
    ).format(group_key=group_key, matchers=matchers)
    found = [
        GroupValues(msgspec.json.decode(key), (float(count),))
        for key, count in connection.execute(statement, params).fetchall()
    ]
    found.sort(key=lambda group: sorted(group.labels.items()))
    return found


@dataclass(frozen=True)
class ErrorGroupQuery:
    """For an `error_group` rule: the error groups it watches and each one's value.

    - `new`: groups first seen within `resolve_after` (and those already open
      as instances, `known`): 1 while open and seen within `resolve_after`;
    - `regression`: groups reopened within `resolve_after` (and `known`): 1
      while open and seen within `resolve_after`;
    - `frequency`: each group's count of events in `window` (groups with none
      are absent: the caller counts 0 for the ones it knows).
    """

    condition: str
    event_filter: EventFilter  # type, level, min_level, source, q (no attributes)
    resolve_after: timedelta
    window: timedelta | None
    known: tuple[int, ...]  # group ids the rule has open instances for
    end: datetime


ERROR_GROUP_LABEL = "error_group"


def read_error_groups(connection: Connection, query: ErrorGroupQuery) -> list[GroupValues]:
    """Each watched error group's value, labelled by its id, source and type."""
    if query.event_filter.attributes:
        raise ValueError("attribute filters do not apply to error groups")
    event_filter = replace(query.event_filter, time_from=None, time_to=None)
    if query.condition == "frequency":
        assert query.window is not None
        clauses, params = filter_clauses(
            replace(event_filter, time_from=query.end - query.window, time_to=query.end), "e"
        )
        statement = sql.SQL(
            "select g.id, g.source, g.type, count(*)::float8 from events e "
            "join event_groups g on g.id = e.group_id where e.group_id is not null and {} "
            "group by g.id, g.source, g.type"
        ).format(sql.SQL(" and ").join(clauses))
        rows = connection.execute(statement, params).fetchall()
    else:
        clauses, params = filter_clauses(event_filter, "g")
        since = query.end - query.resolve_after
        moment = sql.SQL("g.first_seen" if query.condition == "new" else "g.regressed_at")
        statement = sql.SQL(
            "select g.id, g.source, g.type, "
            "(g.status = 'open' and g.last_seen >= %s and {moment} is not null)::int::float8 "
            "from event_groups g where ({moment} >= %s and {moment} < %s or g.id = any(%s)){more}"
        ).format(
            moment=moment,
            more=sql.SQL("").join(sql.SQL(" and ") + clause for clause in clauses),
        )
        rows = connection.execute(
            statement, [since, since, query.end, list(query.known), *params]
        ).fetchall()
    found = [
        GroupValues(
            {ERROR_GROUP_LABEL: str(group_id), "source": source, "type": kind}, (float(value),)
        )
        for group_id, source, kind, value in rows
    ]
    found.sort(key=lambda group: int(group.labels[ERROR_GROUP_LABEL]))
    return found
