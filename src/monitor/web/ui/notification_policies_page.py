"""The notification policy pages: the ordered list with the default policy apart, the
form (new, edit, and the default policy's, which has no position, matchers or
continue), and deleting with a confirmation (never the default).

The form becomes the API's JSON document (policy_form.py), read by the API's
`parse_policy`, and is saved through storage/versioned_documents.py with the
API's own check that the channels exist (web/api/notifications/
policy_routes.py), attributed to the session's key: the same refusals and
the same audit rows as `POST`/`PUT`/`DELETE /api/v1/notification-policies`
(decision 0048). Every change after a read carries the version read, as
If-Match does: a policy changed meanwhile is the 412 page.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from monitor.domain.dashboards import StaleVersion
from monitor.domain.keys import Role
from monitor.domain.label_matchers import MAX_MATCHERS, MAX_NAME_LENGTH, MAX_VALUE_LENGTH
from monitor.domain.notification_documents import MAX_NAME, MAX_POSITION, parse_policy
from monitor.domain.rule_fields import RuleProblems
from monitor.storage import channels as channel_store
from monitor.storage import versioned_documents as store
from monitor.storage.notification_tables import DEFAULT_POLICY, POLICIES
from monitor.web.api.dashboard.answers import unknown_parameters
from monitor.web.api.dashboards.answers import existing_id, not_found
from monitor.web.api.dashboards.bodies import invalid
from monitor.web.api.notifications.policy_routes import channels_exist
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import invalid_query
from monitor.web.edge.sessions import current_session
from monitor.web.ui import policy_form, silence_form
from monitor.web.ui.dashboard_pages import api_steps, version_condition
from monitor.web.ui.navigation import page_named
from monitor.web.ui.overview_view import utc_label
from monitor.web.ui.pages import session_page
from monitor.web.ui.posted_forms import go_to, posted_form
from monitor.web.ui.rendering import render_page

blueprint = Blueprint("ui_notification_policies", __name__)

POLICIES_PAGE = page_named("notification-policies")
CHANNELS_PATH = page_named("channels").path
NEW_PATH = POLICIES_PAGE.path + "/new"
DEFAULT_PATH = POLICIES_PAGE.path + "/default/edit"
ONE = POLICIES_PAGE.path + "/<int:policy_id>"
WHAT = "notification policy"
NOTICES = {
    "created": "The policy is saved.",
    "saved": "The policy is saved.",
    "default": "The default policy is saved.",
    "deleted": "The policy is deleted: its instances go where the others now send them.",
}


def _context() -> dict[str, Any]:
    return {
        "utc_label": utc_label,
        "matcher_text": silence_form.matcher_text,
        "policies_path": POLICIES_PAGE.path,
        "channels_path": CHANNELS_PATH,
        "new_path": NEW_PATH,
        "default_path": DEFAULT_PATH,
    }


def _no_parameters(allowed: frozenset[str] = frozenset()) -> None:
    unknown = unknown_parameters(request.args, allowed)
    if unknown:
        raise invalid_query(unknown)


async def _channels() -> dict[int, channel_store.ChannelRecord]:
    with api_steps():
        found = await channel_store.list_channels(current_deps().gateway)
    return {row.id: row for row in found}


async def _default() -> store.DocumentRecord:
    with api_steps():
        [found] = await store.list_all(current_deps().gateway, DEFAULT_POLICY)
    return found


async def _record(policy_id: int) -> store.DocumentRecord:
    existing_id(WHAT, policy_id)
    with api_steps():
        found = await store.get(current_deps().gateway, POLICIES, policy_id)
    if found is None:
        raise not_found(WHAT, policy_id)
    return found


@blueprint.get(POLICIES_PAGE.path)
@session_page(POLICIES_PAGE.role)
async def policies() -> Response:
    _no_parameters(frozenset({"done"}))
    with api_steps():
        found = await store.list_all(current_deps().gateway, POLICIES)
    return await render_page(
        "notification_policies.html",
        session=await current_session(),
        current=POLICIES_PAGE,
        policies=found,
        default=await _default(),
        channels=await _channels(),
        notice=NOTICES.get(request.args.get("done", "")),
        **_context(),
    )


async def _form_page(
    record: store.DocumentRecord | None,
    values: dict[str, Any],
    rows: list[silence_form.MatcherRow],
    *,
    default: bool = False,
    errors: policy_form.FormErrors | None = None,
    problem: ProblemError | None = None,
    status: int = 200,
) -> Response:
    return await render_page(
        "notification_policy_form.html",
        session=await current_session(),
        current=POLICIES_PAGE,
        status=status,
        policy=record,
        default=default,
        values=values,
        rows=silence_form.shown_rows(rows),
        errors=errors or {},
        problem=problem,
        channels=await _channels(),
        operators=silence_form.OPERATOR_CHOICES,
        max_name=MAX_NAME,
        max_matcher_name=MAX_NAME_LENGTH,
        max_value=MAX_VALUE_LENGTH,
        max_matchers=MAX_MATCHERS,
        max_position=MAX_POSITION,
        **_context(),
    )


async def _saved(
    record: store.DocumentRecord | None, form: MultiDict[str, str], *, default: bool = False
) -> Response:
    condition = version_condition(form) if record is not None else None
    body, numbers = policy_form.policy_body(form, default=default)
    table = DEFAULT_POLICY if default else POLICIES
    gateway = current_deps().gateway
    try:
        try:
            document = parse_policy(body, default=default).document(default=default)
        except RuleProblems as refused:
            raise invalid([problem.as_dict() for problem in refused.problems]) from None
        with api_steps():
            try:
                if record is None or condition is None:
                    saved = await store.create(
                        gateway, table, document, by=request_attribution(), check=channels_exist
                    )
                else:
                    saved = await store.replace(
                        gateway,
                        table,
                        record.id,
                        document,
                        condition=condition,
                        by=request_attribution(),
                        check=channels_exist,
                    )
            except RuleProblems as refused:  # a channel gone meanwhile
                raise invalid([problem.as_dict() for problem in refused.problems]) from None
    except StaleVersion as refusal:
        return await _stale(record, refusal, default=default)
    except ProblemError as refused:
        if refused.status not in (400, 409):
            raise
        return await _form_page(
            record,
            policy_form.shown_values(form),
            silence_form.rows_of(form),
            default=default,
            errors=policy_form.errors_by_field(refused.errors or [], numbers),
            problem=refused,
            status=refused.status,
        )
    done = "default" if default else ("created" if record is None else "saved")
    return go_to(f"{POLICIES_PAGE.path}?done={done}#policy-{saved.id}")


async def _stale(
    record: store.DocumentRecord | None, refusal: StaleVersion, *, default: bool = False
) -> Response:
    back = (
        DEFAULT_PATH
        if default
        else (f"{POLICIES_PAGE.path}/{record.id}/edit" if record else NEW_PATH)
    )
    return await render_page(
        "dashboard_stale.html",
        session=await current_session(),
        current=POLICIES_PAGE,
        status=412,
        what="default policy" if default else "policy",
        back=back,
        current_version=refusal.current,
    )


@blueprint.get(NEW_PATH)
@session_page(Role.ADMIN)
async def new_policy() -> Response:
    _no_parameters()
    with api_steps():
        found = await store.list_all(current_deps().gateway, POLICIES)
    last = max((int(row.definition.get("position", 0)) for row in found), default=0)
    position = min(MAX_POSITION, last + 10) if found else 10
    return await _form_page(None, policy_form.new_values(position), [])


@blueprint.post(NEW_PATH)
@session_page(Role.ADMIN)
async def create_policy() -> Response:
    return await _saved(None, await posted_form())


@blueprint.get(ONE + "/edit")
@session_page(Role.ADMIN)
async def edit_policy(policy_id: int) -> Response:
    _no_parameters()
    record = await _record(policy_id)
    values = {**policy_form.form_values(record.definition), "version": str(record.version)}
    return await _form_page(record, values, policy_form.stored_rows(record.definition))


@blueprint.post(ONE + "/edit")
@session_page(Role.ADMIN)
async def save_policy(policy_id: int) -> Response:
    form = await posted_form()
    return await _saved(await _record(policy_id), form)


@blueprint.get(DEFAULT_PATH)
@session_page(Role.ADMIN)
async def edit_default() -> Response:
    _no_parameters()
    record = await _default()
    values = {**policy_form.form_values(record.definition), "version": str(record.version)}
    return await _form_page(record, values, [], default=True)


@blueprint.post(DEFAULT_PATH)
@session_page(Role.ADMIN)
async def save_default() -> Response:
    form = await posted_form()
    return await _saved(await _default(), form, default=True)


@blueprint.get(ONE + "/delete")
@session_page(Role.ADMIN)
async def confirm_delete(policy_id: int) -> Response:
    _no_parameters()
    record = await _record(policy_id)
    return await render_page(
        "notification_policy_delete.html",
        session=await current_session(),
        current=POLICIES_PAGE,
        policy=record,
        channels=await _channels(),
        **_context(),
    )


@blueprint.post(ONE + "/delete")
@session_page(Role.ADMIN)
async def delete_policy(policy_id: int) -> Response:
    form = await posted_form()
    condition = version_condition(form)
    record = await _record(policy_id)
    try:
        with api_steps():
            await store.delete(
                current_deps().gateway,
                POLICIES,
                policy_id,
                condition=condition,
                by=request_attribution(),
            )
    except StaleVersion as refusal:
        return await _stale(record, refusal)
    return go_to(f"{POLICIES_PAGE.path}?done=deleted")
