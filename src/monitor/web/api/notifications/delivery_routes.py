"""The delivery log (under /api/v1/notifications): read to view.

Every notification queued for a channel, newest first, with its status,
its attempts (outcome, the receiver's status and the start of its answer,
the error, how long it took, which sender made it) and, for one delivery,
the message it carries. Filters: `status`, `channel_id`, `rule_id` and
`instance_id` (deliveries telling of that rule's or instance's alerts),
`from`/`to` (when it was queued); keyset pages as the other lists. Finished deliveries are
kept MONITOR_NOTIFICATION_LOG_RETENTION (storage/deliveries.py `prune`).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response, tag

from monitor.domain.cursors import encode_numbered_cursor
from monitor.domain.keys import Role
from monitor.domain.query_values import listed, whole_number
from monitor.storage import deliveries as store
from monitor.web.api.alerts.paging import PAGE_PARAMETERS, choices_of, page_of, unknown_parameters
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboards.answers import existing_id, not_found
from monitor.web.api.notifications.schemas import DeliveryDetail, DeliveryList, DeliveryQuery
from monitor.web.deps import current_deps
from monitor.web.edge.auth import require_role
from monitor.web.edge.query_checks import QueryArgs, invalid_query, query_time

blueprint = Blueprint("deliveries", __name__)

WHAT = "notification"
PARAMETERS = PAGE_PARAMETERS | {"status", "channel_id", "rule_id", "instance_id", "from", "to"}
MAX_ID = 2**63 - 1


def attempt_json(row: store.AttemptRow) -> dict[str, Any]:
    return {
        "attempt": row.attempt,
        "started_at": row.started_at,
        "duration_ms": row.duration_ms,
        "outcome": row.outcome,
        "status_code": row.status_code,
        "error_kind": row.error_kind,
        "error": row.error,
        "response": row.response,
        "sent_by": row.sent_by,
    }


def delivery_json(row: store.DeliveryRow) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": row.id,
        "channel_id": row.channel_id,
        "channel_name": row.channel_name,
        "group_id": row.group_id,
        "policy_id": row.policy_id,
        "idempotency_key": row.idempotency_key,
        "reason": row.reason,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "next_attempt_at": row.next_attempt_at if row.status == "queued" else None,
        "finished_at": row.finished_at,
        "group_labels": {str(k): str(v) for k, v in row.group_labels.items()},
        "alert_count": row.alert_count,
        "attempt_log": [attempt_json(attempt) for attempt in row.attempt_rows],
    }
    if row.message is not None:
        shown["message"] = row.message
    return shown


def _ids(args: QueryArgs, name: str, errors: list[dict[str, Any]]) -> tuple[int, ...]:
    try:
        return tuple(whole_number(value, 1, MAX_ID) for value in listed(args.getlist(name)))
    except ValueError as problem:
        errors.append({"field": name, "message": str(problem)})
        return ()


def parse_delivery_query(
    args: QueryArgs,
) -> tuple[store.DeliveryFilter, int, tuple[Any, int] | None]:
    """(filter, page size, position after which the page starts) or a 400 naming each problem."""
    errors: list[dict[str, Any]] = []
    unknown_parameters(args, PARAMETERS, errors)
    time_from = query_time(args, "from", errors)
    time_to = query_time(args, "to", errors)
    if time_from and time_to and time_from >= time_to:
        errors.append({"field": "to", "message": "must be after from"})
    found = store.DeliveryFilter(
        statuses=choices_of(args, "status", store.DELIVERY_STATUSES, errors),
        channel_ids=_ids(args, "channel_id", errors),
        rule_ids=_ids(args, "rule_id", errors),
        instance_ids=_ids(args, "instance_id", errors),
        time_from=time_from,
        time_to=time_to,
    )
    limit, before = page_of(args, errors)
    if errors:
        raise invalid_query(errors)
    return found, limit, before


@blueprint.get("/notifications")
@require_role(Role.READ)
@tag(["notifications"])
@document_querystring(DeliveryQuery)
@document_response(DeliveryList, 200)
async def list_deliveries() -> Response:
    """The delivery log: notifications newest first (by when they were queued), each with
    its channel, status, last error and every attempt."""
    found, limit, before = parse_delivery_query(request.args)
    rows = await store.list_deliveries(
        current_deps().gateway, found, limit=limit + 1, before=before
    )
    page = rows[:limit]
    next_cursor = (
        encode_numbered_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    )
    return json_response(
        {"deliveries": [delivery_json(row) for row in page], "next_cursor": next_cursor}
    )


@blueprint.get("/notifications/<int:delivery_id>")
@require_role(Role.READ)
@tag(["notifications"])
@document_response(DeliveryDetail, 200)
async def get_delivery(delivery_id: int) -> Response:
    """One notification with its attempts and the message it carries."""
    found = await store.get_delivery(current_deps().gateway, existing_id(WHAT, delivery_id))
    if found is None:
        raise not_found(WHAT, delivery_id)
    return json_response(delivery_json(found))
