"""What a dashboard widget shows: the answer of the API route that draws it.

The route follows from the widget's kind and query (domain/widget_queries.py
`widget_target`); its parameters are parsed by that route's own parser and
its answer taken through `shared_body`, so a widget on the page costs what
the same API call costs: once per tick for everybody asking the same. The
events list is not a shared answer in the API either; it is read as the API
reads it, newest first, at most EVENTS_SHOWN.

A widget whose query its route now refuses (a metric renamed, a rule
tightened) is shown with the refusal instead of failing the whole
dashboard; an outage still fails the page (503).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import msgspec
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
from monitor.storage.dashboard_rows import WidgetRecord
from monitor.storage.errors import QueryRefused
from monitor.web.api.dashboard import heatmap, overview, timeseries, top
from monitor.web.api.dashboard.answers import shared_body
from monitor.web.api.events.query import parse_event_filter, parse_page
from monitor.web.api.events.rows import level_name
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import QueryArgs

EVENTS_SHOWN = 20

_decode = msgspec.json.Decoder().decode

Answer = Callable[[QueryTarget, QueryArgs, datetime], Awaitable[Any]]


@dataclass(frozen=True)
class WidgetAnswer:
    widget: WidgetRecord
    answer: Any  # the route's answer as its JSON decodes; None when refused
    refused: str | None  # why its route refuses the query now


async def _timeseries(_: QueryTarget, args: QueryArgs, now: datetime) -> Any:
    asked = timeseries.parse_timeseries(args, now)
    return _decode(await shared_body(timeseries.ROUTE, asked, timeseries.compute_timeseries))


async def _heatmap(_: QueryTarget, args: QueryArgs, now: datetime) -> Any:
    asked = heatmap.parse_heatmap(args, now)
    return _decode(await shared_body(heatmap.ROUTE, asked, heatmap.compute_heatmap))


async def _top(target: QueryTarget, args: QueryArgs, now: datetime) -> Any:
    kind = target.path.rpartition("/")[2]  # widget_target put the list's type in the path
    asked = top.parse_top(kind, args, now)
    return _decode(await shared_body(f"/dashboard/top/{kind}", asked, top.compute_top))


async def _overview(_: QueryTarget, args: QueryArgs, now: datetime) -> Any:
    asked = overview.parse_overview(args, now)
    return _decode(await shared_body(overview.ROUTE, asked, overview.compute_overview))


async def _events(_: QueryTarget, args: QueryArgs, __: datetime) -> Any:
    event_filter = parse_event_filter(args)
    limit, before = parse_page(args)
    found = await event_store.list_events(
        current_deps().gateway, event_filter, limit=min(limit, EVENTS_SHOWN), before=before
    )
    return [
        {
            "id": str(event.id),
            "time": event.time,
            "level": level_name(event.level),
            "type": event.type,
            "source": event.source,
            "message": event.message,
        }
        for event in found
    ]


ANSWERS: Mapping[str, Answer] = {
    EVENTS_LIST: _events,
    TIMESERIES: _timeseries,
    HEATMAP: _heatmap,
    TOP: _top,
    OVERVIEW: _overview,
}


async def widget_answer(widget: WidgetRecord, now: datetime) -> WidgetAnswer:
    """The widget's answer at `now`, or why its route refuses its query."""
    try:
        target = widget_target(cast(WidgetKind, widget.kind), widget.query)
        answer = await ANSWERS[target.route](target, MultiDict(target.params), now)
    except QueryProblems as problems:
        return WidgetAnswer(widget, None, str(problems))
    except QueryRefused as refusal:
        return WidgetAnswer(widget, None, str(refusal))
    except ProblemError as refusal:
        if refusal.status != 400:  # not the query's fault (an outage): the page's
            raise
        named = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in refusal.errors or ())
        return WidgetAnswer(widget, None, named or refusal.detail)
    return WidgetAnswer(widget, answer, None)
