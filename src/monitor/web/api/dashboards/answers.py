"""What dashboard and widget routes answer: records as JSON, refusals as problems."""

from __future__ import annotations

from typing import Any

from quart import Response

from monitor.domain.dashboards import (
    EXPORT_FORMAT,
    EXPORT_FORMAT_VERSION,
    Conflict,
    DashboardRefused,
    InvalidChange,
    NotFound,
    StaleVersion,
)
from monitor.storage.dashboard_rows import DashboardDocument, DashboardRecord, WidgetRecord
from monitor.web.api.bulk_json import json_response
from monitor.web.edge.preconditions import stale_version, with_version
from monitor.web.edge.problems import ProblemError, response_for

MAX_ID = 2**63 - 1


def widget_json(widget: WidgetRecord) -> dict[str, Any]:
    return {
        "id": widget.id,
        "dashboard_id": widget.dashboard_id,
        "title": widget.title,
        "kind": widget.kind,
        "query": widget.query,
        "options": widget.options,
        "x": widget.x,
        "y": widget.y,
        "w": widget.w,
        "h": widget.h,
        "version": widget.version,
        "created_at": widget.created_at,
        "created_by": widget.created_by,
        "updated_at": widget.updated_at,
        "updated_by": widget.updated_by,
    }


def dashboard_json(dashboard: DashboardRecord) -> dict[str, Any]:
    return {
        "id": dashboard.id,
        "name": dashboard.name,
        "description": dashboard.description,
        "is_default": dashboard.is_default,
        "version": dashboard.version,
        "widget_count": dashboard.widget_count,
        "created_at": dashboard.created_at,
        "created_by": dashboard.created_by,
        "updated_at": dashboard.updated_at,
        "updated_by": dashboard.updated_by,
    }


def export_json(document: DashboardDocument) -> dict[str, Any]:
    """The dashboard and its widgets without ids: what import takes back."""
    dashboard = document.dashboard
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "dashboard": {"name": dashboard.name, "description": dashboard.description},
        "widgets": [
            {
                "title": widget.title,
                "kind": widget.kind,
                "query": widget.query,
                "options": widget.options,
                **widget.placement.as_dict(),
            }
            for widget in document.widgets
        ],
    }


def widget_response(widget: WidgetRecord, status: int = 200) -> Response:
    return with_version(json_response(widget_json(widget), status), widget.version)


def dashboard_response(dashboard: DashboardRecord, status: int = 200) -> Response:
    return with_version(json_response(dashboard_json(dashboard), status), dashboard.version)


def dashboard_document_response(document: DashboardDocument, status: int = 200) -> Response:
    body = {
        **dashboard_json(document.dashboard),
        "widgets": [widget_json(widget) for widget in document.widgets],
    }
    return with_version(json_response(body, status), document.dashboard.version)


def not_found(what: str, item_id: int) -> ProblemError:
    return ProblemError(404, f"no {what} with id {item_id}", kind="not-found")


def existing_id(what: str, item_id: int) -> int:
    """`item_id` if a row could have it (a bigint); a 404 otherwise, before any query."""
    if item_id > MAX_ID:
        raise not_found(what, item_id)
    return item_id


def problem_for(refusal: DashboardRefused) -> ProblemError:
    if isinstance(refusal, NotFound):
        return not_found(refusal.what, refusal.item_id)
    if isinstance(refusal, StaleVersion):
        return stale_version(refusal.what, refusal.item_id, refusal.current)
    if isinstance(refusal, Conflict):
        return ProblemError(409, f"{refusal}; nothing was changed", kind=refusal.kind)
    if isinstance(refusal, InvalidChange):
        return ProblemError(
            400,
            "the request is invalid; nothing was changed",
            kind="validation-error",
            errors=refusal.errors,
        )
    raise TypeError(f"no problem for {type(refusal).__name__}")


async def refused(refusal: DashboardRefused) -> Response:
    """Error handler of the dashboard blueprints: a refused change as its problem."""
    return response_for(problem_for(refusal))
