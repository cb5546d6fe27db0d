"""The Channels pages: the list, one channel, the form per kind (new and edit), enabling
or disabling, deleting with a confirmation, and the Test button.

Reads and writes are the channels API's own (web/api/channels/routes.py,
decision 0064): the form becomes the API's JSON document (channel_form.py),
read by `parse_channel` and stored through the API's `channel_fields` (secrets
kept, sealed) and storage/channels.py, attributed to the session's key; the
Test button runs the API's `tested`. So refusals read the same and the audit
rows are the same whichever way a channel was changed (decision 0048).

Without JavaScript a new channel is made in two steps, the kind first
(`/new`, then `/new?kind=…` shows that kind's inputs only); with it the
form's kind can be switched in place (channels.js shows the kind's inputs).
Every change after a read carries the version read, as If-Match does: a
channel changed meanwhile is the 412 page. Test answers, in place with
htmx or as a page without it, the receiver's status and the start of its
body, escaped.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from monitor.domain.channels import (
    MAX_CHANNEL_NAME,
    MAX_DESCRIPTION,
    ChannelDraft,
    parse_channel,
)
from monitor.domain.dashboards import StaleVersion
from monitor.domain.keys import Role
from monitor.domain.rule_fields import RuleProblems
from monitor.storage import channels as store
from monitor.storage import versioned_documents as documents
from monitor.storage.channels import ChannelRecord
from monitor.storage.notification_tables import DEFAULT_POLICY, POLICIES
from monitor.web.api.channels.answers import secret_state
from monitor.web.api.channels.routes import channel_fields, secret_box, tested
from monitor.web.api.dashboard.answers import unknown_parameters
from monitor.web.api.dashboards.answers import existing_id, not_found
from monitor.web.api.dashboards.bodies import invalid
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import invalid_query
from monitor.web.edge.sessions import current_session
from monitor.web.ui import channel_form
from monitor.web.ui.dashboard_pages import api_steps, version_condition
from monitor.web.ui.navigation import page_named
from monitor.web.ui.overview_view import utc_label
from monitor.web.ui.pages import session_page
from monitor.web.ui.posted_forms import go_to, posted_form
from monitor.web.ui.rendering import render_page, wants_fragment

blueprint = Blueprint("ui_channels", __name__)

CHANNELS = page_named("channels")
POLICIES_PATH = page_named("notification-policies").path
LOG_PATH = page_named("notifications").path
NEW_PATH = CHANNELS.path + "/new"
ONE = CHANNELS.path + "/<int:channel_id>"
CORRECTABLE = frozenset({400, 409})
SHOWN_BODY = 2000  # characters of a test answer's body shown (the API keeps 4 KiB)
NOTICES = {
    "created": "The channel is saved.",
    "saved": "The channel is saved.",
    "enabled": "The channel is enabled.",
    "disabled": "The channel is disabled: it is sent nothing.",
    "deleted": "The channel is deleted.",
}


def _context() -> dict[str, Any]:
    return {
        "utc_label": utc_label,
        "channels_path": CHANNELS.path,
        "policies_path": POLICIES_PATH,
        "log_path": LOG_PATH,
        "new_path": NEW_PATH,
        "kinds": channel_form.KIND_LABELS,
        "kind_hints": channel_form.KIND_HINTS,
    }


def _no_parameters(allowed: frozenset[str] = frozenset()) -> None:
    unknown = unknown_parameters(request.args, allowed)
    if unknown:
        raise invalid_query(unknown)


async def _record(channel_id: int) -> ChannelRecord:
    existing_id("channel", channel_id)
    with api_steps():
        record = await store.get_channel(current_deps().gateway, channel_id)
    if record is None:
        raise not_found("channel", channel_id)
    return record


@blueprint.get(CHANNELS.path)
@session_page(CHANNELS.role)
async def channels() -> Response:
    _no_parameters(frozenset({"done"}))
    box = secret_box()
    with api_steps():
        found = await store.list_channels(current_deps().gateway)
        tests = await store.last_tests(current_deps().gateway, [row.id for row in found])
    return await render_page(
        "channels.html",
        session=await current_session(),
        current=CHANNELS,
        channels=[(row, secret_state(box, row), tests.get(row.id)) for row in found],
        notice=NOTICES.get(request.args.get("done", "")),
        **_context(),
    )


@blueprint.get(ONE)
@session_page(CHANNELS.role)
async def channel(channel_id: int) -> Response:
    _no_parameters(frozenset({"done"}))
    record = await _record(channel_id)
    with api_steps():
        tests = await store.last_tests(current_deps().gateway, [record.id])
    return await render_page(
        "channel.html",
        session=await current_session(),
        current=CHANNELS,
        channel=record,
        secrets=secret_state(secret_box(), record),
        last_test=tests.get(record.id),
        notice=NOTICES.get(request.args.get("done", "")),
        **_context(),
    )


# The form.


async def _form_page(
    record: ChannelRecord | None,
    kind: str,
    values: dict[str, str],
    *,
    errors: channel_form.FormErrors | None = None,
    problem: ProblemError | None = None,
    status: int = 200,
) -> Response:
    return await render_page(
        "channel_form.html",
        session=await current_session(),
        current=CHANNELS,
        status=status,
        channel=record,
        kind=kind,
        values=values,
        errors=errors or {},
        problem=problem,
        stored_secrets=record.secret_names if record and record.kind == kind else [],
        secrets=secret_state(secret_box(), record) if record else "none",
        field_kinds=channel_form.FIELD_KINDS,
        security_choices=channel_form.SECURITY_CHOICES,
        max_name=MAX_CHANNEL_NAME,
        max_description=MAX_DESCRIPTION,
        **_context(),
    )


@blueprint.get(NEW_PATH)
@session_page(Role.ADMIN)
async def new_channel() -> Response:
    _no_parameters(frozenset({"kind"}))
    given = request.args.get("kind")
    kind = channel_form.chosen_kind(given)
    if given is not None and kind is None:
        raise invalid_query(
            [{"field": "kind", "message": f"must be one of {', '.join(channel_form.KIND_LABELS)}"}]
        )
    if kind is None:
        return await render_page(
            "channel_kind.html", session=await current_session(), current=CHANNELS, **_context()
        )
    return await _form_page(None, kind, channel_form.new_values())


async def _saved(record: ChannelRecord | None, form: MultiDict[str, str]) -> Response:
    kind = record.kind if record else channel_form.chosen_kind(form.get("kind"))
    if kind is None:
        raise invalid([{"field": "kind", "message": "choose one of the kinds"}])
    condition = version_condition(form) if record is not None else None
    body, form_problems = channel_form.channel_body(
        form, kind, record.secret_names if record else []
    )
    box = secret_box()
    gateway = current_deps().gateway
    try:
        try:
            draft: ChannelDraft = parse_channel(body)
        except RuleProblems as refused:
            problems = [problem.as_dict() for problem in refused.problems]
            raise invalid([*problems, *form_problems]) from None
        if form_problems:
            raise invalid(form_problems)
        with api_steps():
            if record is None or condition is None:
                saved = await store.create_channel(
                    gateway, channel_fields(box, draft, None), by=request_attribution()
                )
            else:
                saved = await store.replace_channel(
                    gateway,
                    record.id,
                    lambda stored: channel_fields(box, draft, stored),
                    condition=condition,
                    by=request_attribution(),
                )
    except StaleVersion as refusal:
        return await _stale(record, refusal)
    except ProblemError as refused:
        if refused.status not in CORRECTABLE:
            raise
        errors = channel_form.errors_by_field(refused.errors or [], kind)
        if refused.kind == "name_taken":
            errors.setdefault("name", []).append("is taken by another channel (names ignore case)")
        return await _form_page(
            record,
            kind,
            channel_form.shown_values(form),
            errors=errors,
            problem=refused,
            status=refused.status,
        )
    done = "created" if record is None else "saved"
    return go_to(f"{CHANNELS.path}/{saved.id}?done={done}")


async def _stale(record: ChannelRecord | None, refusal: StaleVersion) -> Response:
    return await render_page(
        "dashboard_stale.html",
        session=await current_session(),
        current=CHANNELS,
        status=412,
        what="channel",
        back=f"{CHANNELS.path}/{record.id}/edit" if record else NEW_PATH,
        current_version=refusal.current,
    )


@blueprint.post(NEW_PATH)
@session_page(Role.ADMIN)
async def create_channel() -> Response:
    return await _saved(None, await posted_form())


@blueprint.get(ONE + "/edit")
@session_page(Role.ADMIN)
async def edit_channel(channel_id: int) -> Response:
    _no_parameters()
    record = await _record(channel_id)
    values = {**channel_form.form_values(record.document()), "version": str(record.version)}
    return await _form_page(record, record.kind, values)


@blueprint.post(ONE + "/edit")
@session_page(Role.ADMIN)
async def save_channel(channel_id: int) -> Response:
    form = await posted_form()
    return await _saved(await _record(channel_id), form)


@blueprint.post(ONE + "/enabled")
@session_page(Role.ADMIN)
async def set_enabled(channel_id: int) -> Response:
    """The API's `PUT` of the stored channel with only `enabled` changed, secrets kept."""
    form = await posted_form()
    condition = version_condition(form)
    wanted = form.get("enabled", "")
    if wanted not in ("true", "false"):
        raise invalid([{"field": "enabled", "message": "must be true or false"}])
    record = await _record(channel_id)
    document = {**record.document(), "enabled": wanted == "true"}
    try:
        draft = parse_channel(document)
    except RuleProblems as refused:
        problems = [problem.as_dict() for problem in refused.problems]
        raise invalid(problems, "the stored channel no longer passes the checks; edit it") from None
    box = secret_box()
    try:
        with api_steps():
            await store.replace_channel(
                current_deps().gateway,
                channel_id,
                lambda stored: channel_fields(box, draft, stored),
                condition=condition,
                by=request_attribution(),
            )
    except StaleVersion as refusal:
        return await _stale(record, refusal)
    return go_to(f"{CHANNELS.path}?done={'enabled' if wanted == 'true' else 'disabled'}")


