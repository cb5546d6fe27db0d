"""Event routes: ingest (acknowledged after commit), query, stats, error groups."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import trio
from quart import Blueprint, Response
from quart_schema import document_querystring, document_request, document_response, tag

from monitor.domain.durations import format_duration
from monitor.domain.keys import Role
from monitor.domain.rows import EventRow
from monitor.messages import IngestEvents, IngestOutcome
from monitor.storage import events as event_store
from monitor.web.api.bulk_json import every_item_error, invalid, json_response, split_msgspec_error
from monitor.web.api.events.group_status import change_status, status_from_json
from monitor.web.api.events.groups_json import group_as_json
from monitor.web.api.events.listing import newest_events
from monitor.web.api.events.query import (
    parse_event_filter,
    parse_groups_query,
    parse_page,
    parse_stats_query,
)
from monitor.web.api.events.rows import EventRules, level_name, prepare_rows, rule_errors
from monitor.web.api.events.schemas import (
    BulkAccepted,
    BulkEventsIn,
    EventIn,
    EventInDoc,
    EventOut,
    EventPage,
    EventQuery,
    EventsEnvelope,
    EventsEnvelopeDoc,
    EventStatsOut,
    GroupList,
    GroupOut,
    GroupStatusIn,
)
from monitor.web.api.ingest_client import submit
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.auth import require_role
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import decodes_body_encoding
from monitor.web.edge.request_body import read_json_body

blueprint = Blueprint("events", __name__)

_decode_one = msgspec.json.Decoder(EventIn).decode
_decode_bulk = msgspec.json.Decoder(BulkEventsIn).decode
THREAD_THRESHOLD = 256 * 1024  # bytes of JSON above which bulk decoding leaves the event loop


def _every_item_error(body: bytes, rules: EventRules) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return every_item_error(
        body,
        "events",
        _decode_one,
        lambda index, event: [e.as_dict(bulk=True) for e in rule_errors(index, event, now, rules)],
    )


def _rules() -> EventRules:
    settings = current_deps().settings
    return EventRules(
        retention=settings.events_retention,
        max_future_skew=settings.events_max_future_skew,
    )


async def _commit(rows: list[EventRow]) -> IngestOutcome:
    """Hand rows to the ingest actor and wait for its commit (or 503)."""
    deps = current_deps()
    return await submit(
        deps.events.inbox,
        lambda reply: IngestEvents(rows, reply),
        deps.settings.ingest_timeout.total_seconds(),
    )


def _stored_as_json(event: event_store.StoredEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "time": event.time,
        "received_at": event.received_at,
        "type": event.type,
        "level": level_name(event.level),
        "source": event.source,
        "message": event.message,
        "attributes": event.attributes,
        "fingerprint": event.fingerprint,
        "trace_id": event.trace_id,
        "group_id": event.group_id,
    }


def _decode_and_prepare(body: bytes, rules: EventRules, max_items: int) -> list[EventRow]:
    """Rows for a bulk body, or ProblemError (400 naming every bad item, 413)."""
    try:
        decoded = _decode_bulk(body)
    except msgspec.DecodeError:
        raise invalid(_every_item_error(body, rules), "bulk") from None
    events = decoded.events if isinstance(decoded, EventsEnvelope) else decoded
    if len(events) > max_items:
        raise ProblemError(413, f"{len(events)} events in one request; the limit is {max_items}")
    rows, errors = prepare_rows(events, datetime.now(UTC), rules)
    if errors:
        raise invalid([e.as_dict(bulk=True) for e in errors], "bulk")
    return rows


@blueprint.post("/events")
@decodes_body_encoding
@require_role(Role.INGEST)
@tag(["events"])
@document_request(EventInDoc)
@document_response(EventOut, 201)
async def ingest_one() -> Response:
    """Store one event; answered after it is committed."""
    body = await read_json_body(current_deps().settings.max_decompressed_bytes)
    try:
        event = _decode_one(body)
    except msgspec.DecodeError as error:
        _, field, message = split_msgspec_error(error)
        raise invalid([{"field": field, "message": message}]) from None
    now = datetime.now(UTC)
    rows, errors = prepare_rows([event], now, _rules())
    if errors:
        raise invalid([error.as_dict(bulk=False) for error in errors])
    outcome = await _commit(rows)
    row = rows[0]
    group_id = outcome.group_ids.get(row.fingerprint) if row.grouped and row.fingerprint else None
    return json_response(
        {
            "id": row.id,
            "time": row.time,
            "received_at": row.received_at,
            "type": row.type,
            "level": event.level,
            "source": row.source,
            "message": row.message,
            "attributes": event.attributes,
            "fingerprint": row.fingerprint,
            "trace_id": row.trace_id,
            "group_id": group_id,
        },
        201,
    )


@blueprint.post("/events/bulk")
@decodes_body_encoding
@require_role(Role.INGEST)
@tag(["events"])
@document_request(EventsEnvelopeDoc)
@document_response(BulkAccepted, 201)
async def ingest_bulk() -> Response:
    """Store many events (a JSON array, or `{"events": [...]}`), all or nothing.

    One invalid event fails the whole request with 400 naming every bad item's
    index and field; nothing is stored. Answered after the commit.
    """
    settings = current_deps().settings
    body = await read_json_body(settings.max_decompressed_bytes)
    rules = _rules()
    if len(body) < THREAD_THRESHOLD:
        rows = _decode_and_prepare(body, rules, settings.max_batch_items)
    else:
        # Large bodies are decoded and checked in a worker thread, so the
        # event loop keeps serving other requests in between.
        rows = await trio.to_thread.run_sync(
            _decode_and_prepare, body, rules, settings.max_batch_items
        )
    if not rows:
        return json_response({"accepted": 0, "ids": []}, 201)
    await _commit(rows)
    return json_response({"accepted": len(rows), "ids": [row.id for row in rows]}, 201)


@blueprint.get("/events")
@require_role(Role.READ)
@tag(["events"])
@document_querystring(EventQuery)
@document_response(EventPage, 200)
async def list_events() -> Response:
    """Events newest first, filtered; `attr.<key>=<value>` matches an attribute's JSON text."""
    event_filter = parse_event_filter()
    limit, before = parse_page()
    page, next_cursor = await newest_events(
        current_deps().gateway, event_filter, limit=limit, before=before
    )
    return json_response(
        {"events": [_stored_as_json(event) for event in page], "next_cursor": next_cursor}
    )


