"""Silences (under /api/v1/silences): read to view, admin to make and expire.

A silence mutes the notifications of the instances its matchers select,
from `starts_at` until `ends_at` (domain/muting.py); the instances keep
their states and history, and the instance list names the silences that
mute each one. A silence is not edited: `DELETE` expires it early (a
pending one never starts), and a changed one is a new silence.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_request, document_response, tag

from monitor.domain.cursors import encode_numbered_cursor
from monitor.domain.dashboards import DashboardRefused
from monitor.domain.keys import Role
from monitor.domain.notification_documents import SilenceDocument as ParsedSilence
from monitor.domain.notification_documents import parse_silence
from monitor.storage import silences as store
from monitor.web.api.alerts.instance_actions import publish_muting
from monitor.web.api.alerts.paging import PAGE_PARAMETERS, choices_of, page_of, unknown_parameters
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboards.answers import existing_id, not_found, refused
from monitor.web.api.notifications.documents import read_document
from monitor.web.api.notifications.schemas import (
    SilenceDocument,
    SilenceList,
    SilenceOut,
    SilenceQuery,
)
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.auth import require_role
from monitor.web.edge.query_checks import invalid_query

blueprint = Blueprint("silences", __name__)
blueprint.register_error_handler(DashboardRefused, refused)

WHAT = "silence"
DEFAULT_STATES: tuple[store.SilenceState, ...] = ("pending", "active")


def silence_json(record: store.SilenceRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": record.id,
        "state": record.state(now),
        "matchers": record.matchers,
        "starts_at": record.starts_at,
        "ends_at": record.ends_at,
        "comment": record.comment,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "expired_at": record.expired_at,
        "expired_by": record.expired_by,
    }


async def save_silence(document: ParsedSilence, now: datetime) -> store.SilenceRecord:
    """Store a parsed silence as made by the request's key (the API's and the UI's form's
    one way, so both write the same row and audit entry), and tell the live channel."""
    made = await store.create(
        current_deps().gateway,
        [matcher.as_dict() for matcher in document.matchers],
        document.starts_at or now,
        document.ends_at,
        document.comment,
        by=request_attribution(),
    )
    publish_muting("silence", made.id, "created", now)
    return made


async def expire_now(silence_id: int, now: datetime) -> store.SilenceRecord:
    """Expire a silence as the request's key (404 unknown, 409 ended: DashboardRefused),
    and tell the live channel."""
    expired = await store.expire(
        current_deps().gateway, existing_id(WHAT, silence_id), now=now, by=request_attribution()
    )
    publish_muting("silence", expired.id, "expired", now)
    return expired


@blueprint.get("/silences")
@require_role(Role.READ)
@tag(["notifications"])
@document_querystring(SilenceQuery)
@document_response(SilenceList, 200)
async def list_silences() -> Response:
    """Silences newest first; by default those pending or active."""
    errors: list[dict[str, Any]] = []
    unknown_parameters(request.args, PAGE_PARAMETERS | {"state"}, errors)
    states = choices_of(request.args, "state", store.SILENCE_STATES, errors)
    limit, before = page_of(request.args, errors)
    if errors:
        raise invalid_query(errors)
    now = datetime.now(UTC)
    rows = await store.list_silences(
        current_deps().gateway,
        now=now,
        states=tuple(s for s in store.SILENCE_STATES if s in states) or DEFAULT_STATES,
        limit=limit + 1,
        before_id=None if before is None else before[1],
    )
    page = rows[:limit]
    next_cursor = (
        encode_numbered_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    )
    return json_response(
        {"silences": [silence_json(row, now) for row in page], "next_cursor": next_cursor}
    )


@blueprint.post("/silences")
@require_role(Role.ADMIN)
@tag(["notifications"])
@document_request(SilenceDocument)
@document_response(SilenceOut, 201)
async def create_silence() -> Response:
    """A new silence: matchers, `ends_at` or `duration`, and a comment saying why. It is
    made by the request's key (`created_by`)."""
    now = datetime.now(UTC)
    document = await read_document(lambda raw: parse_silence(raw, now=now))
    created = await save_silence(document, now)
    response = json_response(silence_json(created, now), 201)
    response.headers["Location"] = f"{request.path}/{created.id}"
    return response


@blueprint.get("/silences/<int:silence_id>")
@require_role(Role.READ)
@tag(["notifications"])
@document_response(SilenceOut, 200)
async def get_silence(silence_id: int) -> Response:
    """A silence, in whatever state."""
    found = await store.get(current_deps().gateway, existing_id(WHAT, silence_id))
    if found is None:
        raise not_found(WHAT, silence_id)
    return json_response(silence_json(found, datetime.now(UTC)))


@blueprint.delete("/silences/<int:silence_id>")
@require_role(Role.ADMIN)
@tag(["notifications"])
@document_response(SilenceOut, 200)
async def expire_silence(silence_id: int) -> Response:
    """Expire a silence now (a pending one never starts); 409 once it has ended. It stays
    listed as expired."""
    now = datetime.now(UTC)
    expired = await expire_now(silence_id, now)
    return json_response(silence_json(expired, now))
