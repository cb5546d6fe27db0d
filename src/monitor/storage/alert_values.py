"""The values alert rules compare: metric aggregations and event counts, per window and group.

Rules that watch the same series (metric name and label matchers) and group
them alike are read together: `selector_values` answers every (aggregation,
window) they ask for in ONE statement over the longest window's samples,
each aggregate restricted to its own window with FILTER. A rule's window
ends at `end` (the evaluation time minus the rule's offset, so late samples
are not read as missing) and is half-open: `[end - window, end)`.

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


def _aggregate(ask: WindowAggregate, number: int, params: dict[str, Any]) -> sql.Composable:
    """The SQL aggregate of one ask, over the rows of its window only."""
    since = sql.Placeholder(f"since_{number}")
    params[f"since_{number}"] = ask.window
    inside = sql.SQL("time >= %(end)s - {}").format(since)
    if ask.aggregation == "rate":
        # A pair counts when both samples lie inside the window.
        params[f"width_{number}"] = ask.window.total_seconds()
        return sql.SQL(
            "coalesce(sum(case when value >= previous then value - previous else value end) "
            "filter (where previous_time >= %(end)s - {since}), 0) / {width}"
        ).format(since=since, width=sql.Placeholder(f"width_{number}"))
    if ask.aggregation in PERCENTILES:
        params[f"fraction_{number}"] = PERCENTILES[ask.aggregation]
        return sql.SQL(
            "percentile_cont({}) within group (order by value) filter (where {})"
        ).format(sql.Placeholder(f"fraction_{number}"), inside)
    simple = {
        "avg": "avg(value)",
        "sum": "sum(value)",
        "min": "min(value)",
        "max": "max(value)",
        "count": "count(*)",
    }
    if ask.aggregation in simple:
        return sql.SQL("(" + simple[ask.aggregation] + " filter (where {}))::float8").format(inside)
    if ask.aggregation == "last":
        # Every window ends at `end`, so a window's last sample is the longest
        # window's, if it holds any (its count says): one aggregate for all of
        # them, which PostgreSQL computes once however often it is written.
        return sql.SQL("(array_agg(value order by time desc, value desc))[1]")
    raise ValueError(f"unknown aggregation {ask.aggregation}")


def _series_sql(
    matchers: tuple[LabelMatcher, ...], group_by: tuple[str, ...], params: dict[str, Any]
) -> tuple[sql.Composable, sql.Composable]:
    """A series' group key and the matchers' conditions on the series `s`, as the
    metrics query spells them (storage/metric_query.py)."""
    return group_key_sql(group_by, params), matchers_sql(matchers, params)


def _statement(query: SelectorQuery) -> tuple[sql.Composed, dict[str, Any]]:
    params: dict[str, Any] = {
        "name": query.name,
        "end": query.end,
        "longest": max(ask.window for ask in query.asks),
    }
    group_key, matchers = _series_sql(query.matchers, query.group_by, params)
    columns: list[sql.Composable] = []
    for number, ask in enumerate(query.asks):
        # How many samples the window holds: none means no value, whatever the aggregation.
        columns.append(
            sql.SQL("count(*) filter (where time >= %(end)s - {})").format(
                sql.Placeholder(f"since_{number}")
            )
        )
        columns.append(_aggregate(ask, number, params))
    rates = any(ask.aggregation == "rate" for ask in query.asks)
    # Pairs of consecutive samples of one series, for `rate` only: the window
    # function sorts every row, which the other aggregations do without.
    pairs = (
        sql.SQL(
            ", lag(p.value) over per_series as previous, lag(p.time) over per_series "
            "as previous_time"
        )
        if rates
        else sql.SQL("")
    )
    per_series = (
        sql.SQL(" window per_series as (partition by p.series_id order by p.time, p.value)")
        if rates
        else sql.SQL("")
    )
    # The group key (jsonb) is computed once per series, and samples are
    # grouped by a small integer standing for it: per sample, jsonb would be
    # built, sorted and compared thousands of times.
    statement = sql.SQL(
        """
        with matched as materialized (
            select s.id, {group_key} as grp from series s
            where s.name = %(name)s and s.deleted_at is null{matchers}
        ), groups as materialized (
            select grp, row_number() over () as gid from (select distinct grp from matched) g
        ), members as materialized (
            select m.id, g.gid from matched m join groups g on g.grp = m.grp
        )
        select g.grp::text, a.* from (
            select gid, {columns} from (
                select m.gid, p.time, p.value{pairs}
                from members m join samples p on p.series_id = m.id
                where p.time >= %(end)s - %(longest)s and p.time < %(end)s{per_series}
            ) points
            group by gid
        ) a join groups g on g.gid = a.gid
        """
    ).format(
        columns=sql.SQL(", ").join(columns),
        group_key=group_key,
        pairs=pairs,
        per_series=per_series,
        matchers=matchers,
    )
    return statement, params


def read_selector(connection: Connection, query: SelectorQuery) -> list[GroupValues]:
    if not query.asks:
        return []
    statement, params = _statement(query)
    try:
        rows = connection.execute(statement, params).fetchall()
    except psycopg.errors.NumericValueOutOfRange as failure:
        raise QueryRefused(
            "the aggregation overflows or underflows a double for these samples"
        ) from failure
    found = []
    for row in rows:
        pairs = zip(row[2::2], row[3::2], strict=True)  # row[1] is the group's number
        values = tuple(
            None if count == 0 or value is None else float(value) for count, value in pairs
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
