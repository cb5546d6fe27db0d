"""Dashboards (under /api/v1/dashboards): read to view, write to change.

One dashboard is the default; it cannot be unset or deleted, only replaced
by making another the default. `PUT` (dashboard and layout) and `DELETE`
honour If-Match on the dashboard's version, which counts changes to its
widgets too. Export and import carry a dashboard with its widgets as JSON.
"""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_headers, document_request, document_response, tag

from monitor.domain.dashboards import DashboardRefused
from monitor.domain.keys import Role
from monitor.storage import dashboards as store
from monitor.storage.dashboard_rows import DashboardFields
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboards.answers import (
    dashboard_document_response,
    dashboard_json,
    dashboard_response,
    existing_id,
    export_json,
    not_found,
    refused,
)
from monitor.web.api.dashboards.bodies import (
    DASHBOARD_BODY_BYTES,
    IMPORT_BODY_BYTES,
    LAYOUT_BODY_BYTES,
    layout_moves,
    read_model,
)
from monitor.web.api.dashboards.checked_widgets import imported_widgets
from monitor.web.api.dashboards.schemas import (
    DashboardDetail,
    DashboardExport,
    DashboardIn,
    DashboardList,
    DashboardOut,
    IfMatchHeader,
    LayoutIn,
)
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.auth import require_role
from monitor.web.edge.preconditions import if_match

blueprint = Blueprint("dashboards", __name__)
blueprint.register_error_handler(DashboardRefused, refused)


def _fields(data: DashboardIn) -> DashboardFields:
    return DashboardFields(data.name, data.description, data.is_default)


@blueprint.get("/dashboards")
@require_role(Role.READ)
@tag(["dashboards"])
@document_response(DashboardList, 200)
async def list_dashboards() -> Response:
    """Every dashboard with its number of widgets, the default first."""
    found = await store.list_dashboards(current_deps().gateway)
    return json_response({"dashboards": [dashboard_json(dashboard) for dashboard in found]})


@blueprint.post("/dashboards")
@require_role(Role.WRITE)
@tag(["dashboards"])
@document_request(DashboardIn)
@document_response(DashboardOut, 201)
async def create_dashboard() -> Response:
    """A new, empty dashboard. Names are unique whatever their case (409 otherwise)."""
    data = await read_model(DashboardIn, DASHBOARD_BODY_BYTES)
    created = await store.create_dashboard(
        current_deps().gateway, _fields(data), by=request_attribution()
    )
    response = dashboard_response(created, 201)
    response.headers["Location"] = f"{request.path}/{created.id}"
    return response


@blueprint.get("/dashboards/<int:dashboard_id>")
@require_role(Role.READ)
@tag(["dashboards"])
@document_response(DashboardDetail, 200)
async def get_dashboard(dashboard_id: int) -> Response:
    """A dashboard with its widgets; its version is also the `ETag`."""
    document = await store.get_dashboard(
        current_deps().gateway, existing_id("dashboard", dashboard_id)
    )
    if document is None:
        raise not_found("dashboard", dashboard_id)
    return dashboard_document_response(document)


@blueprint.put("/dashboards/<int:dashboard_id>")
@require_role(Role.WRITE)
@tag(["dashboards"])
@document_headers(IfMatchHeader)
@document_request(DashboardIn)
@document_response(DashboardOut, 200)
async def replace_dashboard(dashboard_id: int) -> Response:
    """Rename or describe a dashboard, or make it the default (If-Match honoured)."""
    condition = if_match()
    existing_id("dashboard", dashboard_id)
    data = await read_model(DashboardIn, DASHBOARD_BODY_BYTES)
    updated = await store.update_dashboard(
        current_deps().gateway,
        dashboard_id,
        _fields(data),
        condition=condition,
        by=request_attribution(),
    )
    return dashboard_response(updated)


@blueprint.delete("/dashboards/<int:dashboard_id>")
@require_role(Role.WRITE)
@tag(["dashboards"])
@document_headers(IfMatchHeader)
async def delete_dashboard(dashboard_id: int) -> Response:
    """Delete a dashboard and its widgets. The default cannot be deleted (409)."""
    condition = if_match()
    await store.delete_dashboard(
        current_deps().gateway,
        existing_id("dashboard", dashboard_id),
        condition=condition,
        by=request_attribution(),
    )
    return Response(b"", status=204)


@blueprint.put("/dashboards/<int:dashboard_id>/layout")
@require_role(Role.WRITE)
@tag(["dashboards"])
@document_headers(IfMatchHeader)
@document_request(LayoutIn)
@document_response(DashboardDetail, 200)
async def set_layout(dashboard_id: int) -> Response:
    """Move and resize many widgets in one request, all or nothing (If-Match honoured)."""
    condition = if_match()
    existing_id("dashboard", dashboard_id)
    data = await read_model(LayoutIn, LAYOUT_BODY_BYTES)
    moves = layout_moves(data)
    document = await store.set_layout(
        current_deps().gateway, dashboard_id, moves, condition=condition, by=request_attribution()
    )
    return dashboard_document_response(document)


@blueprint.get("/dashboards/<int:dashboard_id>/export")
@require_role(Role.READ)
@tag(["dashboards"])
@document_response(DashboardExport, 200)
async def export_dashboard(dashboard_id: int) -> Response:
    """The dashboard and its widgets without ids, for `POST /api/v1/dashboards/import`."""
    document = await store.get_dashboard(
        current_deps().gateway, existing_id("dashboard", dashboard_id)
    )
    if document is None:
        raise not_found("dashboard", dashboard_id)
    return json_response(export_json(document))


@blueprint.post("/dashboards/import")
@require_role(Role.WRITE)
@tag(["dashboards"])
@document_request(DashboardExport)
@document_response(DashboardDetail, 201)
async def import_dashboard() -> Response:
    """A new dashboard from an export, every widget checked like a new one; all or nothing.
    A name already in use is a 409: change `dashboard.name` and send it again."""
    data = await read_model(DashboardExport, IMPORT_BODY_BYTES)
    widgets = await imported_widgets(data)
    document = await store.import_dashboard(
        current_deps().gateway,
        DashboardFields(data.dashboard.name, data.dashboard.description, False),
        widgets,
        by=request_attribution(),
    )
    response = dashboard_document_response(document, 201)
    response.headers["Location"] = f"/api/v1/dashboards/{document.dashboard.id}"
    return response
