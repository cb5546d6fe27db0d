"""Managing dashboards from the UI: create, rename and describe, make the default, delete;
and deleting a widget. Every change goes through the dashboard API's own steps.

A form's fields are read as the API's `DashboardIn` body and saved by the same
store functions as `POST`, `PUT` and `DELETE /api/v1/dashboards…` and
`DELETE /api/v1/dashboard/widgets/{id}`, so the refusals and the audit rows are
the API's (decision 0054). A refusal the user can correct (an empty or
too long name, a name in use) shows the form again as typed with the
reasons; nothing is stored. Each change after the first read carries the
version it was read at, as If-Match does: a dashboard or widget changed
meanwhile is the 412 page. Deleting asks first, on a page of its own (a GET
with a form), so it works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Mapping

from quart import Blueprint, Response, request

from monitor.domain.dashboards import StaleVersion
from monitor.domain.keys import Role
from monitor.storage import dashboards as store
from monitor.storage import widgets as widget_store
from monitor.storage.dashboard_rows import DashboardFields, DashboardRecord
from monitor.web.api.dashboards.bodies import parse_model
from monitor.web.api.dashboards.schemas import DashboardIn
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
    widget_of,
)
from monitor.web.ui.pages import session_page

blueprint = Blueprint("ui_dashboard_manage", __name__)

# A refusal the user can correct in the form: shown with the form, as they typed it.
CORRECTABLE = frozenset({400, 409})
# The longest name and description, every character percent-encoded UTF-8 (12 bytes),
# fit in half of this; anything larger is not read (the API's own limit is 16 KiB of JSON).
FORM_BYTES = 64 * 1024
# Pydantic names a pattern; a person is told what the pattern means.
PATTERN_MESSAGES = {
    "name": "must be printable text, not only spaces",
    "description": "must not contain a NUL character",
}


def _readable(problem: ProblemError) -> ProblemError:
    """The API's refusal, its pattern messages put in words (same status, same fields)."""
    if not problem.errors:
        return problem
    errors = [
        {**error, "message": PATTERN_MESSAGES[error["field"]]}
        if error.get("code") == "string_pattern_mismatch" and error["field"] in PATTERN_MESSAGES
        else error
        for error in problem.errors
    ]
    return ProblemError(
        problem.status, problem.detail, kind=problem.kind, errors=errors, headers=problem.headers
    )


async def _dashboard_form() -> Mapping[str, str]:
    """The posted form, unless it is larger than any good one (413, not read)."""
    declared = request.content_length
    if declared is not None and declared > FORM_BYTES:
        raise ProblemError(413, f"the form is larger than {FORM_BYTES} bytes; nothing was changed")
    return await request.form


def _dashboard_in(form: Mapping[str, str], is_default: bool | None = None) -> DashboardIn:
    """The form's fields as the API's body: the same checks, the same 400."""
    body = {
        "name": form.get("name", ""),
        "description": form.get("description", ""),
        "is_default": is_default,
    }
    return parse_model(DashboardIn, json_text(body))


def _fields(data: DashboardIn) -> DashboardFields:
    return DashboardFields(data.name, data.description, data.is_default)


async def _form(
    editing: DashboardRecord | None,
    values: Mapping[str, str],
    problem: ProblemError | None = None,
) -> Response:
    return await page(
        "dashboard_form.html",
        status=problem.status if problem else 200,
        editing=editing,
        values=values,
        problem=_readable(problem) if problem else None,
    )


@blueprint.get(DASHBOARDS.path + "/new")
@session_page(Role.WRITE)
async def new_dashboard() -> Response:
    return await _form(None, {"name": "", "description": ""})


@blueprint.post(DASHBOARDS.path)
@session_page(Role.WRITE)
async def create_dashboard() -> Response:
    form = await _dashboard_form()
    try:
        data = _dashboard_in(form)
        with api_steps():
            created = await store.create_dashboard(
                current_deps().gateway, _fields(data), by=request_attribution()
            )
    except ProblemError as refused:
        if refused.status not in CORRECTABLE:
            raise
        return await _form(None, form, refused)
    return see_other(f"{DASHBOARDS.path}/{created.id}?saved=created")