# Deleting.


async def _users(channel_id: int) -> list[documents.DocumentRecord]:
    """The policies (the default one too) that send to the channel."""
    gateway = current_deps().gateway
    with api_steps():
        found = [
            *await documents.list_all(gateway, POLICIES),
            *await documents.list_all(gateway, DEFAULT_POLICY),
        ]
    return [row for row in found if channel_id in row.definition.get("channel_ids", [])]


async def _delete_page(
    record: ChannelRecord, *, refused: ProblemError | None = None, status: int = 200
) -> Response:
    return await render_page(
        "channel_delete.html",
        session=await current_session(),
        current=CHANNELS,
        status=status,
        channel=record,
        users=await _users(record.id),
        refused=refused,
        **_context(),
    )


@blueprint.get(ONE + "/delete")
@session_page(Role.ADMIN)
async def confirm_delete(channel_id: int) -> Response:
    _no_parameters()
    return await _delete_page(await _record(channel_id))


@blueprint.post(ONE + "/delete")
@session_page(Role.ADMIN)
async def delete_channel(channel_id: int) -> Response:
    form = await posted_form()
    condition = version_condition(form)
    record = await _record(channel_id)
    try:
        with api_steps():
            await store.delete_channel(
                current_deps().gateway, channel_id, condition=condition, by=request_attribution()
            )
    except StaleVersion as refusal:
        return await _stale(record, refusal)
    except ProblemError as refused:
        if refused.kind != "channel_in_use":
            raise
        return await _delete_page(record, refused=refused, status=409)
    return go_to(f"{CHANNELS.path}?done=deleted")


# Testing.


@blueprint.post(ONE + "/test")
@session_page(Role.ADMIN)
async def test_channel(channel_id: int) -> Response:
    await posted_form()
    record = await _record(channel_id)
    with api_steps():
        outcome = await tested(record)
    body = str(outcome["body"])
    shown = {
        **outcome,
        "body": body[:SHOWN_BODY],
        "body_cut": bool(outcome["body_truncated"]) or len(body) > SHOWN_BODY,
    }
    return await render_page(
        "channel_test_result.html" if wants_fragment() else "channel_test.html",
        session=await current_session(),
        current=CHANNELS,
        channel=record,
        outcome=shown,
        **_context(),
    )
