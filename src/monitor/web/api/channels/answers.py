"""What the channel routes answer: channels as JSON, with their secrets' state."""

from __future__ import annotations

from typing import Any, Literal

from quart import Response

from monitor.secret_box import SecretBox, SecretUnreadable
from monitor.storage.channels import ChannelRecord
from monitor.web.api.bulk_json import json_response
from monitor.web.edge.preconditions import with_version

SecretState = Literal["none", "readable", "unreadable"]


def opened_secrets(box: SecretBox, record: ChannelRecord) -> dict[str, str] | None:
    """The channel's secrets in the clear; None when they cannot be opened."""
    if record.secrets is None:
        return {}
    try:
        return {str(key): str(value) for key, value in box.open(record.secrets).items()}
    except SecretUnreadable:
        return None


def secret_state(box: SecretBox, record: ChannelRecord) -> SecretState:
    if record.secrets is None:
        return "none"
    return "readable" if opened_secrets(box, record) is not None else "unreadable"


def channel_json(box: SecretBox, record: ChannelRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "version": record.version,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "updated_at": record.updated_at,
        "updated_by": record.updated_by,
        "secrets": secret_state(box, record),
        "channel": record.document(),
    }


def channel_response(box: SecretBox, record: ChannelRecord, status: int = 200) -> Response:
    return with_version(json_response(channel_json(box, record), status), record.version)
