"""Moving and resizing a dashboard's widgets: a form of places, and step buttons.

Each widget's x, y, w and h are number fields, saved together through the
layout route's steps (`bodies.layout_moves`, `storage.dashboards.set_layout`):
all or nothing, one `layout` audit row. Each widget also has ← → ↑ ↓,
narrower and wider buttons: submit buttons (`nudge=<id>:<way>`), so they work
without JavaScript, and each saves one step at once. The form carries the
dashboard's version: a layout changed meanwhile is a 412 page.

With JavaScript, the grid above the form (static/dashboard_arrange.js) lets
a widget be dragged and resized; it fills in the same fields and posts the
same form with `Accept: application/json`, and is answered 200 with the new
version instead of the 303 a browser's form gets, so its next save carries
it. A refused or stale save is the same page as for the form, with the same
status, which the script shows above the grid.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from monitor.domain.dashboards import StaleVersion
from monitor.domain.keys import Role
from monitor.storage import dashboards as store
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboards.bodies import invalid, layout_moves, parse_model
from monitor.web.api.dashboards.schemas import LayoutIn
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.ui.dashboard_pages import (
    DASHBOARDS,
    ONE,
    api_steps,
    dashboard_document,
    json_text,
    notice,
    page,
    see_other,
    stale_page,
    version_condition,
    whole,
)
from monitor.web.ui.pages import session_page

blueprint = Blueprint("ui_dashboard_layout", __name__)

# Which way a nudge button moves or resizes its widget: (dx, dy, dw).
NUDGES = {
    "left": (-1, 0, 0),
    "right": (1, 0, 0),
    "up": (0, -1, 0),
    "down": (0, 1, 0),
    "wider": (0, 0, 1),
    "narrower": (0, 0, -1),
}


@blueprint.get(ONE + "/arrange")
@session_page(Role.WRITE)
async def arrange(dashboard_id: int) -> Response:
    return await page(
        "dashboard_arrange.html", document=await dashboard_document(dashboard_id), notice=notice()
    )


def _layout_items(form: Any) -> list[dict[str, Any]]:
    ids, columns = form.getlist("id"), {name: form.getlist(name) for name in "xywh"}
    if any(len(values) != len(ids) for values in columns.values()):
        raise invalid([{"field": "widgets", "message": "every widget needs x, y, w and h"}])
    items = [
        {"id": whole(widget_id), **{name: whole(columns[name][n]) for name in "xywh"}}
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


def _wants_json() -> bool:
    """The arrange page's script, which stays on the page, rather than a form post."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


@blueprint.post(ONE + "/layout")
@session_page(Role.WRITE)
async def save_layout(dashboard_id: int) -> Response:
    """The layout form (or one nudge button): saved through the layout route's steps."""
    form = await request.form
    condition = version_condition(form)
    data = parse_model(LayoutIn, json_text({"widgets": _layout_items(form)}))
    moves = layout_moves(data)
    try:
        with api_steps():
            saved = await store.set_layout(
                current_deps().gateway,
                dashboard_id,
                moves,
                condition=condition,
                by=request_attribution(),
            )
    except StaleVersion as refusal:
        return await stale_page("dashboard", f"{DASHBOARDS.path}/{dashboard_id}/arrange", refusal)
    if _wants_json():
        answer = json_response({"version": saved.dashboard.version})
        answer.headers["Cache-Control"] = "no-store"
        return answer
    if form.get("nudge"):
        return see_other(f"{DASHBOARDS.path}/{dashboard_id}/arrange?saved=layout")
    return see_other(f"{DASHBOARDS.path}/{dashboard_id}?saved=layout")
