"""What the Dashboards pages share: the page guard's context, 404/412/503 pages, form values.

The pages (dashboards_page.py: reading, export, import; dashboard_layout_page.py:
moving and resizing; widget_form_page.py: a widget's form; dashboard_manage_page.py:
creating, editing, deleting, the default) go through the
dashboard API's own functions (decision 0052). A refused change is the API's
problem shown as a page; a stale version (412) has a page of its own that
says someone else changed it and links back to the form read again.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from quart import Response, request

from monitor.domain.dashboards import DashboardRefused, StaleVersion, VersionCondition
from monitor.domain.keys import Role
from monitor.storage import dashboards as store
from monitor.storage import widgets as widget_store
from monitor.storage.dashboard_rows import DashboardDocument, WidgetRecord
from monitor.storage.errors import StorageUnavailable
from monitor.web.api.dashboards.answers import MAX_ID, problem_for
from monitor.web.api.dashboards.bodies import invalid
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.sessions import current_session
from monitor.web.ui.navigation import page_named
from monitor.web.ui.overview_view import utc_label
from monitor.web.ui.rendering import render_page
from monitor.web.ui.widget_view import figure

DASHBOARDS = page_named("dashboards")
ONE = DASHBOARDS.path + "/<int:dashboard_id>"
NOTICES = {
    "layout": "The layout is saved.",
    "widget": "The widget is saved.",
    "imported": "The dashboard is imported.",
    "created": "The dashboard is created.",
    "dashboard": "The dashboard is saved.",
    "default": "This is now the default dashboard.",
    "deleted": "The dashboard is deleted.",
    "widget-deleted": "The widget is deleted.",
}


@contextlib.contextmanager
def api_steps() -> Iterator[None]:
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


def not_found(what: str, item_id: int) -> ProblemError:
    return ProblemError(404, f"no {what} with id {item_id}", kind="not-found")


async def dashboard_document(dashboard_id: int) -> DashboardDocument:
    if dashboard_id > MAX_ID:
        raise not_found("dashboard", dashboard_id)
    with api_steps():
        document = await store.get_dashboard(current_deps().gateway, dashboard_id)
    if document is None:
        raise not_found("dashboard", dashboard_id)
    return document


async def widget_of(dashboard_id: int, widget_id: int) -> WidgetRecord:
    """The widget, if it is on that dashboard; a 404 otherwise."""
    if widget_id > MAX_ID:
        raise not_found("widget", widget_id)
    with api_steps():
        widget = await widget_store.get_widget(current_deps().gateway, widget_id)
    if widget is None or widget.dashboard_id != dashboard_id:
        raise not_found("widget", widget_id)
    return widget


async def page(template: str, *, status: int = 200, **context: Any) -> Response:
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


def see_other(location: str) -> Response:
    return Response("", status=303, headers={"Location": location, "Cache-Control": "no-store"})


async def stale_page(what: str, back: str, refusal: StaleVersion) -> Response:
    return await page(
        "dashboard_stale.html",
        status=412,
        what=what,
        back=back,
        current_version=refusal.current,
    )


def notice() -> str | None:
    return NOTICES.get(request.args.get("saved", ""))


def whole(raw: str | None) -> int | str | None:
    """A form's number as an int, or as given so the model names it as not one."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    return int(text) if text.isascii() and text.lstrip("-").isdigit() and len(text) < 20 else text


def version_condition(form: Mapping[str, str]) -> VersionCondition:
    raw = form.get("version", "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise invalid([{"field": "version", "message": "the form's version is missing"}])
    return VersionCondition(frozenset({str(int(raw))}))


def json_text(value: Any) -> str:
    return json.dumps(value)
