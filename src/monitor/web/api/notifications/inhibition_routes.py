"""Inhibition rules (under /api/v1/inhibition-rules): read to view, admin to change.

While a firing instance matches a rule's source matchers, instances matching
its target matchers with equal values of its `equal` labels notify nobody
(domain/muting.py). `PUT` and `DELETE` honour If-Match, as alert rules do.
"""

from __future__ import annotations

from datetime import UTC, datetime

from quart import Blueprint, Response, request
from quart_schema import document_headers, document_request, document_response, tag

from monitor.domain.dashboards import DashboardRefused, VersionCondition
from monitor.domain.keys import Role
from monitor.domain.notification_documents import parse_inhibition
from monitor.storage import versioned_documents as store
from monitor.storage.notification_tables import INHIBITION_RULES
from monitor.web.api.alerts.instance_actions import publish_muting
from monitor.web.api.alerts.schemas import IfMatchHeader
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboards.answers import existing_id, not_found, refused
from monitor.web.api.notifications.documents import read_document, stored_json, stored_response
from monitor.web.api.notifications.schemas import (
    InhibitionDocument,
    InhibitionList,
    InhibitionOut,
)
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.auth import require_role
from monitor.web.edge.preconditions import if_match

blueprint = Blueprint("inhibition_rules", __name__)
blueprint.register_error_handler(DashboardRefused, refused)

ANY_VERSION = VersionCondition(None)
WHAT = "inhibition rule"


def _document(raw: object) -> dict[str, object]:
    return parse_inhibition(raw).document()


@blueprint.get("/inhibition-rules")
@require_role(Role.READ)
@tag(["notifications"])
@document_response(InhibitionList, 200)
async def list_inhibition_rules() -> Response:
    """Every inhibition rule, by id."""
    found = await store.list_all(current_deps().gateway, INHIBITION_RULES)
    return json_response({"rules": [stored_json(record, "rule") for record in found]})


@blueprint.post("/inhibition-rules")
@require_role(Role.ADMIN)
@tag(["notifications"])
@document_request(InhibitionDocument)
@document_response(InhibitionOut, 201)
async def create_inhibition_rule() -> Response:
    """A new inhibition rule; every bad field is named in one 400."""
    document = await read_document(_document)
    created = await store.create(
        current_deps().gateway, INHIBITION_RULES, document, by=request_attribution()
    )
    publish_muting("inhibition_rule", created.id, "created", datetime.now(UTC))
    response = stored_response(created, "rule", 201)
    response.headers["Location"] = f"{request.path}/{created.id}"
    return response


@blueprint.get("/inhibition-rules/<int:rule_id>")
@require_role(Role.READ)
@tag(["notifications"])
@document_response(InhibitionOut, 200)
async def get_inhibition_rule(rule_id: int) -> Response:
    """An inhibition rule; its version is also the `ETag`."""
    found = await store.get(current_deps().gateway, INHIBITION_RULES, existing_id(WHAT, rule_id))
    if found is None:
        raise not_found(WHAT, rule_id)
    return stored_response(found, "rule")


@blueprint.put("/inhibition-rules/<int:rule_id>")
@require_role(Role.ADMIN)
@tag(["notifications"])
@document_headers(IfMatchHeader)
@document_request(InhibitionDocument)
@document_response(InhibitionOut, 200)
async def replace_inhibition_rule(rule_id: int) -> Response:
    """Replace an inhibition rule (If-Match honoured)."""
    condition = if_match() or ANY_VERSION
    existing_id(WHAT, rule_id)
    document = await read_document(_document)
    updated = await store.replace(
        current_deps().gateway,
        INHIBITION_RULES,
        rule_id,
        document,
        condition=condition,
        by=request_attribution(),
    )
    publish_muting("inhibition_rule", updated.id, "changed", datetime.now(UTC))
    return stored_response(updated, "rule")


@blueprint.delete("/inhibition-rules/<int:rule_id>")
@require_role(Role.ADMIN)
@tag(["notifications"])
@document_headers(IfMatchHeader)
async def delete_inhibition_rule(rule_id: int) -> Response:
    """Delete an inhibition rule (If-Match honoured)."""
    condition = if_match() or ANY_VERSION
    await store.delete(
        current_deps().gateway,
        INHIBITION_RULES,
        existing_id(WHAT, rule_id),
        condition=condition,
        by=request_attribution(),
    )
    publish_muting("inhibition_rule", rule_id, "deleted", datetime.now(UTC))
    return Response(b"", status=204)
