"""Alert instances (under /api/v1/alerts/instances): read to list, write to act on them.

Acknowledging marks a firing, no_data or error instance owned (by the key's
name) without changing its state; resolving by hand closes an open one, and
if the condition still holds at the next evaluation a new instance opens.
Both act on a slot's current instance only: an older one of the same rule
and group is closed, so acting on it is a 409, as is an action the state
does not allow (domain/alert_states.py `ActionRefused`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from quart import Blueprint, Response
from quart_schema import document_querystring, document_request, document_response, tag

from monitor.alert_muting import muting_json, muting_of
from monitor.domain.alert_states import ActionRefused
from monitor.domain.cursors import encode_numbered_cursor
from monitor.domain.keys import Role
from monitor.storage import alert_reads as reads
from monitor.web.api.alerts.answers import instance_json, refused_action
from monitor.web.api.alerts.instance_actions import acknowledge_instance, resolve_instance
from monitor.web.api.alerts.paging import parse_instance_query
from monitor.web.api.alerts.schemas import AcknowledgeIn, InstanceOut, InstancePage, InstanceQuery
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboards.answers import existing_id, not_found
from monitor.web.api.dashboards.bodies import read_model
from monitor.web.deps import current_deps
from monitor.web.edge.auth import require_role

blueprint = Blueprint("alert_instances", __name__)
blueprint.register_error_handler(ActionRefused, refused_action)

ACKNOWLEDGE_BODY_BYTES = 8 * 1024


@blueprint.get("/alerts/instances")
@require_role(Role.READ)
@tag(["alerts"])
@document_querystring(InstanceQuery)
@document_response(InstancePage, 200)
async def list_instances() -> Response:
    """Instances newest opened first, filtered, a page at a time; each open one names the
    silences and inhibition rules that mute its notifications now."""
    found, limit, before = parse_instance_query()
    rows = await reads.list_instances(current_deps().gateway, found, limit=limit + 1, before=before)
    page = rows[:limit]
    next_cursor = (
        encode_numbered_cursor(page[-1].opened_at, page[-1].id) if len(rows) > limit else None
    )
    mutings = await muting_of(
        current_deps().gateway,
        [(row.labels, row.closed_at is None) for row in page],
        datetime.now(UTC),
    )
    return json_response(
        {
            "instances": [
                instance_json(row) | muting_json(muting)
                for row, muting in zip(page, mutings, strict=True)
            ],
            "next_cursor": next_cursor,
        }
    )


async def _answer(instance_id: int) -> Response:
    row = await reads.get_instance(current_deps().gateway, instance_id)
    if row is None:  # pragma: no cover - instances are never deleted
        raise not_found("alert instance", instance_id)
    return json_response(instance_json(row))


@blueprint.post("/alerts/instances/<int:instance_id>/acknowledge")
@require_role(Role.WRITE)
@tag(["alerts"])
@document_request(AcknowledgeIn)
@document_response(InstanceOut, 200)
async def acknowledge(instance_id: int) -> Response:
    """Mark a firing, no_data or error instance owned, with a comment, optionally until a
    time; 409 in any other state. Acknowledging again replaces the acknowledgement."""
    existing_id("alert instance", instance_id)
    data = await read_model(AcknowledgeIn, ACKNOWLEDGE_BODY_BYTES)
    await acknowledge_instance(instance_id, data)
    return await _answer(instance_id)


@blueprint.post("/alerts/instances/<int:instance_id>/resolve")
@require_role(Role.WRITE)
@tag(["alerts"])
@document_response(InstanceOut, 200)
async def resolve(instance_id: int) -> Response:
    """Close an open instance now (no body). If the condition still holds at the next
    evaluation, a new instance opens. 409 when it is closed already."""
    await resolve_instance(instance_id)
    return await _answer(instance_id)
