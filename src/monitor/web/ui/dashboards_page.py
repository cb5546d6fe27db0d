"""The Dashboards pages: the list, one dashboard on its grid, and their changes.

Everything goes through the dashboard API's own functions: the list and a
dashboard are read by storage/dashboards.py as the API reads them; each
widget is drawn from its route's shared answer (widget_answers.py); export
is the API's export document; import, a widget's form and the layout form
are checked and saved by the API's own steps (checked_widgets.py,
bodies.layout_moves, storage), so the same input is refused the same way
and the same audit row is written.

Places on the grid are a stylesheet of the dashboard's own
(`/ui/dashboards/<id>/grid.css`): the pages' Content-Security-Policy allows
no inline style, and a widget may sit on any of 10,000 rows.

Forms carry the version they were read at; a save over a newer version is
refused (412) with a page that says someone else changed it and links back.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from quart import Blueprint, Response, request

from monitor.domain.dashboards import DashboardRefused, StaleVersion, VersionCondition
from monitor.domain.grid import Placement
from monitor.domain.keys import Role
from monitor.domain.widget_queries import WIDGET_KINDS, QueryProblems, query_parameters
from monitor.storage import dashboards as store
from monitor.storage import widgets as widget_store
from monitor.storage.dashboard_rows import (
    DashboardDocument,
    DashboardFields,
    WidgetFields,
    WidgetRecord,
)
from monitor.storage.errors import StorageUnavailable
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboard import answers
from monitor.web.api.dashboards.answers import MAX_ID, export_json, problem_for
from monitor.web.api.dashboards.bodies import IMPORT_BODY_BYTES, invalid, layout_moves, parse_model
from monitor.web.api.dashboards.checked_widgets import checked_fields, imported_widgets
from monitor.web.api.dashboards.schemas import DashboardExport, LayoutIn, WidgetIn, WidgetReplace
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.sessions import current_session
from monitor.web.ui.navigation import page_named
from monitor.web.ui.overview_view import utc_label
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page
from monitor.web.ui.widget_answers import widget_answer
from monitor.web.ui.widget_view import figure, widget_view

blueprint = Blueprint("ui_dashboards", __name__)

DASHBOARDS = page_named("dashboards")
ONE = DASHBOARDS.path + "/<int:dashboard_id>"
NOTICES = {
    "layout": "The layout is saved.",
    "widget": "The widget is saved.",
    "imported": "The dashboard is imported.",
}
MAX_QUERY_FIELDS = 200
# Which way a nudge button moves or resizes its widget: (dx, dy, dw).
NUDGES = {
    "left": (-1, 0, 0),
    "right": (1, 0, 0),
    "up": (0, -1, 0),
    "down": (0, 1, 0),
    "wider": (0, 0, 1),
    "narrower": (0, 0, -1),
}


@contextlib.contextmanager
def _api_steps() -> Iterator[None]:
    """An outage is a 503 page with Retry-After; a refused change the API's problem."""
    try:
        yield
    except StorageUnavailable as outage:
        raise ProblemError(
            503,
            "the database cannot be reached just now; try again in a moment",
            kind="storage-unavailable",
            headers={"Retry-After": str(outage.retry_after_seconds)},
        ) from None
    except StaleVersion:
        raise
    except DashboardRefused as refusal:
        raise problem_for(refusal) from None


def _not_found(what: str, item_id: int) -> ProblemError:
    return ProblemError(404, f"no {what} with id {item_id}", kind="not-found")


async def _document(dashboard_id: int) -> DashboardDocument:
    if dashboard_id > MAX_ID:
        raise _not_found("dashboard", dashboard_id)
    with _api_steps():
        document = await store.get_dashboard(current_deps().gateway, dashboard_id)
    if document is None:
        raise _not_found("dashboard", dashboard_id)
    return document


async def _page(template: str, *, status: int = 200, **context: Any) -> Response:
    session = await current_session()
    assert session is not None  # session_page saw it
    return await render_page(
        template,
        session=session,
        current=DASHBOARDS,
        status=status,
        may_change=session.principal.role.may(Role.WRITE),
        utc_label=utc_label,
        figure=figure,
        **context,
    )


def _see_other(location: str) -> Response:
    return Response("", status=303, headers={"Location": location, "Cache-Control": "no-store"})


async def _stale(what: str, back: str, refusal: StaleVersion) -> Response:
    return await _page(
        "dashboard_stale.html",
        status=412,
        what=what,
        back=back,
        current_version=refusal.current,
    )


def _notice() -> str | None:
    return NOTICES.get(request.args.get("saved", ""))


