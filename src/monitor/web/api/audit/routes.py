"""The audit log (admin only): every change, newest first, filtered and paged."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response
from quart_schema import document_querystring, document_response, tag

from monitor.domain.cursors import encode_numbered_cursor
from monitor.domain.keys import Role
from monitor.storage import audit as audit_store
from monitor.web.api.audit.query import parse_audit_query
from monitor.web.api.audit.schemas import AuditPage, AuditQuery
from monitor.web.api.bulk_json import json_response
from monitor.web.deps import current_deps
from monitor.web.edge.auth import require_role

blueprint = Blueprint("audit", __name__)


def _item(record: audit_store.AuditRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "time": record.time,
        "actor": {
            "kind": record.actor_kind,
            "name": record.actor_name,
            "prefix": record.actor_prefix,
        },
        "resource": record.resource,
        "resource_id": record.resource_id,
        "action": record.action,
        "before": record.before,
        "after": record.after,
        "client_address": record.client_address,
        "request_id": record.request_id,
    }


@blueprint.get("/audit")
@require_role(Role.ADMIN)
@tag(["audit"])
@document_querystring(AuditQuery)
@document_response(AuditPage, 200)
async def list_changes() -> Response:
    """Changes newest first: who, what (before and after, secrets redacted), from where."""
    audit_filter, limit, before = parse_audit_query()
    records = await audit_store.list_changes(
        current_deps().gateway, audit_filter, limit=limit + 1, before=before
    )
    page = records[:limit]
    next_cursor = (
        encode_numbered_cursor(page[-1].time, page[-1].id) if len(records) > limit else None
    )
    return json_response({"items": [_item(record) for record in page], "next_cursor": next_cursor})
