"""GET /api/v1/dashboard/timeseries: chart data, event counts or metric queries per bucket.

`kind=events`: events per bucket with the events list's filters, one series
per group of `group_by` (the 10 largest, then `other`). `kind=metric`: one
or more metrics queries (the parameters of GET /api/v1/metrics), each
answered as its own list of series, over one shared range and interval.
Both kinds: buckets aligned to the Unix epoch; the answer is shared for the
window's tick (see answers.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast
from urllib.parse import parse_qsl

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response, tag
from werkzeug.datastructures import MultiDict

from monitor.domain.events import LEVELS, EventFilter
from monitor.domain.keys import Role
from monitor.domain.query_values import query_string_problems
from monitor.storage import metric_query
from monitor.storage.event_count_query import GroupKey, event_count_series
from monitor.storage.gateway import Gateway
from monitor.web.api.dashboard import answers
from monitor.web.api.dashboard.answers import shared_answer
from monitor.web.api.dashboard.chart_kind import parse_chart
from monitor.web.api.dashboard.chart_schemas import TimeseriesOut, TimeseriesQueryDoc
from monitor.web.api.dashboard.event_filters import (
    SET_FILTERS,
    filter_key_params,
    parse_dashboard_filter,
)
from monitor.web.api.dashboard.time_frame import (
    PARAMETERS as FRAME_PARAMETERS,
)
from monitor.web.api.dashboard.time_frame import (
    Framed,
    PointLimits,
    TimeFrame,
    parse_time_frame,
)
from monitor.web.api.metrics.query import (
    LABEL_PREFIX,
    SELECTION_PARAMETERS,
    MetricSelection,
    parse_selection,
)
from monitor.web.edge.auth import require_role
from monitor.web.edge.query_checks import QueryArgs, invalid_query

blueprint = Blueprint("dashboard_timeseries", __name__)

ROUTE = "/dashboard/timeseries"
POINTS = PointLimits(default=300, largest=2000)
MAX_QUERIES = 10
TOP_GROUPS = 10
GROUPINGS = ("level", "type", "source")
GroupBy = Literal["level", "type", "source"]
_OWN = FRAME_PARAMETERS | {"kind"}

Errors = list[dict[str, Any]]


# --- kind=events ----------------------------------------------------------------------------


def _group_name(group_by: GroupBy | None, key: GroupKey) -> str | None:
    if group_by == "level" and key is not None:
        return LEVELS[int(key)]
    return None if key is None else str(key)


def _event_series(
    counts: dict[GroupKey, list[int]], group_by: GroupBy | None, buckets: int
) -> list[dict[str, Any]]:
    """The TOP_GROUPS largest groups (most events first, ties by name), then `other`."""
    ranked = sorted(
        ((_group_name(group_by, key), series) for key, series in counts.items()),
        key=lambda item: (-sum(item[1]), item[0] or ""),
    )
    shown = [
        {"group": name, "other": False, "total": sum(series), "counts": series}
        for name, series in ranked[:TOP_GROUPS]
    ]
    rest = ranked[TOP_GROUPS:]
    if rest:
        folded = [sum(column) for column in zip(*(series for _, series in rest), strict=True)]
        shown.append(
            {
                "group": "other",
                "other": True,
                "groups": len(rest),
                "total": sum(folded),
                "counts": folded or [0] * buckets,
            }
        )
    return shown


@dataclass(frozen=True)
class EventChartAsked(Framed):
    event_filter: EventFilter
    group_by: GroupBy | None
    frame: TimeFrame
    sets = SET_FILTERS

    def key_params(self) -> list[tuple[str, str]]:
        return [
            ("kind", "events"),
            *self.frame.key_params(),
            *filter_key_params(self.event_filter),
            *([("group_by", self.group_by)] if self.group_by else []),
        ]


def _parse_events(args: QueryArgs, now: datetime) -> EventChartAsked:
    errors: Errors = []
    event_filter = parse_dashboard_filter(args, _OWN | {"group_by"}, errors)
    raw_group = args.get("group_by") or None
    if raw_group is not None and raw_group not in GROUPINGS:
        errors.append({"field": "group_by", "message": f"must be one of {', '.join(GROUPINGS)}"})
    frame = parse_time_frame(args, now, errors, POINTS)
    if errors or frame is None:
        raise invalid_query(errors)
    return EventChartAsked(event_filter, cast(GroupBy | None, raw_group), frame)


async def _count_events(gateway: Gateway, asked: EventChartAsked) -> dict[str, Any]:
    frame, group_by = asked.frame, asked.group_by
    found = await event_count_series(
        gateway,
        asked.event_filter,
        start=frame.window.start,
        end=frame.window.end,
        interval=frame.interval,
        group_by=group_by,
    )
    described = frame.description()
    return {
        "kind": "events",
        "group_by": group_by,
        **described,
        "series": _event_series(found.counts, group_by, len(described["buckets"])),
    }


# --- kind=metric ----------------------------------------------------------------------------


def _inner_unknown(key: str) -> str:
    if key == "query":
        return "queries do not nest: give each as its own `query=` parameter"
    if key in _OWN:
        return "is shared by all queries: give it beside `query=`, not inside"
    return "is not a known parameter"


def _parsed_query(number: int, raw: str, errors: Errors) -> MetricSelection | None:
    prefix = f"query[{number}]"

    def field(name: str) -> str:
        return f"{prefix}.{name}"

    # The edge checked the value itself; its own parameters pass the same checks.
    problems = query_string_problems(raw.encode())
    if problems:
        errors.extend({"field": field(p.field), "message": p.message} for p in problems)
        return None
    pairs = parse_qsl(raw, keep_blank_values=True)  # at most 1000 characters: the edge said so
    if not pairs:
        errors.append(
            {
                "field": prefix,
                "message": "is empty: give a metrics query, URL-encoded, "
                "such as query=name%3Dcpu%26aggregation%3Davg",
            }
        )
        return None
    return parse_selection(MultiDict(pairs), errors, field=field, unknown_message=_inner_unknown)


def _outer_misplaced(key: str) -> bool:
    """A metrics query's own parameter beside `query=`: probably a query not URL-encoded."""
    return key in SELECTION_PARAMETERS or key.startswith(LABEL_PREFIX)


