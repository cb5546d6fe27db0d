"""Event rules: levels, fingerprints for error grouping, attribute limits."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.domain.query_values import json_number

LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
LEVEL_NUMBER: dict[str, int] = {name: number for number, name in enumerate(LEVELS)}
GROUPED_FROM = LEVEL_NUMBER["error"]  # error and critical events are grouped

ATTRIBUTES_MAX_DEPTH = 8
ATTRIBUTES_MAX_KEYS = 200  # across all levels
ATTRIBUTE_KEY_MAX_LENGTH = 128

# Order matters: UUIDs before hex before plain numbers.
_NORMALISERS = (
    (
        re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        "<uuid>",
    ),
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
)


def normalise_message(message: str) -> str:
    """The message with the parts that vary between occurrences replaced."""
    for pattern, placeholder in _NORMALISERS:
        message = pattern.sub(placeholder, message)
    return " ".join(message.split())


def derive_fingerprint(event_type: str, source: str, message: str) -> str:
    basis = "\x1f".join((event_type, source, normalise_message(message)))
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def is_grouped(level: int) -> bool:
    return level >= GROUPED_FROM


def attributes_problem(attributes: Mapping[str, Any]) -> str | None:
    """Why an attributes object is refused (too deep, too many keys, NUL), or None."""
    keys = 0
    stack: list[tuple[Any, int]] = [(attributes, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > ATTRIBUTES_MAX_DEPTH:
                return f"nested deeper than {ATTRIBUTES_MAX_DEPTH} levels"
            keys += len(value)
            if keys > ATTRIBUTES_MAX_KEYS:
                return f"more than {ATTRIBUTES_MAX_KEYS} keys"
            for key, item in value.items():
                if len(key) > ATTRIBUTE_KEY_MAX_LENGTH:
                    return f"a key is longer than {ATTRIBUTE_KEY_MAX_LENGTH} characters"
                if "\x00" in key:
                    return "a key contains a NUL character"
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > ATTRIBUTES_MAX_DEPTH:
                return f"nested deeper than {ATTRIBUTES_MAX_DEPTH} levels"
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and "\x00" in value:
            return "a string contains a NUL character"
    return None


def attribute_match_candidates(value: str) -> list[Any]:
    """JSON values whose text form is `value`: "500" → ["500", 500]; "true" → ["true", True].

    ValueError for a number no stored value can equal (see `json_number`).
    """
    candidates: list[Any] = [value]
    if value == "true":
        candidates.append(True)
    elif value == "false":
        candidates.append(False)
    elif value == "null":
        candidates.append(None)
    else:
        number = json_number(value)
        if number is not None:
            candidates.append(number)
    return candidates


@dataclass(frozen=True)
class EventFilter:
    """The filters shared by event listing, stats and groups. Times: [time_from, time_to)."""

    types: tuple[str, ...] = ()
    levels: tuple[int, ...] = ()
    min_level: int | None = None
    sources: tuple[str, ...] = ()
    time_from: datetime | None = None
    time_to: datetime | None = None
    text: str | None = None  # case-insensitive substring of the message
    attributes: tuple[tuple[str, str], ...] = ()  # attr.<key>=<value>, compared as text
