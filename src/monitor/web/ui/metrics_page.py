"""The Metrics explorer (read): one metrics query charted over a range, and "add to
dashboard" (write) for the query shown.

The URL holds the query (a GET form, see metric_form.py); the dashboard API's
timeseries route parses it (`kind=metric`, the metrics query's own parser)
and its answer is taken through `shared_body`, so the page shows exactly
what GET /api/v1/dashboard/timeseries answers for the same query, computed
once per tick for everybody. The answer is in the page as a JSON block for
the chart (static/metrics.js, uPlot) and as a table, the page without
JavaScript. Suggestions for names, labels and values come from the storage
functions the metrics API's name and label routes call, shared per minute.

"Add to dashboard" saves a timeseries widget with the query through the
widget routes' own checks and store call, so it is refused as the API
would refuse it and writes the API's audit row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from pydantic import ValidationError
from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from monitor.domain.dashboards import DashboardRefused
from monitor.domain.keys import Role
from monitor.domain.metrics import AGGREGATIONS
from monitor.domain.query_values import whole_number
from monitor.domain.ranges import RangeAsked, Window, resolve
from monitor.storage import dashboards as dashboard_store
from monitor.storage import metric_query
from monitor.storage import widgets as widget_store
from monitor.storage.gateway import Gateway
from monitor.web.api.dashboard import answers, timeseries
from monitor.web.api.dashboard.answers import shared_body
from monitor.web.api.dashboards.answers import problem_for
from monitor.web.api.dashboards.bodies import invalid
from monitor.web.api.dashboards.checked_widgets import checked_fields
from monitor.web.api.dashboards.schemas import WidgetIn
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.errors import field_errors
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.sessions import current_session
from monitor.web.ui.events_page import shown_as_a_page_if_down
from monitor.web.ui.metric_form import (
    FORM_PARAMETERS,
    MetricForm,
    api_args,
    form_fields,
    widget_query,
)
from monitor.web.ui.navigation import page_named
from monitor.web.ui.overview_view import RANGE_CHOICES
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page

blueprint = Blueprint("ui_metrics", __name__)

METRICS = page_named("metrics")
ADD_PATH = METRICS.path + "/add-to-dashboard"
DASHBOARDS_PATH = "/ui/dashboards"
DEFAULT_RANGE = "24h"  # the timeseries route's own default (domain/ranges.py)
# The chart and the table show the first series only, this many (a group_by over a label
# with many values would make an unreadable chart and a table too wide to use).
SHOWN_SERIES = 20
LABELS_SUGGESTED = 100
VALUES_SUGGESTED = 20
LABELS_WITH_VALUES = 5  # one query each: the labels whose values are suggested
SUGGESTIONS_ROUTE = "/ui/metrics/suggestions"  # their shared answers' key
SUGGESTIONS_TICK = timedelta(minutes=1)

_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True)
class Suggestions:
    names: list[str]
    labels: list[str]
    matchers: list[str]  # label=value


def series_label(labels: dict[str, str], name: str) -> str:
    """What a series is called in the legend and the table: its group's labels, or the
    metric's name when the query is not grouped."""
    return ", ".join(f"{key}={value}" for key, value in sorted(labels.items())) or name


@dataclass(frozen=True)
class SuggestionsAsked:
    """The names, or one metric's labels and values: shared for a minute by every view."""

    name: str  # "" for the metric names
    window: Window
    sets = frozenset[str]()

    def key_params(self) -> list[tuple[str, str]]:
        return [("name", self.name)]


async def compute_names(gateway: Gateway, _: SuggestionsAsked) -> list[str]:
    return [name for name, _, _, _ in await metric_query.metric_names(gateway)]


async def compute_labels(gateway: Gateway, asked: SuggestionsAsked) -> dict[str, list[str]]:
    labels = await metric_query.label_names(
        gateway, name=asked.name, source=None, limit=LABELS_SUGGESTED
    )
    matchers: list[str] = []
    for label in labels.items[:LABELS_WITH_VALUES]:
        values = await metric_query.label_values(
            gateway, label=label, name=asked.name, source=None, prefix="", limit=VALUES_SUGGESTED
        )
        matchers.extend(f"{label}={value}" for value in values.items)
    return {"labels": labels.items, "matchers": matchers}


