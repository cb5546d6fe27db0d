"""Realistic synthetic events, shared by the benchmarks in this folder.

Skewed like real traffic: a few types and sources carry most events (Zipf
weights), ~2 % are error/critical and come from ~50 recurring error
signatures (so they fall into ~50 groups once numbers are normalised away),
messages are ~80 characters with numbers in them, and every event has a
`status` attribute (10 values) plus 1-3 others.
"""

from __future__ import annotations

import random
import struct
import uuid
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

TYPES = (
    "http.request",
    "db.query",
    "cache.miss",
    "job.finished",
    "auth.login",
    "queue.consume",
    "queue.publish",
    "job.started",
    "http.client",
    "payment.charge",
    "email.sent",
    "db.slow_query",
    "auth.failed",
    "cache.evict",
    "payment.refund",
    "job.failed",
    "deploy.finished",
    "config.reload",
    "health.check",
    "auth.logout",
)
SOURCES = tuple(
    f"{service}-{number:02d}"
    for service in ("api", "worker", "web", "billing", "auth")
    for number in range(1, 11)
)
LEVELS = ("debug", "info", "warning", "error", "critical")
LEVEL_WEIGHTS = (0.15, 0.60, 0.23, 0.017, 0.003)
STATUSES = (200, 201, 204, 302, 304, 400, 401, 404, 500, 503)
STATUS_WEIGHTS = (0.62, 0.08, 0.05, 0.04, 0.06, 0.04, 0.03, 0.05, 0.02, 0.01)
REGIONS = ("eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1")
METHODS = ("GET", "GET", "GET", "POST", "PUT", "DELETE")
ROUTES = ("/api/orders", "/api/users", "/api/cart", "/api/search", "/api/invoices", "/login")

# ~80 characters once filled in; every template carries numbers.
MESSAGES = (
    "{method} {route}/{n1} answered {status} in {ms} ms ({n2} bytes, {n3} rows read)",
    "query on table orders_{n1} returned {n2} rows in {ms} ms using index scan on idx_{n3}",
    "cache miss for key session:{n1}:{n2}; fetched from origin in {ms} ms, ttl {n3} s",
    "job {n1} finished: {n2} items processed, {n3} skipped, total runtime {ms} ms on shard 4",
    "user {n1} logged in from 10.{n2}.{n3}.7 after {ms} ms of password hashing (factor 12)",
    "consumed message {n1} from partition {n2} at offset {n3} with lag {ms} ms behind head",
    "published {n2} messages to topic events.v{n3} in batch {n1}, broker ack after {ms} ms",
    "charge {n1} for {n2}.{n3} EUR authorised by provider in {ms} ms, risk score {n3} of 100",
)
ERROR_MESSAGES = (
    "connection to db-{n3}.internal refused after {ms} ms (attempt {n2} of 5); pool has 0 free",
    "payment provider timeout after {ms} ms for charge {n1} (attempt {n2} of 3), giving up",
    "deadlock detected while updating order {n1}; transaction {n2} rolled back after {ms} ms",
    "worker {n2} crashed with exit code 137 (out of memory) while processing job {n1}",
    "upstream returned 502 for GET /api/orders/{n1} after {ms} ms; circuit breaker now opened",
)


@dataclass(frozen=True)
class ErrorSignature:
    """One recurring error: always the same type, source and message template."""

    type: str
    source: str
    template: str


def _zipf(count: int, exponent: float = 1.1) -> list[float]:
    return [1 / (rank + 1) ** exponent for rank in range(count)]


def _cumulative(weights: Sequence[float]) -> list[float]:
    """Cumulative weights scaled to end at 1, for `bisect` on one `random()` draw."""
    total = sum(weights)
    running = 0.0
    out = []
    for weight in weights:
        running += weight
        out.append(running / total)
    out[-1] = 1.0
    return out


def error_signatures(count: int = 50) -> list[ErrorSignature]:
    """`count` distinct (type, source, template) error signatures, deterministic."""
    rng = random.Random(7)
    seen: set[tuple[str, str, str]] = set()
    signatures = []
    while len(signatures) < count:
        key = (rng.choice(TYPES[:12]), rng.choice(SOURCES[:25]), rng.choice(ERROR_MESSAGES))
        if key not in seen:
            seen.add(key)
            signatures.append(ErrorSignature(*key))
    return signatures


SIGNATURES = error_signatures()
# bisect over one random() draw: far cheaper than random.choices, which
# rebuilds its cumulative weights at every call.
_LEVELS_CUMULATIVE = _cumulative(LEVEL_WEIGHTS)
_TYPES_CUMULATIVE = _cumulative(_zipf(len(TYPES)))
_SOURCES_CUMULATIVE = _cumulative(_zipf(len(SOURCES), 0.8))
_STATUSES_CUMULATIVE = _cumulative(STATUS_WEIGHTS)
_SIGNATURES_CUMULATIVE = _cumulative(_zipf(len(SIGNATURES), 0.9))
_EXTRAS = ("region", "duration_ms", "method", "user_id", "retry")


