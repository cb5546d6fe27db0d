"""The inhibition rule pages: the list, the form (new and edit), deleting with a confirmation.

The form becomes the API's JSON document (inhibition_form.py), read by the
API's `parse_inhibition`, and is saved through storage/versioned_documents.py
as web/api/notifications/inhibition_routes.py saves it, attributed to the
session's key: the same refusals and audit rows (decision 0048), and the
same news of the change on the `alerts` live channel (`publish_muting`), so
open Alerts pages redraw their muted marks. Every
change after a read carries the version read: a rule changed meanwhile is
the 412 page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from monitor.domain.dashboards import StaleVersion
from monitor.domain.keys import Role
from monitor.domain.label_matchers import MAX_MATCHERS, MAX_NAME_LENGTH, MAX_VALUE_LENGTH
from monitor.domain.notification_documents import MAX_NAME, parse_inhibition
from monitor.domain.rule_fields import RuleProblems
from monitor.storage import versioned_documents as store
from monitor.storage.notification_tables import INHIBITION_RULES
from monitor.web.api.alerts.instance_actions import publish_muting
from monitor.web.api.dashboard.answers import unknown_parameters
from monitor.web.api.dashboards.answers import existing_id, not_found
from monitor.web.api.dashboards.bodies import invalid
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import invalid_query
from monitor.web.edge.sessions import current_session
from monitor.web.ui import inhibition_form, matcher_rows, silence_form
from monitor.web.ui.dashboard_pages import api_steps, version_condition
from monitor.web.ui.navigation import page_named
from monitor.web.ui.overview_view import utc_label
from monitor.web.ui.pages import session_page
from monitor.web.ui.posted_forms import go_to, posted_form
from monitor.web.ui.rendering import render_page

blueprint = Blueprint("ui_inhibition_rules", __name__)

RULES = page_named("inhibition-rules")
NEW_PATH = RULES.path + "/new"
ONE = RULES.path + "/<int:rule_id>"
WHAT = "inhibition rule"
NOTICES = {
    "created": "The inhibition rule is saved.",
    "saved": "The inhibition rule is saved.",
    "deleted": "The inhibition rule is deleted.",
}


def _context() -> dict[str, Any]:
    return {
        "utc_label": utc_label,
        "matcher_text": silence_form.matcher_text,
        "rules_path": RULES.path,
        "new_path": NEW_PATH,
    }


def _no_parameters(allowed: frozenset[str] = frozenset()) -> None:
    unknown = unknown_parameters(request.args, allowed)
    if unknown:
        raise invalid_query(unknown)


async def _record(rule_id: int) -> store.DocumentRecord:
    existing_id(WHAT, rule_id)
    with api_steps():
        found = await store.get(current_deps().gateway, INHIBITION_RULES, rule_id)
    if found is None:
        raise not_found(WHAT, rule_id)
    return found


@blueprint.get(RULES.path)
@session_page(RULES.role)
async def inhibition_rules() -> Response:
    _no_parameters(frozenset({"done"}))
    with api_steps():
        found = await store.list_all(current_deps().gateway, INHIBITION_RULES)
    return await render_page(
        "inhibition_rules.html",
        session=await current_session(),
        current=RULES,
        rules=found,
        notice=NOTICES.get(request.args.get("done", "")),
        **_context(),
    )


async def _form_page(
    record: store.DocumentRecord | None,
    values: dict[str, str],
    rows: dict[str, list[silence_form.MatcherRow]],
    *,
    errors: inhibition_form.FormErrors | None = None,
    problem: ProblemError | None = None,
    status: int = 200,
) -> Response:
    return await render_page(
        "inhibition_rule_form.html",
        session=await current_session(),
        current=RULES,
        status=status,
        rule=record,
        values=values,
        source_rows=silence_form.shown_rows(rows.get("source", [])),
        target_rows=silence_form.shown_rows(rows.get("target", [])),
        errors=errors or {},
        problem=problem,
        operators=silence_form.OPERATOR_CHOICES,
        max_name=MAX_NAME,
        max_matcher_name=MAX_NAME_LENGTH,
        max_value=MAX_VALUE_LENGTH,
        max_matchers=MAX_MATCHERS,
        **_context(),
    )


async def _saved(record: store.DocumentRecord | None, form: MultiDict[str, str]) -> Response:
    condition = version_condition(form) if record is not None else None
    body, numbers = inhibition_form.inhibition_body(form)
    gateway = current_deps().gateway
    try:
        try:
            document = parse_inhibition(body).document()
        except RuleProblems as refused:
            raise invalid([problem.as_dict() for problem in refused.problems]) from None
        with api_steps():
            if record is None or condition is None:
                saved = await store.create(
                    gateway, INHIBITION_RULES, document, by=request_attribution()
                )
                publish_muting("inhibition_rule", saved.id, "created", datetime.now(UTC))
            else:
                saved = await store.replace(
                    gateway,
                    INHIBITION_RULES,
                    record.id,
                    document,
                    condition=condition,
                    by=request_attribution(),
                )
                publish_muting("inhibition_rule", saved.id, "changed", datetime.now(UTC))
    except StaleVersion as refusal:
        return await _stale(record, refusal)
    except ProblemError as refused:
        if refused.status not in (400, 409):
            raise
        return await _form_page(
            record,
            {
                "name": form.get("name", ""),
                "equal": form.get("equal", ""),
                "version": form.get("version", ""),
            },
            {prefix: matcher_rows.rows_of(form, prefix) for prefix in ("source", "target")},
            errors=inhibition_form.errors_by_field(refused.errors or [], numbers),
            problem=refused,
            status=refused.status,
        )
    done = "created" if record is None else "saved"
    return go_to(f"{RULES.path}?done={done}#rule-{saved.id}")


async def _stale(record: store.DocumentRecord | None, refusal: StaleVersion) -> Response:
    return await render_page(
        "dashboard_stale.html",
        session=await current_session(),
        current=RULES,
        status=412,
        what="inhibition rule",
        back=f"{RULES.path}/{record.id}/edit" if record else NEW_PATH,
        current_version=refusal.current,
    )


@blueprint.get(NEW_PATH)
@session_page(Role.ADMIN)
async def new_rule() -> Response:
    _no_parameters()
    return await _form_page(None, {"name": "", "equal": ""}, {})


@blueprint.post(NEW_PATH)
@session_page(Role.ADMIN)
async def create_rule() -> Response:
    return await _saved(None, await posted_form())


@blueprint.get(ONE + "/edit")
@session_page(Role.ADMIN)
async def edit_rule(rule_id: int) -> Response:
    _no_parameters()
    record = await _record(rule_id)
    values = {**inhibition_form.form_values(record.definition), "version": str(record.version)}
    rows = {
        prefix: matcher_rows.stored_rows(record.definition.get(key, []))
        for key, prefix in inhibition_form.LISTS.items()
    }
    return await _form_page(record, values, rows)


@blueprint.post(ONE + "/edit")
@session_page(Role.ADMIN)
async def save_rule(rule_id: int) -> Response:
    form = await posted_form()
    return await _saved(await _record(rule_id), form)


@blueprint.get(ONE + "/delete")
@session_page(Role.ADMIN)
async def confirm_delete(rule_id: int) -> Response:
    _no_parameters()
    return await render_page(
        "inhibition_rule_delete.html",
        session=await current_session(),
        current=RULES,
        rule=await _record(rule_id),
        **_context(),
    )


@blueprint.post(ONE + "/delete")
@session_page(Role.ADMIN)
async def delete_rule(rule_id: int) -> Response:
    form = await posted_form()
    condition = version_condition(form)
    record = await _record(rule_id)
    try:
        with api_steps():
            await store.delete(
                current_deps().gateway,
                INHIBITION_RULES,
                rule_id,
                condition=condition,
                by=request_attribution(),
            )
    except StaleVersion as refusal:
        return await _stale(record, refusal)
    publish_muting("inhibition_rule", rule_id, "deleted", datetime.now(UTC))
    return go_to(f"{RULES.path}?done=deleted")