@blueprint.get(DASHBOARDS.path)
@session_page(DASHBOARDS.role)
async def dashboards() -> Response:
    with _api_steps():
        found = await store.list_dashboards(current_deps().gateway)
    return await _page("dashboards.html", dashboards=found)


@blueprint.get(ONE)
@session_page(DASHBOARDS.role)
async def dashboard(dashboard_id: int) -> Response:
    document = await _document(dashboard_id)
    now = answers.now()
    views = []
    with _api_steps():
        # One after another, as the overview: a hit (nearly every view) costs nothing.
        for widget in document.widgets:
            views.append(widget_view(await widget_answer(widget, now)))
    return await _page("dashboard.html", document=document, widgets=views, notice=_notice())


def _grid_rule(widget: WidgetRecord) -> str:
    return (
        f"#widget-{widget.id}{{grid-column:{widget.x + 1}/span {widget.w};"
        f"grid-row:{widget.y + 1}/span {widget.h}}}"
    )


@blueprint.get(ONE + "/grid.css")
@session_page(DASHBOARDS.role)
async def grid_css(dashboard_id: int) -> Response:
    """Each widget's place on the 12-column grid (x, y, w, h → grid-column, grid-row)."""
    document = await _document(dashboard_id)
    css = "\n".join(_grid_rule(widget) for widget in document.widgets) + "\n"
    response = Response(css, content_type="text/css; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


def _file_name(name: str) -> str:
    return (re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "dashboard")[:80] + ".json"


@blueprint.get(ONE + "/export")
@session_page(DASHBOARDS.role)
async def export(dashboard_id: int) -> Response:
    """The API's export document, as a download."""
    document = await _document(dashboard_id)
    response = json_response(export_json(document))
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{_file_name(document.dashboard.name)}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def _import_text() -> str:
    files = await request.files
    upload = files.get("file")
    if upload is not None and upload.filename:
        raw: bytes = upload.read(IMPORT_BODY_BYTES + 1)
    else:
        raw = ((await request.form).get("document") or "").encode()
    if len(raw) > IMPORT_BODY_BYTES:
        raise ProblemError(413, f"the document is larger than {IMPORT_BODY_BYTES} bytes")
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise invalid([{"field": "document", "message": "is not UTF-8"}]) from None


@blueprint.post(DASHBOARDS.path + "/import")
@session_page(Role.WRITE)
async def import_dashboard() -> Response:
    text = await _import_text()
    if not text.strip():
        raise invalid([{"field": "document", "message": "give an exported dashboard (JSON)"}])
    data = parse_model(DashboardExport, text)
    with _api_steps():
        widgets = await imported_widgets(data)
        document = await store.import_dashboard(
            current_deps().gateway,
            DashboardFields(data.dashboard.name, data.dashboard.description, False),
            widgets,
            by=request_attribution(),
        )
    return _see_other(f"{DASHBOARDS.path}/{document.dashboard.id}?saved=imported")


def _whole(raw: str | None) -> int | str | None:
    """A form's number as an int, or as given so the model names it as not one."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    return int(text) if text.isascii() and text.lstrip("-").isdigit() and len(text) < 20 else text


def _version(form: Mapping[str, str]) -> VersionCondition:
    raw = form.get("version", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise invalid([{"field": "version", "message": "the form's version is missing"}])
    return VersionCondition(frozenset({str(int(raw))}))


@blueprint.get(ONE + "/arrange")
@session_page(Role.WRITE)
async def arrange(dashboard_id: int) -> Response:
    return await _page(
        "dashboard_arrange.html", document=await _document(dashboard_id), notice=_notice()
    )


def _layout_items(form: Any) -> list[dict[str, Any]]:
    ids, columns = form.getlist("id"), {name: form.getlist(name) for name in "xywh"}
    if any(len(values) != len(ids) for values in columns.values()):
        raise invalid([{"field": "widgets", "message": "every widget needs x, y, w and h"}])
    items = [
        {"id": _whole(widget_id), **{name: _whole(columns[name][n]) for name in "xywh"}}
        for n, widget_id in enumerate(ids)
    ]
    nudge = form.get("nudge", "")
    target, _, way = nudge.partition(":")
    if way in NUDGES:
        dx, dy, dw = NUDGES[way]
        for item in items:
            x, y, w = item["x"], item["y"], item["w"]
            if str(item["id"]) == target and isinstance(x, int) and isinstance(y, int):
                item["x"], item["y"] = max(x + dx, 0), max(y + dy, 0)
                if isinstance(w, int):
                    item["w"] = max(w + dw, 1)
    return items


@blueprint.post(ONE + "/layout")
@session_page(Role.WRITE)
async def save_layout(dashboard_id: int) -> Response:
    """The layout form (or one nudge button): saved through the layout route's steps."""
    form = await request.form
    condition = _version(form)
    data = parse_model(LayoutIn, _json_of({"widgets": _layout_items(form)}))
    moves = layout_moves(data)
    try:
        with _api_steps():
            await store.set_layout(
                current_deps().gateway,
                dashboard_id,
                moves,
                condition=condition,
                by=request_attribution(),
            )
    except StaleVersion as refusal:
        return await _stale("dashboard", f"{DASHBOARDS.path}/{dashboard_id}/arrange", refusal)
    if form.get("nudge"):
        return _see_other(f"{DASHBOARDS.path}/{dashboard_id}/arrange?saved=layout")
    return _see_other(f"{DASHBOARDS.path}/{dashboard_id}?saved=layout")


def _json_of(value: Any) -> str:
    return json.dumps(value)


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
        "w": _whole(form.get("w")),
        "h": _whole(form.get("h")),
    }
    for name in ("x", "y"):
        if (value := _whole(form.get(name))) is not None:
            body[name] = value
    return {name: value for name, value in body.items() if value is not None}


