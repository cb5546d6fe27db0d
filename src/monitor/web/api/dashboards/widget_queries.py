"""A widget's query is checked when it is saved: parsed by its route's own parser, and run once.

So a widget is accepted exactly when its route would answer it. An invalid
query is a 400 naming each bad parameter as `query.<name>`; nothing is
stored. The route a widget is drawn by follows from its kind and query
(domain/widget_queries.py `widget_target`); `CHECKS` runs that route's parse
and computation (the events list reads one event).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from werkzeug.datastructures import MultiDict

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
from monitor.storage.errors import QueryRefused
from monitor.storage.gateway import Gateway
from monitor.web.api.dashboard import answers
from monitor.web.api.dashboard.heatmap import compute_heatmap, parse_heatmap
from monitor.web.api.dashboard.overview import compute_overview, parse_overview
from monitor.web.api.dashboard.timeseries import compute_timeseries, parse_timeseries
from monitor.web.api.dashboard.top import compute_top, parse_top
from monitor.web.api.events.query import parse_event_filter, parse_page
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import QueryArgs

# Parse the target's parameters as its route does, then run what the route runs.
QueryCheck = Callable[[Gateway, QueryTarget, QueryArgs, datetime], Awaitable[object]]


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


async def _events_page(gateway: Gateway, _: QueryTarget, args: QueryArgs, __: datetime) -> object:
    event_filter = parse_event_filter(args)
    before = parse_page(args)[1]  # one event is enough to know the query runs
    return await event_store.list_events(gateway, event_filter, limit=1, before=before)


async def _timeseries(gateway: Gateway, _: QueryTarget, args: QueryArgs, now: datetime) -> object:
    return await compute_timeseries(gateway, parse_timeseries(args, now))


async def _heatmap(gateway: Gateway, _: QueryTarget, args: QueryArgs, now: datetime) -> object:
    return await compute_heatmap(gateway, parse_heatmap(args, now))


async def _top(gateway: Gateway, target: QueryTarget, args: QueryArgs, now: datetime) -> object:
    kind = target.path.rpartition("/")[2]  # widget_target put the list's type in the path
    return await compute_top(gateway, parse_top(kind, args, now))


async def _overview(gateway: Gateway, _: QueryTarget, args: QueryArgs, now: datetime) -> object:
    return await compute_overview(gateway, parse_overview(args, now))


CHECKS: Mapping[str, QueryCheck] = {
    EVENTS_LIST: _events_page,
    TIMESERIES: _timeseries,
    HEATMAP: _heatmap,
    TOP: _top,
    OVERVIEW: _overview,
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
    args = MultiDict(target.params)
    try:
        await CHECKS[target.route](current_deps().gateway, target, args, answers.now())
    except QueryRefused as refusal:  # PostgreSQL cannot answer it for the stored data
        raise invalid_query([{"field": "query", "message": str(refusal)}]) from None
    except ProblemError as refusal:
        if refusal.status != 400:  # not the query's fault (the database is down): as it is
            raise
        raise invalid_query(named_errors(refusal)) from None