@blueprint.get(ONE + "/edit")
@session_page(Role.WRITE)
async def edit_dashboard(dashboard_id: int) -> Response:
    board = (await dashboard_document(dashboard_id)).dashboard
    values = {
        "name": board.name,
        "description": board.description,
        "version": str(board.version),
    }
    return await _form(board, values)


@blueprint.post(ONE + "/edit")
@session_page(Role.WRITE)
async def save_dashboard(dashboard_id: int) -> Response:
    form = await _dashboard_form()
    condition = version_condition(form)
    board = (await dashboard_document(dashboard_id)).dashboard
    try:
        data = _dashboard_in(form)  # is_default omitted: left as it is
        with api_steps():
            await store.update_dashboard(
                current_deps().gateway,
                dashboard_id,
                _fields(data),
                condition=condition,
                by=request_attribution(),
            )
    except StaleVersion as refusal:
        return await stale_page("dashboard", f"{DASHBOARDS.path}/{dashboard_id}/edit", refusal)
    except ProblemError as refused:
        if refused.status not in CORRECTABLE:
            raise
        return await _form(board, form, refused)
    return see_other(f"{DASHBOARDS.path}/{dashboard_id}?saved=dashboard")


@blueprint.post(ONE + "/default")
@session_page(Role.WRITE)
async def make_default(dashboard_id: int) -> Response:
    """`PUT` with `is_default: true` and the name and description as they are."""
    condition = version_condition(await request.form)
    board = (await dashboard_document(dashboard_id)).dashboard
    try:
        with api_steps():
            await store.update_dashboard(
                current_deps().gateway,
                dashboard_id,
                DashboardFields(board.name, board.description, True),
                condition=condition,
                by=request_attribution(),
            )
    except StaleVersion as refusal:
        return await stale_page("dashboard", f"{DASHBOARDS.path}/{dashboard_id}", refusal)
    return see_other(f"{DASHBOARDS.path}/{dashboard_id}?saved=default")


@blueprint.get(ONE + "/delete")
@session_page(Role.WRITE)
async def confirm_delete(dashboard_id: int) -> Response:
    document = await dashboard_document(dashboard_id)
    return await page("dashboard_delete.html", document=document)


@blueprint.post(ONE + "/delete")
@session_page(Role.WRITE)
async def delete_dashboard(dashboard_id: int) -> Response:
    """The default cannot be deleted: the API's 409, as a page."""
    condition = version_condition(await request.form)
    await dashboard_document(dashboard_id)
    try:
        with api_steps():
            await store.delete_dashboard(
                current_deps().gateway,
                dashboard_id,
                condition=condition,
                by=request_attribution(),
            )
    except StaleVersion as refusal:
        return await stale_page("dashboard", f"{DASHBOARDS.path}/{dashboard_id}", refusal)
    return see_other(f"{DASHBOARDS.path}?saved=deleted")


@blueprint.get(ONE + "/widgets/<int:widget_id>/delete")
@session_page(Role.WRITE)
async def confirm_delete_widget(dashboard_id: int, widget_id: int) -> Response:
    document = await dashboard_document(dashboard_id)
    widget = await widget_of(dashboard_id, widget_id)
    return await page("widget_delete.html", document=document, widget=widget)


@blueprint.post(ONE + "/widgets/<int:widget_id>/delete")
@session_page(Role.WRITE)
async def delete_widget(dashboard_id: int, widget_id: int) -> Response:
    condition = version_condition(await request.form)
    await widget_of(dashboard_id, widget_id)
    try:
        with api_steps():
            await widget_store.delete_widget(
                current_deps().gateway, widget_id, condition=condition, by=request_attribution()
            )
    except StaleVersion as refusal:
        back = f"{DASHBOARDS.path}/{dashboard_id}/widgets/{widget_id}/delete"
        return await stale_page("widget", back, refusal)
    return see_other(f"{DASHBOARDS.path}/{dashboard_id}?saved=widget-deleted")
