"""Opaque keyset-pagination cursors: the (time, id) of the last item of a page."""

from __future__ import annotations

import base64
import hashlib
import re
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


# Cursors over rows numbered by a bigint (the audit log): (time, id) and a
# check, so that a cursor cut short or edited by hand is refused rather than
# read as some other position. Not a signature: a forged cursor could only
# start a page elsewhere in a list its holder may read anyway.
_NUMBERED_LENGTH = 8 + 8 + 4
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_MAX_ID = 2**63 - 1
_URLSAFE_BASE64 = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _check(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=4, person=b"monitor-cursor").digest()


def encode_numbered_cursor(moment: datetime, item_id: int) -> str:
    micros = (moment - EPOCH) // MICROSECOND
    raw = micros.to_bytes(8, "big", signed=True) + item_id.to_bytes(8, "big")
    return base64.urlsafe_b64encode(raw + _check(raw)).decode().rstrip("=")


def decode_numbered_cursor(cursor: str) -> tuple[datetime, int]:
    """Raise ValueError for anything that `encode_numbered_cursor` did not make."""
    refused = ValueError("not a valid cursor")
    if _URLSAFE_BASE64.fullmatch(cursor) is None:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except ValueError:  # binascii.Error: a length no base64 text has
        raise refused from None
    if len(raw) != _NUMBERED_LENGTH or raw[16:] != _check(raw[:16]):
        raise refused
    try:
        moment = EPOCH + timedelta(microseconds=int.from_bytes(raw[:8], "big", signed=True))
    except OverflowError:
        raise refused from None
    item_id = int.from_bytes(raw[8:16], "big")
    if not (EPOCH <= moment < _LATEST and 1 <= item_id <= _MAX_ID):
        raise refused
    return moment, item_id
