"""The alert Rules pages: every rule with its instances and latest evaluation, and one
rule with its definition, current instances and history.

The rules are storage/alert_rules.py's list (by name), each with its firing
and pending instances counted (storage/alert_counts.py) and the leader's
latest evaluation of it (storage/alert_runs.py `rule_runs`). One rule's page
shows its canonical document as the API returns it, its open instances
(with the same actions as the Alerts page) and its transitions newest
first, paged with the history API's cursor. A deleted rule's history stays
readable there, as in the API.
"""

from __future__ import annotations

import json

from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from monitor.domain.alert_states import CLOSED, State
from monitor.domain.cursors import encode_numbered_cursor
from monitor.storage import alert_reads as reads
from monitor.storage import alert_rules as rule_store
from monitor.storage.alert_counts import open_counts
from monitor.storage.alert_reads import InstanceFilter
from monitor.storage.alert_runs import rule_runs
from monitor.web.api.alerts.paging import parse_history_query
from monitor.web.api.dashboard.answers import unknown_parameters
from monitor.web.api.dashboards.answers import existing_id, not_found
from monitor.web.deps import current_deps
from monitor.web.edge.query_checks import invalid_query
from monitor.web.edge.sessions import current_session
from monitor.web.ui.alerts_page import (
    ALERTS,
    DONE,
    RULES_PATH,
    database_needed,
    instance_context,
    may_act,
    muting_for,
    notice_for,
    page_link,
)
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page
from monitor.web.ui.rule_notices import editor_notice

blueprint = Blueprint("ui_alert_rules", __name__)

HISTORY_PAGE = 50
OPEN_SHOWN = 200  # a rule's open instances on its page; more are on the Alerts page
OPEN_STATES = tuple(state.value for state in State if state not in CLOSED)
RULE_PARAMETERS = frozenset({"cursor", "saved", *DONE})
LIST_PARAMETERS = frozenset({"saved"})  # the notice after a change in the editor


@blueprint.get(RULES_PATH)
@session_page(ALERTS.role)
async def alert_rules() -> Response:
    errors = unknown_parameters(request.args, LIST_PARAMETERS)
    if errors:
        raise invalid_query(errors)
    gateway = current_deps().gateway
    with database_needed():
        rules = await rule_store.list_rules(gateway)
        counts = await open_counts(gateway)
        runs = await rule_runs(gateway)
    return await render_page(
        "alert_rules.html",
        session=await current_session(),
        current=ALERTS,
        rules=rules,
        counts=counts,
        runs=runs,
        notice=editor_notice(request.args),
        **instance_context(),
    )


@blueprint.get(RULES_PATH + "/<int:rule_id>")
@session_page(ALERTS.role)
async def alert_rule(rule_id: int) -> Response:
    args = request.args
    errors = unknown_parameters(args, RULE_PARAMETERS)
    if errors:
        raise invalid_query(errors)
    limit, before_id = parse_history_query(
        MultiDict([("limit", str(HISTORY_PAGE)), *(("cursor", c) for c in args.getlist("cursor"))])
    )
    existing_id("alert rule", rule_id)
    gateway = current_deps().gateway
    with database_needed():
        record = await rule_store.get_rule(gateway, rule_id)
        if record is None and not await reads.rule_exists(gateway, rule_id):
            raise not_found("alert rule", rule_id)
        open_now = await reads.list_instances(
            gateway,
            InstanceFilter(states=OPEN_STATES, rule_ids=(rule_id,)),
            limit=OPEN_SHOWN,
            before=None,
        )
        rows = await reads.rule_history(gateway, rule_id, limit=limit + 1, before_id=before_id)
        run = (await rule_runs(gateway, [rule_id])).get(rule_id)
        notice = await notice_for(args) or editor_notice(args)
        muting = await muting_for(open_now)
    history = list(rows[:limit])
    next_cursor = (
        encode_numbered_cursor(history[-1].at, history[-1].id) if len(rows) > limit else None
    )
    return await render_page(
        "alert_rule.html",
        session=await current_session(),
        current=ALERTS,
        rule=record,
        rule_id=rule_id,
        definition=None
        if record is None
        else json.dumps(record.definition, indent=2, ensure_ascii=False),
        run=run,
        open_now=open_now,
        open_shown=OPEN_SHOWN,
        history=history,
        next_cursor=next_cursor,
        first_page=before_id is None,
        page_link=page_link,
        notice=notice,
        may_act=await may_act(),
        **instance_context(muting),
    )
