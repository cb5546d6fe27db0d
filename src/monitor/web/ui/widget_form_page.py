"""A widget's form: add, edit, preview, through the widget routes' own steps.

The query is edited as the query string of the route that draws it
(`kind=events&group_by=level&range=24h`; a repeated parameter is a list),
options as JSON. Saving goes through `checked_fields` and the widget store,
as `POST` and `PUT /api/v1/dashboard/widgets` do (same refusals, same audit
rows); a refusal the user can correct (400, 409) shows the form again as
typed with the reasons. The form carries the widget's version: a save over
a newer one is a 412 page.

The preview checks as saving would and draws the widget from its route's
answer, storing nothing: below the form as it is opened, after "Preview"
(a post, without JavaScript), and with JavaScript as the fields change (htmx
posts the form to `…/preview`, debounced, a newer request replacing one
still running, and only the preview's region is redrawn).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from quart import Blueprint, Response, request

from monitor.domain.dashboards import StaleVersion
from monitor.domain.grid import Placement
from monitor.domain.keys import Role
from monitor.domain.widget_queries import WIDGET_KINDS, QueryProblems, query_parameters
from monitor.storage import widgets as widget_store
from monitor.storage.dashboard_rows import (
    DashboardDocument,
    WidgetFields,
    WidgetRecord,
)
from monitor.web.api.dashboard import answers
from monitor.web.api.dashboards.bodies import invalid, parse_model
from monitor.web.api.dashboards.checked_widgets import checked_fields
from monitor.web.api.dashboards.schemas import WidgetIn, WidgetReplace
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.problems import ProblemError
from monitor.web.ui.dashboard_pages import (
    DASHBOARDS,
    ONE,
    api_steps,
    dashboard_document,
    json_text,
    page,
    see_other,
    stale_page,
    version_condition,
    whole,
    widget_of,
)
from monitor.web.ui.pages import session_page
from monitor.web.ui.widget_answers import widget_answer
from monitor.web.ui.widget_view import widget_view

blueprint = Blueprint("ui_widget_form", __name__)

MAX_QUERY_FIELDS = 200
UNTITLED = "Unnamed widget"
# A refusal the user can correct in the form: shown with the form, as they typed it.
CORRECTABLE = frozenset({400, 409})


def query_text(query: Mapping[str, Any]) -> str:
    """A widget's query as the query string of the route that draws it."""
    try:
        return urlencode(query_parameters(query))
    except QueryProblems:
        return ""


def parsed_query(text: str) -> dict[str, Any]:
    """The form's query string as a widget's query: a repeated parameter is a list."""
    try:
        pairs = parse_qsl(
            text.strip().lstrip("?"), keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS
        )
    except ValueError as problem:
        raise invalid([{"field": "query", "message": str(problem)}]) from None
    query: dict[str, Any] = {}
    for name, value in pairs:
        if name in query:
            held = query[name]
            query[name] = [*held, value] if isinstance(held, list) else [held, value]
        else:
            query[name] = value
    return query


def _options(text: str) -> Any:
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError as problem:
        raise invalid([{"field": "options", "message": f"is not JSON: {problem}"}]) from None


def _widget_body(form: Mapping[str, str], dashboard_id: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dashboard_id": dashboard_id,
        "title": form.get("title", ""),
        "kind": form.get("kind", ""),
        "query": parsed_query(form.get("query", "")),
        "options": _options(form.get("options", "")),
        "w": whole(form.get("w")),
        "h": whole(form.get("h")),
    }
    for name in ("x", "y"):
        if (value := whole(form.get(name))) is not None:
            body[name] = value
    return {name: value for name, value in body.items() if value is not None}


def _values_of(widget: WidgetRecord | None) -> dict[str, str]:
    """A widget's fields as its form shows them (a new widget's: the defaults)."""
    if widget is None:
        return {
            "title": "",
            "kind": "timeseries",
            "query": "kind=events&range=24h",
            "options": "{}",
            "x": "",
            "y": "",
            "w": "6",
            "h": "4",
        }
    return {
        "title": widget.title,
        "kind": widget.kind,
        "query": query_text(widget.query),
        "options": json_text(widget.options),
        **{name: str(getattr(widget, name)) for name in "xywh"},
        "version": str(widget.version),
    }


async def _widget_form(
    document: DashboardDocument,
    widget: WidgetRecord | None,
    values: Mapping[str, str],
    problem: ProblemError | None = None,
    preview: dict[str, Any] | None = None,
    preview_problem: ProblemError | None = None,
) -> Response:
    """The form, empty, as stored, or as sent with what was refused (its fields kept)."""
    return await page(
        "dashboard_widget.html",
        status=problem.status if problem else 200,
        document=document,
        editing=widget,
        kinds=WIDGET_KINDS,
        values=values,
        problem=problem,
        preview=preview,
        preview_problem=preview_problem,
    )


async def _drawn(
    document: DashboardDocument, widget: WidgetRecord | None, fields: WidgetFields
) -> dict[str, Any]:
    """The widget as the form's fields would draw it: nothing is stored."""
    place = fields.placement or Placement(0, 0, *fields.size)
    now = answers.now()
    drawn = WidgetRecord(
        id=0,  # not a stored widget's: the preview's ids cannot clash with one
        dashboard_id=document.dashboard.id,
        title=fields.title,
        kind=fields.kind,
        query=dict(fields.query),
        options=dict(fields.options),
        x=place.x,
        y=place.y,
        w=place.w,
        h=place.h,
        version=widget.version if widget else 0,
        created_at=now,
        created_by="preview",
        updated_at=now,
        updated_by="preview",
    )
    return widget_view(await widget_answer(drawn, now))


