"""Notification channels (under /api/v1/channels): read to view, admin to change and test.

A channel's body is read by domain/channels.py `parse_channel` (strict,
every bad field named in one 400). Its secrets are sealed with a key
derived from MONITOR_SECRET_KEY (monitor/secret_box.py) before they reach
storage and are never answered: a stored secret shows as `{"set": true}`,
which `PUT` takes back to keep it. `PUT` and `DELETE` honour If-Match on
the channel's version as the alerts API does. `POST /<id>/test` sends a
sample notification built by the notifier's own message builders and
answers what the receiver said; only its audit row is stored.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response
from quart_schema import document_headers, document_request, document_response, tag

from monitor.domain.channels import ChannelDraft, complete_secrets, parse_channel
from monitor.domain.dashboards import DashboardRefused, VersionCondition
from monitor.domain.keys import Role
from monitor.domain.rule_fields import RuleProblems
from monitor.notifications.delivery import deliver
from monitor.notifications.groups import sample_group
from monitor.outbound import OutboundLimits
from monitor.secret_box import SecretBox, SecretUnreadable
from monitor.storage import channels as store
from monitor.storage.channels import ChannelFields, ChannelRecord
from monitor.web.api.alerts.bodies import decoded, read_body
from monitor.web.api.alerts.schemas import IfMatchHeader
from monitor.web.api.bulk_json import json_response
from monitor.web.api.channels.answers import channel_json, channel_response, opened_secrets
from monitor.web.api.channels.schemas import ChannelDocument, ChannelList, ChannelOut, TestOutcome
from monitor.web.api.dashboards.answers import existing_id, not_found, refused
from monitor.web.api.dashboards.bodies import invalid
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.auth import require_role
from monitor.web.edge.preconditions import if_match

blueprint = Blueprint("channels", __name__)
blueprint.register_error_handler(DashboardRefused, refused)

ANY_VERSION = VersionCondition(None)
# parse_channel bounds the document at 64 KiB; a little more for spacing.
CHANNEL_BODY_BYTES = 96 * 1024


def secret_box() -> SecretBox:
    return SecretBox(current_deps().secret_keys)


async def _read_draft() -> ChannelDraft:
    raw = decoded(await read_body(CHANNEL_BODY_BYTES))
    try:
        return parse_channel(raw)
    except RuleProblems as problems:
        raise invalid([problem.as_dict() for problem in problems.problems]) from None


def channel_fields(
    box: SecretBox, draft: ChannelDraft, stored: ChannelRecord | None
) -> ChannelFields:
    """What is stored for `draft`: kept secrets taken from `stored`, all sealed again."""
    kept: dict[str, str] | None = None
    unreadable = False
    if stored is not None and stored.secrets is not None:
        try:
            kept = {str(k): str(v) for k, v in box.open(stored.secrets).items()}
        except SecretUnreadable:
            unreadable = True
    try:
        clear = complete_secrets(draft, kept, stored_unreadable=unreadable)
    except RuleProblems as problems:
        raise invalid([problem.as_dict() for problem in problems.problems]) from None
    sealed = None
    if clear:
        # Sealed again only when they changed: the same secrets keep the same token,
        # so saving a channel unchanged is no new version.
        same = kept is not None and kept == clear and stored is not None
        sealed = stored.secrets if same and stored is not None else box.seal(clear)
    return ChannelFields(
        draft.name, draft.kind, draft.enabled, draft.settings, sorted(clear), sealed
    )


@blueprint.get("/channels")
@require_role(Role.READ)
@tag(["channels"])
@document_response(ChannelList, 200)
async def list_channels() -> Response:
    """Every notification channel, by name; secrets shown only as set."""
    box = secret_box()
    found = await store.list_channels(current_deps().gateway)
    return json_response({"channels": [channel_json(box, record) for record in found]})


@blueprint.post("/channels")
@require_role(Role.ADMIN)
@tag(["channels"])
@document_request(ChannelDocument)
@document_response(ChannelOut, 201)
async def create_channel() -> Response:
    """A new channel. Every bad field is named in one 400; a name in use, whatever its
    case, is a 409."""
    draft = await _read_draft()
    box = secret_box()
    created = await store.create_channel(
        current_deps().gateway, channel_fields(box, draft, None), by=request_attribution()
    )
    response = channel_response(box, created, 201)
    response.headers["Location"] = f"/api/v1/channels/{created.id}"
    return response


@blueprint.get("/channels/<int:channel_id>")
@require_role(Role.READ)
@tag(["channels"])
@document_response(ChannelOut, 200)
async def get_channel(channel_id: int) -> Response:
    """A channel; its version is also the `ETag`."""
    record = await store.get_channel(current_deps().gateway, existing_id("channel", channel_id))
    if record is None:
        raise not_found("channel", channel_id)
    return channel_response(secret_box(), record)


@blueprint.put("/channels/<int:channel_id>")
@require_role(Role.ADMIN)
@tag(["channels"])
@document_headers(IfMatchHeader)
@document_request(ChannelDocument)
@document_response(ChannelOut, 200)
async def replace_channel(channel_id: int) -> Response:
    """Replace a channel (If-Match honoured). A secret sent as `{"set": true}` keeps the
    stored one; a body equal to the stored channel changes nothing (same version)."""
    condition = if_match() or ANY_VERSION
    existing_id("channel", channel_id)
    draft = await _read_draft()
    box = secret_box()
    updated = await store.replace_channel(
        current_deps().gateway,
        channel_id,
        lambda stored: channel_fields(box, draft, stored),
        condition=condition,
        by=request_attribution(),
    )
    return channel_response(box, updated)


@blueprint.delete("/channels/<int:channel_id>")
@require_role(Role.ADMIN)
@tag(["channels"])
@document_headers(IfMatchHeader)
async def delete_channel(channel_id: int) -> Response:
    """Delete a channel (If-Match honoured); its secrets are erased."""
    condition = if_match() or ANY_VERSION
    await store.delete_channel(
        current_deps().gateway,
        existing_id("channel", channel_id),
        condition=condition,
        by=request_attribution(),
    )
    return Response(b"", status=204)


@blueprint.post("/channels/<int:channel_id>/test")
@require_role(Role.ADMIN)
@tag(["channels"])
@document_response(TestOutcome, 200)
async def test_channel(channel_id: int) -> Response:
    """Send a sample notification (built as the notifier builds them) and answer what the
    receiver said: its status and the start of its body, or why it failed. A disabled
    channel is tested all the same. Only the audit row is stored."""
    record = await store.get_channel(current_deps().gateway, existing_id("channel", channel_id))
    if record is None:
        raise not_found("channel", channel_id)
    return json_response(await tested(record))


async def tested(record: ChannelRecord) -> dict[str, Any]:
    """Send the channel a sample notification; what came back, audited (the UI's Test
    button calls this too, so its audit row is the API's)."""
    deps = current_deps()
    key = f"test-{record.id}-{secrets.token_hex(8)}"
    group = sample_group(datetime.now(UTC), deps.identity.public_url, key)
    started = time.perf_counter()
    result = await deliver(
        record.kind,
        record.settings,
        opened_secrets(secret_box(), record),
        group,
        OutboundLimits.from_settings(deps.settings),
    )
    failure = result.failure.as_dict() if result.failure is not None else None
    outcome = {
        "delivered": result.delivered,
        "status": result.status,
        "body": result.body,
        "body_truncated": result.body_truncated,
        "failure": failure,
        "idempotency_key": key,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    audited = {k: outcome[k] for k in ("delivered", "status", "failure", "idempotency_key")}
    await store.record_test(deps.gateway, record, audited, by=request_attribution())
    return outcome
