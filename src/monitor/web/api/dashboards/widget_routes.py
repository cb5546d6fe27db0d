"""Widgets (under /api/v1/dashboard): read to view, write to change.

A widget's query is checked and run once when it is saved (widget_queries.py);
its place must lie on its dashboard's grid without covering another widget.
`PUT` and `DELETE` honour If-Match (web/edge/preconditions.py).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request
from quart_schema import (
    document_headers,
    document_querystring,
    document_request,
    document_response,
    tag,
)

from monitor.domain.dashboards import DashboardRefused
from monitor.domain.keys import Role
from monitor.domain.query_values import whole_number
from monitor.storage import dashboards as dashboard_store
from monitor.storage import widgets as store
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboards.answers import (
    MAX_ID,
    existing_id,
    not_found,
    refused,
    widget_json,
    widget_response,
)
from monitor.web.api.dashboards.bodies import WIDGET_BODY_BYTES, read_model
from monitor.web.api.dashboards.checked_widgets import checked_fields
from monitor.web.api.dashboards.schemas import (
    IfMatchHeader,
    WidgetIn,
    WidgetList,
    WidgetListQuery,
    WidgetOut,
    WidgetReplace,
)
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.auth import require_role
from monitor.web.edge.preconditions import if_match
from monitor.web.edge.query_checks import invalid_query

blueprint = Blueprint("widgets", __name__)
blueprint.register_error_handler(DashboardRefused, refused)

DEFAULT_PAGE = 100
MAX_PAGE = 1000
LIST_PARAMETERS = frozenset({"dashboard_id", "after", "limit"})


def _number(name: str, default: int | None, low: int, errors: list[dict[str, Any]]) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return whole_number(raw, low, MAX_PAGE if name == "limit" else MAX_ID)
    except ValueError as problem:
        errors.append({"field": name, "message": str(problem)})
        return default


@blueprint.get("/widgets")
@require_role(Role.READ)
@tag(["dashboards"])
@document_querystring(WidgetListQuery)
@document_response(WidgetList, 200)
async def list_widgets() -> Response:
    """Widgets by id, of every dashboard or of `dashboard_id`, a page at a time."""
    errors: list[dict[str, Any]] = [
        {"field": name, "message": "is not a known parameter"}
        for name in request.args
        if name not in LIST_PARAMETERS
    ]
    dashboard_id = _number("dashboard_id", None, 1, errors)
    after = _number("after", None, 0, errors)
    limit = _number("limit", DEFAULT_PAGE, 1, errors) or DEFAULT_PAGE
    if errors:
        raise invalid_query(errors)
    gateway = current_deps().gateway
    found = await store.list_widgets(
        gateway, dashboard_id=dashboard_id, after=after, limit=limit + 1
    )
    if (
        dashboard_id is not None
        and not found
        and await dashboard_store.get_dashboard(gateway, dashboard_id) is None
    ):
        raise not_found("dashboard", dashboard_id)
    page = found[:limit]
    return json_response(
        {
            "widgets": [widget_json(widget) for widget in page],
            "next_after": page[-1].id if len(found) > limit else None,
        }
    )


@blueprint.post("/widgets")
@require_role(Role.WRITE)
@tag(["dashboards"])
@document_request(WidgetIn)
@document_response(WidgetOut, 201)
async def create_widget() -> Response:
    """Add a widget. Its query is checked and run once: an invalid one is a 400 naming it."""
    fields = await checked_fields(await read_model(WidgetIn, WIDGET_BODY_BYTES))
    created = await store.create_widget(current_deps().gateway, fields, by=request_attribution())
    response = widget_response(created, 201)
    response.headers["Location"] = f"{request.path}/{created.id}"
    return response


@blueprint.get("/widgets/<int:widget_id>")
@require_role(Role.READ)
@tag(["dashboards"])
@document_response(WidgetOut, 200)
async def get_widget(widget_id: int) -> Response:
    """A widget; its version is also the `ETag`."""
    found = await store.get_widget(current_deps().gateway, existing_id("widget", widget_id))
    if found is None:
        raise not_found("widget", widget_id)
    return widget_response(found)


@blueprint.put("/widgets/<int:widget_id>")
@require_role(Role.WRITE)
@tag(["dashboards"])
@document_headers(IfMatchHeader)
@document_request(WidgetReplace)
@document_response(WidgetOut, 200)
async def replace_widget(widget_id: int) -> Response:
    """Replace a widget (every field; `dashboard_id` moves it). With If-Match naming an
    older version: 412 and nothing changes. Without: the last write wins."""
    condition = if_match()
    existing_id("widget", widget_id)
    fields = await checked_fields(await read_model(WidgetReplace, WIDGET_BODY_BYTES))
    updated = await store.update_widget(
        current_deps().gateway,
        widget_id,
        fields,
        condition=condition,
        by=request_attribution(),
    )
    return widget_response(updated)


@blueprint.delete("/widgets/<int:widget_id>")
@require_role(Role.WRITE)
@tag(["dashboards"])
@document_headers(IfMatchHeader)
async def delete_widget(widget_id: int) -> Response:
    """Delete a widget (If-Match honoured)."""
    condition = if_match()
    await store.delete_widget(
        current_deps().gateway,
        existing_id("widget", widget_id),
        condition=condition,
        by=request_attribution(),
    )
    return Response(b"", status=204)