def _metric_selections(args: QueryArgs, errors: Errors) -> list[MetricSelection]:
    raw_queries = args.getlist("query")
    if not raw_queries:  # one query, its parameters on the URL itself
        return [parse_selection(args, errors, allowed=_OWN)]
    for key in args:
        if key in _OWN or key == "query":
            continue
        errors.append(
            {
                "field": key,
                "message": "with `query=`, every metrics parameter goes inside a query "
                "(URL-encoded: query=name%3Dcpu%26aggregation%3Davg)"
                if _outer_misplaced(key)
                else "is not a known parameter",
            }
        )
    if len(raw_queries) > MAX_QUERIES:
        errors.append(
            {"field": "query", "message": f"{len(raw_queries)} queries; at most {MAX_QUERIES}"}
        )
        return []
    parsed = [_parsed_query(number, raw, errors) for number, raw in enumerate(raw_queries)]
    return [selection for selection in parsed if selection is not None]


@dataclass(frozen=True)
class MetricChartAsked(Framed):
    selections: tuple[MetricSelection, ...]
    frame: TimeFrame
    sets = frozenset[str]()

    def key_params(self) -> list[tuple[str, str]]:
        return [
            ("kind", "metric"),
            *self.frame.key_params(),
            *(("query", selection.canonical()) for selection in self.selections),
        ]


def _parse_metrics(args: QueryArgs, now: datetime) -> MetricChartAsked:
    errors: Errors = []
    selections = _metric_selections(args, errors)
    frame = parse_time_frame(args, now, errors, POINTS)
    if errors or frame is None:
        raise invalid_query(errors)
    return MetricChartAsked(tuple(selections), frame)


def _aligned_values(
    points: list[tuple[int, float]], first: int, width: int, buckets: int
) -> list[float | None]:
    values: list[float | None] = [None] * buckets
    for moment, value in points:
        values[(moment - first) // width] = value
    return values


async def _query_metrics(gateway: Gateway, asked: MetricChartAsked) -> dict[str, Any]:
    frame = asked.frame
    described = frame.description()
    buckets: list[int] = described["buckets"]
    width = int(frame.interval.total_seconds())
    found = []
    # One after another: several at once would take the pool from other requests.
    for selection in asked.selections:
        groups = await metric_query.query_series(
            gateway,
            selection.series_query(frame.window.start, frame.window.end, frame.interval),
        )
        found.append(
            {
                "query": selection.canonical(),
                "name": selection.name,
                "aggregation": selection.aggregation,
                "group_by": list(selection.group_by),
                "series": [
                    {
                        "labels": group.labels,
                        "values": _aligned_values(group.points, buckets[0], width, len(buckets)),
                    }
                    for group in groups
                ],
            }
        )
    return {"kind": "metric", **described, "queries": found}


# --- the route ------------------------------------------------------------------------------

TimeseriesAsked = EventChartAsked | MetricChartAsked


def parse_timeseries(args: QueryArgs, now: datetime) -> TimeseriesAsked:
    """The chart `args` ask for at `now`; a 400 problem naming each bad parameter."""
    return parse_chart(args, now, _parse_events, _parse_metrics)


async def compute_timeseries(gateway: Gateway, asked: TimeseriesAsked) -> dict[str, Any]:
    if isinstance(asked, EventChartAsked):
        return await _count_events(gateway, asked)
    return await _query_metrics(gateway, asked)


@blueprint.get("/timeseries")
@require_role(Role.READ)
@tag(["dashboard"])
@document_querystring(TimeseriesQueryDoc)
@document_response(TimeseriesOut, 200)
async def timeseries() -> Response:
    """Chart data: event counts (`kind=events`) or metric queries (`kind=metric`) per bucket.

    Events: the events list's filters, `group_by=level|type|source` (the 10
    largest groups, then `other`); 0 in empty buckets. Metrics: the
    parameters of GET /api/v1/metrics on the URL, or several queries as
    repeated `query=` (each URL-encoded; at most 10), each answered as its
    own series; null in empty buckets. Without `interval`, the narrowest
    round one giving at most `max_points` (default 300, at most 2000) buckets.
    """
    return await shared_answer(
        ROUTE, parse_timeseries(request.args, answers.now()), compute_timeseries
    )