@blueprint.get("/events/stats")
@require_role(Role.READ)
@tag(["events"])
@document_querystring(EventQuery)
@document_response(EventStatsOut, 200)
async def stats() -> Response:
    """Counts by level, type and source, and a count per `interval` (default 1h, last 24 h)."""
    event_filter, interval = parse_stats_query()
    result = await event_store.event_stats(
        current_deps().gateway, event_filter, interval=interval, top=20
    )
    return json_response(
        {
            "total": result.total,
            "by_level": {
                level_name(level): count for level, count in sorted(result.by_level.items())
            },
            "by_type": [{"key": key, "count": count} for key, count in result.by_type],
            "by_source": [{"key": key, "count": count} for key, count in result.by_source],
            "interval": format_duration(interval),
            "series": [{"time": time, "count": count} for time, count in result.series],
        }
    )


@blueprint.get("/events/groups")
@require_role(Role.READ)
@tag(["events"])
@document_querystring(EventQuery)
@document_response(GroupList, 200)
async def groups() -> Response:
    """Error groups ranked by their events within the range (default: the last 24 h)."""
    event_filter, statuses, limit = parse_groups_query()
    found = await event_store.top_groups(
        current_deps().gateway, event_filter, statuses=statuses, limit=limit
    )
    return json_response({"groups": [group_as_json(group) for group in found]})


@blueprint.patch("/events/groups/<int:group_id>")
@require_role(Role.WRITE)
@tag(["events"])
@document_request(GroupStatusIn)
@document_response(GroupOut, 200)
async def set_group_status(group_id: int) -> Response:
    """Mark a group open, resolved or ignored. A resolved group reopens on its next event."""
    status = status_from_json(await read_json_body(4096))
    group = await change_status(group_id, status)
    return json_response(group_as_json(group))


@blueprint.get("/events/<uuid:event_id>")
@require_role(Role.READ)
@tag(["events"])
@document_response(EventOut, 200)
async def get_event(event_id: uuid.UUID) -> Response:
    event = await event_store.get_event(current_deps().gateway, event_id)
    if event is None:
        raise ProblemError(404, f"no event with id {event_id}", kind="not-found")
    return json_response(_stored_as_json(event))


@blueprint.delete("/events/<uuid:event_id>")
@require_role(Role.ADMIN)
@tag(["events"])
async def delete_event(event_id: uuid.UUID) -> Response:
    """Delete one event (admin). Its group's all-time count is kept."""
    if not await event_store.delete_event(
        current_deps().gateway, event_id, by=request_attribution()
    ):
        raise ProblemError(404, f"no event with id {event_id}", kind="not-found")
    return Response(b"", status=204)
