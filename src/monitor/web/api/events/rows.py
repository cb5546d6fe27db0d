"""Turn decoded events into rows: the checks msgspec cannot express, ids, fingerprints."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from monitor.domain.durations import format_duration
from monitor.domain.events import (
    LEVEL_NUMBER,
    LEVELS,
    attributes_problem,
    derive_fingerprint,
    is_grouped,
)
from monitor.domain.ids import RANDOM_BYTES, uuid7
from monitor.domain.rows import EventRow
from monitor.web.api.events.schemas import EventIn

MAX_ATTRIBUTES_BYTES = 16 * 1024
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class EventRules:
    retention: timedelta
    max_future_skew: timedelta


@dataclass(frozen=True)
class ItemError:
    index: int
    field: str
    message: str

    def as_dict(self, bulk: bool) -> dict[str, Any]:
        shown: dict[str, Any] = {"field": self.field, "message": self.message}
        if bulk:
            shown = {"index": self.index, **shown}
        return shown


def rule_errors(index: int, event: EventIn, now: datetime, rules: EventRules) -> list[ItemError]:
    """Every rule a decoded event breaks (the ones msgspec's schema cannot express)."""
    errors: list[ItemError] = []
    if event.time is not None:
        if event.time > now + rules.max_future_skew:
            skew = format_duration(rules.max_future_skew)
            errors.append(ItemError(index, "time", f"is more than {skew} in the future"))
        elif event.time < now - rules.retention:
            retention = format_duration(rules.retention)
            errors.append(
                ItemError(index, "time", f"is older than the retention window of {retention}")
            )
    for name in ("source", "message", "fingerprint", "trace_id"):
        value = getattr(event, name)
        if value is not None and "\x00" in value:
            errors.append(ItemError(index, name, "must not contain NUL characters"))
    problem = attributes_problem(event.attributes)
    if problem is not None:
        errors.append(ItemError(index, "attributes", problem))
    elif len(_encode(event.attributes)) > MAX_ATTRIBUTES_BYTES:
        errors.append(
            ItemError(index, "attributes", f"encode to more than {MAX_ATTRIBUTES_BYTES} bytes")
        )
    return errors


def prepare_rows(
    events: Sequence[EventIn], now: datetime, rules: EventRules
) -> tuple[list[EventRow], list[ItemError]]:
    """Rows ready for the ingest actor, or every rule each event breaks."""
    randomness = os.urandom(RANDOM_BYTES * len(events))
    unix_ms = int(now.timestamp() * 1000)
    rows: list[EventRow] = []
    errors: list[ItemError] = []
    for index, event in enumerate(events):
        problems = rule_errors(index, event, now, rules)
        if problems:
            errors.extend(problems)
            continue
        if errors:
            continue  # the request fails; no point building more rows
        level = LEVEL_NUMBER[event.level]
        grouped = is_grouped(level)
        fingerprint = event.fingerprint
        if fingerprint is None and grouped:
            fingerprint = derive_fingerprint(event.type, event.source, event.message)
        offset = index * RANDOM_BYTES
        rows.append(
            EventRow(
                id=uuid7(unix_ms, randomness[offset : offset + RANDOM_BYTES]),
                time=now if event.time is None else event.time.astimezone(UTC),
                received_at=now,
                type=event.type,
                level=level,
                source=event.source,
                message=event.message,
                attributes=_encode(event.attributes),
                fingerprint=fingerprint,
                trace_id=event.trace_id,
                grouped=grouped,
            )
        )
    return ([] if errors else rows), errors


def level_name(level: int) -> str:
    return LEVELS[level]
