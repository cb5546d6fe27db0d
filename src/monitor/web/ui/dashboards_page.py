"""The Dashboards pages: the list, one dashboard on its grid, export and import.

The list and a dashboard are read by storage/dashboards.py as the API reads
them; each widget is drawn from its route's shared answer (widget_answers.py,
widget_view.py); export is the API's export document; import is checked and
saved by the API's own steps, so the same document is refused alike and the
same audit row is written (decision 0052).

Places on the grid are a stylesheet of the dashboard's own
(`/ui/dashboards/<id>/grid.css`): the pages' Content-Security-Policy allows
no inline style, and a widget may sit on any of 10,000 rows.
"""

from __future__ import annotations

import re

from quart import Blueprint, Response, request

from monitor.domain.keys import Role
from monitor.storage import dashboards as store
from monitor.storage.dashboard_rows import (
    DashboardFields,
    WidgetRecord,
)
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboard import answers
from monitor.web.api.dashboards.answers import export_json
from monitor.web.api.dashboards.bodies import IMPORT_BODY_BYTES, invalid, parse_model
from monitor.web.api.dashboards.checked_widgets import imported_widgets
from monitor.web.api.dashboards.schemas import DashboardExport
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.problems import ProblemError
from monitor.web.ui.dashboard_pages import (
    DASHBOARDS,
    ONE,
    api_steps,
    dashboard_document,
    notice,
    page,
    see_other,
)
from monitor.web.ui.pages import session_page
from monitor.web.ui.widget_answers import widget_answer
from monitor.web.ui.widget_view import widget_view

blueprint = Blueprint("ui_dashboards", __name__)


@blueprint.get(DASHBOARDS.path)
@session_page(DASHBOARDS.role)
async def dashboards() -> Response:
    with api_steps():
        found = await store.list_dashboards(current_deps().gateway)
    return await page("dashboards.html", dashboards=found, notice=notice())


@blueprint.get(ONE)
@session_page(DASHBOARDS.role)
async def dashboard(dashboard_id: int) -> Response:
    document = await dashboard_document(dashboard_id)
    now = answers.now()
    views = []
    with api_steps():
        # One after another, as the overview: a hit (nearly every view) costs nothing.
        for widget in document.widgets:
            views.append(widget_view(await widget_answer(widget, now)))
    return await page("dashboard.html", document=document, widgets=views, notice=notice())


def _grid_rule(widget: WidgetRecord) -> str:
    return (
        f"#widget-{widget.id}{{grid-column:{widget.x + 1}/span {widget.w};"
        f"grid-row:{widget.y + 1}/span {widget.h}}}"
    )


@blueprint.get(ONE + "/grid.css")
@session_page(DASHBOARDS.role)
async def grid_css(dashboard_id: int) -> Response:
    """Each widget's place on the 12-column grid (x, y, w, h → grid-column, grid-row)."""
    document = await dashboard_document(dashboard_id)
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
    document = await dashboard_document(dashboard_id)
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
    with api_steps():
        widgets = await imported_widgets(data)
        document = await store.import_dashboard(
            current_deps().gateway,
            DashboardFields(data.dashboard.name, data.dashboard.description, False),
            widgets,
            by=request_attribution(),
        )
    return see_other(f"{DASHBOARDS.path}/{document.dashboard.id}?saved=imported")