@dataclass(frozen=True)
class Synthetic:
    """One generated event, before any encoding."""

    type: str
    level: int  # index into LEVELS
    source: str
    message: str
    attributes: dict[str, Any]
    trace_id: str | None
    signature: int | None  # index into SIGNATURES for error/critical events


def generate(rng: random.Random) -> Synthetic:
    draw = rng.random
    level = bisect_left(_LEVELS_CUMULATIVE, draw())
    fill = {
        "n1": 10_000 + int(draw() * 9_990_000),
        "n2": 1 + int(draw() * 999),
        "n3": 1 + int(draw() * 99),
        "ms": 1 + int(draw() * 29_999),
        "method": METHODS[int(draw() * len(METHODS))],
        "route": ROUTES[int(draw() * len(ROUTES))],
    }
    signature: int | None = None
    if level >= 3:
        signature = bisect_left(_SIGNATURES_CUMULATIVE, draw())
        chosen = SIGNATURES[signature]
        event_type, source, template = chosen.type, chosen.source, chosen.template
        status = 500
    else:
        type_index = bisect_left(_TYPES_CUMULATIVE, draw())
        event_type = TYPES[type_index]
        source = SOURCES[bisect_left(_SOURCES_CUMULATIVE, draw())]
        template = MESSAGES[type_index % len(MESSAGES)]
        status = STATUSES[bisect_left(_STATUSES_CUMULATIVE, draw())]
    attributes: dict[str, Any] = {"status": status}
    first = int(draw() * len(_EXTRAS))
    for step in range(1 + int(draw() * 3)):  # 1 to 3 more keys
        key = _EXTRAS[(first + step * 2) % len(_EXTRAS)]
        if key == "region":
            attributes[key] = REGIONS[int(draw() * len(REGIONS))]
        elif key == "duration_ms":
            attributes[key] = round(rng.lognormvariate(3, 1.2), 2)
        elif key == "method":
            attributes[key] = fill["method"]
        elif key == "user_id":
            attributes[key] = 1 + int(draw() * 500_000)
        else:
            attributes[key] = draw() < 0.1
    trace_id = f"{rng.getrandbits(128):032x}" if draw() < 0.3 else None
    return Synthetic(
        type=event_type,
        level=level,
        source=source,
        message=template.format(status=status, **fill),
        attributes=attributes,
        trace_id=trace_id,
        signature=signature,
    )


def as_json_dict(event: Synthetic, time: datetime | None) -> dict[str, Any]:
    """The event as a client would POST it."""
    body: dict[str, Any] = {
        "type": event.type,
        "level": LEVELS[event.level],
        "source": event.source,
        "message": event.message,
        "attributes": event.attributes,
    }
    if time is not None:
        body["time"] = time.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if event.trace_id is not None:
        body["trace_id"] = event.trace_id
    return body


# --- PostgreSQL binary COPY, encoded by hand -------------------------------------------------
# Used to pre-encode whole COPY payloads, so a baseline or a loader spends its
# timed section sending bytes rather than converting Python objects.

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_NULL = struct.pack("!i", -1)


def _microseconds(moment: datetime) -> int:
    delta: timedelta = moment - PG_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _text(value: str | None) -> bytes:
    if value is None:
        return _NULL
    encoded = value.encode()
    return struct.pack("!i", len(encoded)) + encoded


def encode_event_row(row: Sequence[Any]) -> tuple[bytes, int]:
    """One events row (COPY_COLUMNS order) in binary COPY form, and the id's byte offset.

    Types as in storage/events.py COPY_TYPES: uuid, timestamptz, timestamptz,
    text, int2, text, text, jsonb (bytes, already JSON), text, text, int8.
    """
    (event_id, time, received_at, event_type, level, source, message, attributes) = row[:8]
    fingerprint, trace_id, group_id = row[8:11]
    assert isinstance(event_id, uuid.UUID) and isinstance(attributes, bytes)
    parts = [
        struct.pack("!hi", 11, 16),
        event_id.bytes,
        struct.pack("!iqiq", 8, _microseconds(time), 8, _microseconds(received_at)),
        _text(event_type),
        struct.pack("!ih", 2, level),
        _text(source),
        _text(message),
        struct.pack("!iB", len(attributes) + 1, 1),
        attributes,
        _text(fingerprint),
        _text(trace_id),
        _NULL if group_id is None else struct.pack("!iq", 8, group_id),
    ]
    return b"".join(parts), 6  # id bytes follow the field count (2) and length (4)
