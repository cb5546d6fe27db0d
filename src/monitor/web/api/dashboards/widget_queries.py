"""A widget's query is checked when it is saved: parsed as its route parses it, and run once.

An invalid query is a 400 naming each bad parameter as `query.<name>`;
nothing is stored. The route a widget is drawn by follows from its kind and
query (domain/widget_queries.py `widget_target`); `CHECKS` maps each of
those routes to its check.

Where the dashboard read routes plug in: each entry of `CHECKS` whose
function is `shape_checked_only` stands for a route whose parser does not
exist yet (dashboard.top, dashboard.heatmap, dashboard.overview). Their
queries are checked for shape only: parameters that form a valid query
string (domain/widget_queries.py `query_parameters`), the discriminating
parameter (`type` of top, `kind` of heatmap), and the relative range every
dashboard route takes. When a route lands, its entry becomes a function
`async def check(target: QueryTarget) -> None` that parses
`target_args(target)` with the route's own parser (naming errors through
`named_errors`), then runs the query once (through `run_once`). The checks of
dashboard.timeseries (`chart_check`) use the events list's parser and the
metrics query's parser today, and are replaced the same way by the
timeseries route's parser.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict

from monitor.domain.intervals import parse_interval
from monitor.domain.query_values import whole_number
from monitor.domain.widget_queries import (
    EVENTS_LIST,
    HEATMAP,
    OVERVIEW,
    TIMESERIES,
    TOP,
    QueryProblems,
    QueryTarget,
    WidgetKind,
    widget_target,
)
from monitor.storage import events as event_store
from monitor.storage import metric_query
from monitor.storage.errors import QueryRefused
from monitor.web.api.events.query import parse_event_filter, parse_page
from monitor.web.api.metrics.query import MAX_POINTS, parse_series_query
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError

QueryCheck = Callable[[QueryTarget], Awaitable[None]]
T = TypeVar("T")

# What the dashboard routes take besides their data's own parameters.
RANGE, MAX_POINTS_PARAMETER, METRIC_QUERY = "range", "max_points", "query"
EVENT_CHART_GROUPS = ("level", "type", "source")
CHART_ONLY = frozenset({"kind", "group_by", "interval", RANGE, MAX_POINTS_PARAMETER})


def invalid_query(errors: list[dict[str, Any]]) -> ProblemError:
    return ProblemError(
        400,
        "the widget's query is invalid; nothing was changed",
        kind="validation-error",
        errors=errors,
    )


def named_errors(refusal: ProblemError, prefix: str = "query.") -> list[dict[str, Any]]:
    """A route parser's field errors as a widget's: each field named under `prefix`."""
    errors = [
        {**error, "field": f"{prefix}{error.get('field', '')}"} for error in refusal.errors or ()
    ]
    return errors or [{"field": prefix.rstrip("."), "message": refusal.detail}]


def target_args(
    target: QueryTarget, *, without: frozenset[str] = frozenset()
) -> MultiDict[str, str]:
    return MultiDict([(key, value) for key, value in target.params if key not in without])


async def run_once(query: Awaitable[T]) -> T:
    """Run a widget's query; one PostgreSQL cannot answer is a 400 naming the query."""
    try:
        return await query
    except QueryRefused as refusal:
        raise invalid_query([{"field": "query", "message": str(refusal)}]) from None


def _window(target: QueryTarget, errors: list[dict[str, Any]]) -> timedelta | None:
    """The relative range a dashboard route takes (`range=1h`), checked."""
    text = target.first(RANGE)
    if text is None:
        return None
    if target.first("from") or target.first("to"):
        errors.append({"field": f"query.{RANGE}", "message": "give range, or from/to, not both"})
        return None
    try:
        return parse_interval(text)
    except ValueError as problem:
        errors.append({"field": f"query.{RANGE}", "message": str(problem)})
        return None


def _max_points(target: QueryTarget, errors: list[dict[str, Any]]) -> None:
    text = target.first(MAX_POINTS_PARAMETER)
    if text is not None:
        try:
            whole_number(text, 1, MAX_POINTS)
        except ValueError as problem:
            errors.append({"field": f"query.{MAX_POINTS_PARAMETER}", "message": str(problem)})


def _ranged(args: MultiDict[str, str], window: timedelta | None, now: datetime) -> None:
    if window is not None:
        args["from"] = (now - window).isoformat()
        args["to"] = now.isoformat()


