"""Reading a JSON object's fields strictly, collecting one problem per bad field.

The alert rule parser reads with this: a value of the wrong JSON type is
refused, never coerced (a number is not text, true is not 1), the way the
dashboards API's strict pydantic models refuse it; each problem names its
field by its dotted path (`selector.labels.env!`), so a 400 can list them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from monitor.domain.durations import format_duration, parse_duration

T = TypeVar("T")
MAX_REPORTED = 50


@dataclass(frozen=True)
class RuleProblem:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class RuleProblems(ValueError):
    """Everything wrong with a rule, field by field (the API's 400)."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


def shown(key: str) -> str:
    """A client's key as it may be repeated in a problem: printable, bounded."""
    text = key if len(key) <= 60 else key[:60] + "…"
    return "".join(c if c.isprintable() else "?" for c in text)


class Fields:
    """The fields of one JSON object at `path`; problems go to the shared `problems`."""

    def __init__(self, raw: Mapping[str, object], path: str, problems: list[RuleProblem]) -> None:
        self.raw = raw
        self.path = path
        self.problems = problems
        self.read: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.path}.{shown(key)}" if self.path else shown(key)

    def problem(self, key: str, message: str) -> None:
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(RuleProblem(self.name(key), message))

    def has(self, key: str) -> bool:
        return key in self.raw

    def get(self, key: str, read: Callable[[object], T], default: T) -> T:
        """The field read by `read` (ValueError: a problem, and `default`)."""
        self.read.add(key)
        if key not in self.raw:
            return default
        try:
            return read(self.raw[key])
        except ValueError as refused:
            self.problem(key, str(refused))
            return default

    def required(self, key: str, read: Callable[[object], T], default: T) -> T:
        if key not in self.raw:
            self.read.add(key)
            self.problem(key, "is required")
            return default
        return self.get(key, read, default)

    def refuse_unknown(self, what: str) -> None:
        for key in self.raw:
            if key not in self.read:
                self.problem(key, f"is not a field of {what}")


def text(low: int, high: int, *, printable: bool = False) -> Callable[[object], str]:
    def read(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError("must be text")
        if not low <= len(value) <= high:
            raise ValueError(f"must be {low} to {high} characters")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if printable and (not value.isprintable() or not value.strip()):
            raise ValueError("must be printable and not only spaces")
        return value

    return read


def one_of(allowed: tuple[T, ...]) -> Callable[[object], T]:
    def read(value: object) -> T:
        for item in allowed:
            if isinstance(value, str) and value == item:
                return item
        raise ValueError(f"must be one of {', '.join(map(str, allowed))}")

    return read


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def number(value: object) -> float:
    """A finite JSON number (not true/false), as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if isinstance(value, int) and abs(value) > 2**53:
        raise ValueError(f"must lie within ±{2**53}")
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return float(value)


def duration(low: timedelta, high: timedelta) -> Callable[[object], timedelta]:
    """A duration as domain/durations.py reads it (text like 5m, or a number of seconds)."""

    def read(value: object) -> timedelta:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be a duration such as 30s, 5m or 1h30m")
        parsed = parse_duration(value)
        if not low <= parsed <= high:
            raise ValueError(f"must be from {format_duration(low)} to {format_duration(high)}")
        return parsed

    return read


def json_object(value: object) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise ValueError("must be an object")
    return value