async def _widget_of(dashboard_id: int, widget_id: int) -> WidgetRecord:
    if widget_id > MAX_ID:
        raise _not_found("widget", widget_id)
    with _api_steps():
        widget = await widget_store.get_widget(current_deps().gateway, widget_id)
    if widget is None or widget.dashboard_id != dashboard_id:
        raise _not_found("widget", widget_id)
    return widget


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
        "options": _json_of(widget.options),
        **{name: str(getattr(widget, name)) for name in "xywh"},
        "version": str(widget.version),
    }


async def _widget_form(
    document: DashboardDocument,
    widget: WidgetRecord | None,
    values: Mapping[str, str],
    problem: ProblemError | None = None,
    preview: dict[str, Any] | None = None,
) -> Response:
    """The form, empty, as stored, or as sent with what was refused (its fields kept)."""
    return await _page(
        "dashboard_widget.html",
        status=problem.status if problem else 200,
        document=document,
        editing=widget,
        kinds=WIDGET_KINDS,
        values=values,
        problem=problem,
        preview=preview,
    )


async def _previewed(
    document: DashboardDocument,
    widget: WidgetRecord | None,
    values: Mapping[str, str],
    fields: WidgetFields,
) -> Response:
    """The form as sent, with the widget drawn as it would be: nothing is stored."""
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
    view = widget_view(await widget_answer(drawn, now))
    return await _widget_form(document, widget, values, preview=view)


@blueprint.get(ONE + "/widgets/new")
@session_page(Role.WRITE)
async def new_widget(dashboard_id: int) -> Response:
    return await _widget_form(await _document(dashboard_id), None, _values_of(None))


@blueprint.get(ONE + "/widgets/<int:widget_id>")
@session_page(Role.WRITE)
async def edit_widget(dashboard_id: int, widget_id: int) -> Response:
    document = await _document(dashboard_id)
    widget = await _widget_of(dashboard_id, widget_id)
    return await _widget_form(document, widget, _values_of(widget))


# A refusal the user can correct in the form: shown with the form, as they typed it.
CORRECTABLE = frozenset({400, 409})


@blueprint.post(ONE + "/widgets")
@session_page(Role.WRITE)
async def create_widget(dashboard_id: int) -> Response:
    form = await request.form
    document = await _document(dashboard_id)
    try:
        data = parse_model(WidgetIn, _json_of(_widget_body(form, dashboard_id)))
        with _api_steps():
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
    return _see_other(f"{DASHBOARDS.path}/{dashboard_id}?saved=widget")


@blueprint.post(ONE + "/widgets/<int:widget_id>")
@session_page(Role.WRITE)
async def save_widget(dashboard_id: int, widget_id: int) -> Response:
    form = await request.form
    condition = _version(form)
    document = await _document(dashboard_id)
    widget = await _widget_of(dashboard_id, widget_id)
    try:
        data = parse_model(WidgetReplace, _json_of(_widget_body(form, dashboard_id)))
        with _api_steps():
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
        return await _stale("widget", back, refusal)
    except ProblemError as refused:
        if refused.status not in CORRECTABLE:
            raise
        return await _widget_form(document, widget, form, refused)
    return _see_other(f"{DASHBOARDS.path}/{dashboard_id}?saved=widget")