async def events_list_check(target: QueryTarget) -> None:
    """GET /api/v1/events: its own parsers, then the query with one event."""
    args = target_args(target)
    try:
        event_filter = parse_event_filter(args)
        _, before = parse_page(args)
    except ProblemError as refusal:
        raise invalid_query(named_errors(refusal)) from None
    await run_once(
        event_store.list_events(current_deps().gateway, event_filter, limit=1, before=before)
    )


async def _event_chart_check(target: QueryTarget) -> None:
    """Event counts: the events list's filters, the chart's grouping and range."""
    errors: list[dict[str, Any]] = []
    window = _window(target, errors)
    _max_points(target, errors)
    group_by = target.first("group_by")
    if group_by is not None and group_by not in EVENT_CHART_GROUPS:
        errors.append(
            {"field": "query.group_by", "message": f"one of {', '.join(EVENT_CHART_GROUPS)}"}
        )
    interval = target.first("interval")
    if interval is not None:
        try:
            parse_interval(interval)
        except ValueError as problem:
            errors.append({"field": "query.interval", "message": str(problem)})
    for paging in ("limit", "cursor"):
        if target.first(paging) is not None:
            errors.append({"field": f"query.{paging}", "message": "is not a known parameter"})
    args = target_args(target, without=CHART_ONLY)
    _ranged(args, window, datetime.now(UTC))
    try:
        event_filter = parse_event_filter(args)
    except ProblemError as refusal:
        raise invalid_query(errors + named_errors(refusal)) from None
    if errors:
        raise invalid_query(errors)
    await run_once(
        event_store.list_events(current_deps().gateway, event_filter, limit=1, before=None)
    )


async def _metric_chart_check(target: QueryTarget) -> None:
    """Metric series: the metrics query's parser, for the query given inline or for each
    `query=` (a URL-encoded metrics query string); then each is run once."""
    errors: list[dict[str, Any]] = []
    window = _window(target, errors)
    _max_points(target, errors)
    shared = target_args(target, without=frozenset({"kind", RANGE, MAX_POINTS_PARAMETER}))
    listed = shared.poplist(METRIC_QUERY)
    now = datetime.now(UTC)
    queries: list[tuple[str, MultiDict[str, str]]] = []
    if not listed:
        queries.append(("query.", shared))
    for index, text in enumerate(listed):
        args = MultiDict(parse_qsl(text, keep_blank_values=True))
        for key in ("from", "to", "interval"):
            if key in shared and key not in args:
                args[key] = shared[key]
        queries.append((f"query.{METRIC_QUERY}.{index}.", args))
    parsed = []
    for prefix, args in queries:
        _ranged(args, window, now)
        try:
            parsed.append(parse_series_query(args, now))
        except ProblemError as refusal:
            errors.extend(named_errors(refusal, prefix))
    if errors:
        raise invalid_query(errors)
    gateway = current_deps().gateway
    for series_query in parsed:
        await run_once(metric_query.query_series(gateway, series_query))


async def chart_check(target: QueryTarget) -> None:
    """GET /api/v1/dashboard/timeseries, by its `kind` (events or metric)."""
    if target.first("kind") == "metric":
        await _metric_chart_check(target)
    else:
        await _event_chart_check(target)


async def shape_checked_only(target: QueryTarget) -> None:
    """For a route without a parser yet: the query's shape (checked before this is called)
    and the relative range every dashboard route takes. See the module's docstring."""
    errors: list[dict[str, Any]] = []
    _window(target, errors)
    if errors:
        raise invalid_query(errors)


CHECKS: Mapping[str, QueryCheck] = {
    EVENTS_LIST: events_list_check,
    TIMESERIES: chart_check,
    TOP: shape_checked_only,
    HEATMAP: shape_checked_only,
    OVERVIEW: shape_checked_only,
}


async def check_widget_query(kind: WidgetKind, query: Mapping[str, Any]) -> None:
    """Raise a 400 naming what is wrong unless a widget of `kind` can be drawn with `query`."""
    try:
        target = widget_target(kind, query)
    except QueryProblems as problems:
        raise invalid_query(
            [
                {"field": f"query.{field}", "message": message}
                for field, message in problems.problems
            ]
        ) from None
    await CHECKS[target.route](target)
