"""Opaque keyset-pagination cursors: the (time, id) of the last item of a page."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def encode_cursor(moment: datetime, item_id: uuid.UUID) -> str:
    micros = (moment - EPOCH) // MICROSECOND
    raw = micros.to_bytes(8, "big", signed=True) + item_id.bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Raise ValueError for anything that is not a cursor this module made."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, TypeError):
        raise ValueError("not a valid cursor") from None
    if len(raw) != 24:
        raise ValueError("not a valid cursor")
    micros = int.from_bytes(raw[:8], "big", signed=True)
    try:
        moment = EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise ValueError("not a valid cursor") from None
    return moment, uuid.UUID(bytes=raw[8:])