async def _suggestions(form: MetricForm) -> Suggestions:
    """Shared per minute: seven queries on every view cost more than the chart (a cached
    answer), 20-60 ms on the bench data."""
    window = resolve(RangeAsked(length=SUGGESTIONS_TICK), SUGGESTIONS_TICK, answers.now())
    names = _decode(
        await shared_body(SUGGESTIONS_ROUTE, SuggestionsAsked("", window), compute_names)
    )
    if form.name not in names:
        return Suggestions(names, [], [])
    found = _decode(
        await shared_body(SUGGESTIONS_ROUTE, SuggestionsAsked(form.name, window), compute_labels)
    )
    return Suggestions(names, found["labels"], found["matchers"])


def value_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def _chart(answer: dict[str, Any]) -> dict[str, Any]:
    """The series the chart and the table show (the first SHOWN_SERIES), named; the
    table's rows, one per bucket, newest first."""
    asked = answer["queries"][0]
    shown = asked["series"][:SHOWN_SERIES]
    times: list[int] = answer["buckets"]
    rows = [
        (
            datetime.fromtimestamp(moment, UTC),
            [value_text(item["values"][index]) for item in shown],
        )
        for index, moment in reversed(list(enumerate(times)))
    ]
    return {
        "times": times,
        "series": [
            {"label": series_label(item["labels"], asked["name"]), "values": item["values"]}
            for item in shown
        ],
        "total": len(asked["series"]),
        "rows": rows,
        "interval": answer["interval"],
        "from": datetime.fromisoformat(answer["from"]),
        "to": datetime.fromisoformat(answer["to"]),
    }


@blueprint.get(METRICS.path)
@session_page(METRICS.role)
async def metrics_page() -> Response:
    session = await current_session()
    assert session is not None  # session_page saw it
    args, problems = api_args(request.args)
    form = form_fields(request.args)
    asked = None
    if form.asked or problems:
        try:
            asked = timeseries.parse_timeseries(args, answers.now())
        except ProblemError as refused:
            if refused.status != 400:
                raise
            problems += [dict(item) for item in refused.errors or ()] or [
                {"field": "query", "message": refused.detail}
            ]
    may_add = session.principal.role.may(Role.WRITE)
    with shown_as_a_page_if_down():
        suggestions = await _suggestions(form)
        answer = None
        if asked is not None and not problems:
            answer = _decode(
                await shared_body(timeseries.ROUTE, asked, timeseries.compute_timeseries)
            )
        dashboards = (
            await dashboard_store.list_dashboards(current_deps().gateway)
            if may_add and answer is not None
            else []
        )
    return await render_page(
        "metrics.html",
        status=400 if problems else 200,
        session=session,
        current=METRICS,
        form=form,
        problems=problems,
        answer=answer,
        chart=_chart(answer) if answer is not None else None,
        suggestions=suggestions,
        aggregations=AGGREGATIONS,
        range_choices=RANGE_CHOICES,
        default_range=DEFAULT_RANGE,
        may_add=may_add,
        dashboards=dashboards,
        add_path=ADD_PATH,
        widget_title=_widget_title(form),
    )


def _widget_title(form: MetricForm) -> str:
    title = f"{form.name} ({form.aggregation or 'avg'})"
    return title + (f" by {form.group_by}" if form.group_by else "")


def _dashboard_id(raw: str | None) -> int:
    try:
        return whole_number(raw or "", 1, 2**63 - 1)
    except ValueError as problem:
        raise invalid([{"field": "dashboard_id", "message": str(problem)}]) from None


@blueprint.post(ADD_PATH)
@session_page(Role.WRITE)
async def add_to_dashboard() -> Response:
    form = await request.form
    query_args, problems = api_args(
        MultiDict([(key, value) for key, value in form.items(multi=True) if key in FORM_PARAMETERS])
    )
    if problems:
        raise invalid([{**item, "field": f"query.{item['field']}"} for item in problems])
    dashboard_id = _dashboard_id(form.get("dashboard_id"))
    try:
        data = WidgetIn.model_validate(
            {
                "dashboard_id": dashboard_id,
                "title": form.get("title", ""),
                "kind": "timeseries",
                "query": widget_query(query_args),
            }
        )
    except ValidationError as error:
        raise invalid(field_errors(error)) from None
    with shown_as_a_page_if_down():
        try:
            fields = await checked_fields(data)
            created = await widget_store.create_widget(
                current_deps().gateway, fields, by=request_attribution()
            )
        except DashboardRefused as refusal:
            raise problem_for(refusal) from None
    # The dashboard's own page (branch i-dashboards) says "The widget is saved." for this.
    location = f"{DASHBOARDS_PATH}/{created.dashboard_id}?saved=widget#widget-{created.id}"
    return Response("", status=303, headers={"Location": location, "Cache-Control": "no-store"})