async def _previewed(
    document: DashboardDocument,
    widget: WidgetRecord | None,
    values: Mapping[str, str],
    fields: WidgetFields,
) -> Response:
    """The form as sent, with the widget drawn below it (the "Preview" button)."""
    view = await _drawn(document, widget, fields)
    return await _widget_form(document, widget, values, preview=view)


async def _preview_of(
    document: DashboardDocument,
    widget: WidgetRecord | None,
    values: Mapping[str, str],
    model: type[WidgetIn] | type[WidgetReplace],
) -> tuple[dict[str, Any] | None, ProblemError | None]:
    """The widget as the form's values would draw it, or why they cannot be drawn yet.

    Checked as saving would check them, but for an empty title: it is typed
    last as often as first, so until then the preview is "Unnamed widget" (saving
    still needs one, and the form's field says so).
    """
    try:
        body = _widget_body(values, document.dashboard.id)
        body["title"] = body["title"] or UNTITLED
        data = parse_model(model, json_text(body))
        with api_steps():
            return await _drawn(document, widget, await checked_fields(data)), None
    except ProblemError as refused:
        if refused.status not in CORRECTABLE:
            raise
        return None, refused


async def _live_preview(
    document: DashboardDocument,
    widget: WidgetRecord | None,
    model: type[WidgetIn] | type[WidgetReplace],
) -> Response:
    """Only the preview's region, for htmx as the form's fields change.

    What is wrong with a form still being typed is the answer (a 200 with the
    reasons in the region), not a refused request. Anything else (404, 503 ...)
    is the guard's problem page, which htmx puts in the region too.
    """
    view, problem = await _preview_of(document, widget, await request.form, model)
    return await page("dashboard_widget_preview.html", preview=view, preview_problem=problem)


@blueprint.get(ONE + "/widgets/new")
@session_page(Role.WRITE)
async def new_widget(dashboard_id: int) -> Response:
    document = await dashboard_document(dashboard_id)
    values = _values_of(None)
    view, problem = await _preview_of(document, None, values, WidgetIn)
    return await _widget_form(document, None, values, preview=view, preview_problem=problem)


@blueprint.get(ONE + "/widgets/<int:widget_id>")
@session_page(Role.WRITE)
async def edit_widget(dashboard_id: int, widget_id: int) -> Response:
    document = await dashboard_document(dashboard_id)
    widget = await widget_of(dashboard_id, widget_id)
    values = _values_of(widget)
    view, problem = await _preview_of(document, widget, values, WidgetReplace)
    return await _widget_form(document, widget, values, preview=view, preview_problem=problem)


@blueprint.post(ONE + "/widgets")
@session_page(Role.WRITE)
async def create_widget(dashboard_id: int) -> Response:
    form = await request.form
    document = await dashboard_document(dashboard_id)
    try:
        data = parse_model(WidgetIn, json_text(_widget_body(form, dashboard_id)))
        with api_steps():
            fields = await checked_fields(data)
            if form.get("preview"):
                return await _previewed(document, None, form, fields)
            await widget_store.create_widget(
                current_deps().gateway, fields, by=request_attribution()
            )
    except ProblemError as refused:
        if refused.status not in CORRECTABLE:
            raise
        return await _widget_form(document, None, form, refused)
    return see_other(f"{DASHBOARDS.path}/{dashboard_id}?saved=widget")


@blueprint.post(ONE + "/widgets/<int:widget_id>")
@session_page(Role.WRITE)
async def save_widget(dashboard_id: int, widget_id: int) -> Response:
    form = await request.form
    condition = version_condition(form)
    document = await dashboard_document(dashboard_id)
    widget = await widget_of(dashboard_id, widget_id)
    try:
        data = parse_model(WidgetReplace, json_text(_widget_body(form, dashboard_id)))
        with api_steps():
            fields = await checked_fields(data)
            if form.get("preview"):
                return await _previewed(document, widget, form, fields)
            await widget_store.update_widget(
                current_deps().gateway,
                widget_id,
                fields,
                condition=condition,
                by=request_attribution(),
            )
    except StaleVersion as refusal:
        back = f"{DASHBOARDS.path}/{dashboard_id}/widgets/{widget_id}"
        return await stale_page("widget", back, refusal)
    except ProblemError as refused:
        if refused.status not in CORRECTABLE:
            raise
        return await _widget_form(document, widget, form, refused)
    return see_other(f"{DASHBOARDS.path}/{dashboard_id}?saved=widget")


@blueprint.post(ONE + "/widgets/preview")
@session_page(Role.WRITE)
async def preview_new_widget(dashboard_id: int) -> Response:
    return await _live_preview(await dashboard_document(dashboard_id), None, WidgetIn)


@blueprint.post(ONE + "/widgets/<int:widget_id>/preview")
@session_page(Role.WRITE)
async def preview_widget(dashboard_id: int, widget_id: int) -> Response:
    document = await dashboard_document(dashboard_id)
    widget = await widget_of(dashboard_id, widget_id)
    return await _live_preview(document, widget, WidgetReplace)
