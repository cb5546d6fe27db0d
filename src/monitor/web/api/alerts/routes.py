"""Alert rules (under /api/v1/alerts): read to view, admin to change.

A rule is issue 17's JSON, read by domain/alert_rules.py `parse_rule` with
the sandboxed template check, its event filters by the events list's parser
(bodies.py). `PUT` and `DELETE` honour If-Match on the rule's version
(web/edge/preconditions.py), as the dashboards API does: without it the last
write wins. Disabling or deleting a rule closes its open instances
(storage/alert_rules.py); a deleted rule's history stays readable.
"""

from __future__ import annotations

from datetime import UTC, datetime

from quart import Blueprint, Response, request
from quart_schema import (
    document_headers,
    document_querystring,
    document_request,
    document_response,
    tag,
)

from monitor.domain.cursors import encode_numbered_cursor
from monitor.domain.dashboards import DashboardRefused, VersionCondition, actor_label
from monitor.domain.keys import Role
from monitor.storage import alert_reads as reads
from monitor.storage import alert_rules as store
from monitor.storage.alert_instances import SlotChange
from monitor.web.api.alerts.answers import rule_json, rule_response, transition_json
from monitor.web.api.alerts.bodies import read_rule, rule_fields
from monitor.web.api.alerts.instance_actions import publish_changes
from monitor.web.api.alerts.paging import parse_history_query
from monitor.web.api.alerts.schemas import (
    HistoryPage,
    HistoryQuery,
    IfMatchHeader,
    RuleDocument,
    RuleList,
    RuleOut,
)
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboards.answers import existing_id, not_found, refused
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.auth import require_role
from monitor.web.edge.preconditions import if_match

blueprint = Blueprint("alert_rules", __name__)
blueprint.register_error_handler(DashboardRefused, refused)

ANY_VERSION = VersionCondition(None)


@blueprint.get("/alerts")
@require_role(Role.READ)
@tag(["alerts"])
@document_response(RuleList, 200)
async def list_rules() -> Response:
    """Every alert rule, by name."""
    found = await store.list_rules(current_deps().gateway)
    return json_response({"rules": [rule_json(record) for record in found]})


@blueprint.post("/alerts")
@require_role(Role.ADMIN)
@tag(["alerts"])
@document_request(RuleDocument)
@document_response(RuleOut, 201)
async def create_rule() -> Response:
    """A new alert rule. Every bad field is named in one 400 (templates and event filters
    included); a name already in use, whatever its case, is a 409."""
    rule = await read_rule()
    created = await store.create_rule(
        current_deps().gateway, rule_fields(rule), by=request_attribution()
    )
    response = rule_response(created, 201)
    response.headers["Location"] = f"{request.path}/{created.id}"
    return response


@blueprint.get("/alerts/<int:rule_id>")
@require_role(Role.READ)
@tag(["alerts"])
@document_response(RuleOut, 200)
async def get_rule(rule_id: int) -> Response:
    """An alert rule; its version is also the `ETag`."""
    record = await store.get_rule(current_deps().gateway, existing_id("alert rule", rule_id))
    if record is None:
        raise not_found("alert rule", rule_id)
    return rule_response(record)


@blueprint.put("/alerts/<int:rule_id>")
@require_role(Role.ADMIN)
@tag(["alerts"])
@document_headers(IfMatchHeader)
@document_request(RuleDocument)
@document_response(RuleOut, 200)
async def replace_rule(rule_id: int) -> Response:
    """Replace a rule with a new one (If-Match honoured). Disabling it closes its open
    instances; a body equal to the stored rule changes nothing (same version)."""
    condition = if_match() or ANY_VERSION
    existing_id("alert rule", rule_id)
    rule = await read_rule()
    by = request_attribution()
    closed: list[SlotChange] = []
    updated = await store.replace_rule(
        current_deps().gateway,
        rule_id,
        rule_fields(rule),
        condition=condition,
        now=datetime.now(UTC),
        by=by,
        closed=closed,
    )
    publish_changes(closed, actor_label(by.actor))
    return rule_response(updated)


@blueprint.delete("/alerts/<int:rule_id>")
@require_role(Role.ADMIN)
@tag(["alerts"])
@document_headers(IfMatchHeader)
async def delete_rule(rule_id: int) -> Response:
    """Delete a rule (If-Match honoured); its open instances are resolved, its history kept."""
    condition = if_match() or ANY_VERSION
    by = request_attribution()
    closed: list[SlotChange] = []
    await store.delete_rule(
        current_deps().gateway,
        existing_id("alert rule", rule_id),
        condition=condition,
        now=datetime.now(UTC),
        by=by,
        closed=closed,
    )
    publish_changes(closed, actor_label(by.actor))
    return Response(b"", status=204)


@blueprint.get("/alerts/<int:rule_id>/history")
@require_role(Role.READ)
@tag(["alerts"])
@document_querystring(HistoryQuery)
@document_response(HistoryPage, 200)
async def rule_history(rule_id: int) -> Response:
    """The rule's transitions, last recorded first, a page at a time; a deleted rule's too."""
    limit, before_id = parse_history_query()
    gateway = current_deps().gateway
    if not await reads.rule_exists(gateway, existing_id("alert rule", rule_id)):
        raise not_found("alert rule", rule_id)
    rows = await reads.rule_history(gateway, rule_id, limit=limit + 1, before_id=before_id)
    page = rows[:limit]
    next_cursor = encode_numbered_cursor(page[-1].at, page[-1].id) if len(rows) > limit else None
    return json_response(
        {"transitions": [transition_json(row) for row in page], "next_cursor": next_cursor}
    )
