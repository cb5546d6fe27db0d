"""Live channels and the filters a websocket subscription may carry.

A filter is a frozen, hashable value: subscriptions with equal filters share
one encoded frame, so the fan-out serialises a batch once per distinct filter.
Parsing takes the decoded JSON of a `subscribe` message and raises ValueError
with a reason the client can read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.domain.events import LEVEL_NUMBER, LEVELS
from monitor.domain.metrics import LabelMatcher

EVENTS = "events:realtime"
METRICS = "metrics:realtime"
ALERTS = "alerts"
STATS = "stats"
CHANNELS: tuple[str, ...] = (EVENTS, METRICS, ALERTS, STATS)
MAX_FILTER_VALUE_LENGTH = 200
MAX_LABEL_MATCHERS = 20


@dataclass(frozen=True)
class EventStreamFilter:
    """Events whose type and source equal the given ones, at `min_level` or above."""

    type: str | None = None
    source: str | None = None
    min_level: int | None = None

    def matches(self, type: str, source: str, level: int) -> bool:
        return (
            (self.type is None or type == self.type)
            and (self.source is None or source == self.source)
            and (self.min_level is None or level >= self.min_level)
        )


@dataclass(frozen=True)
class MetricStreamFilter:
    """Samples of metric `name` (and `source`) whose labels satisfy every matcher."""

    name: str | None = None
    source: str | None = None
    matchers: tuple[LabelMatcher, ...] = ()  # sorted, so equal filters compare equal

    def matches(self, name: str, source: str, labels: Mapping[str, str]) -> bool:
        return (
            (self.name is None or name == self.name)
            and (self.source is None or source == self.source)
            and all(matcher.matches(labels) for matcher in self.matchers)
        )


StreamFilter = EventStreamFilter | MetricStreamFilter


def parse_filter(channel: str, raw: Any) -> StreamFilter | None:
    """The filter for `channel` from a subscribe message's `filter` (None or an object)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {str(channel)[:60]!r}; one of {', '.join(CHANNELS)}")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("filter must be an object")
    if channel == EVENTS:
        return _event_filter(raw)
    if channel == METRICS:
        return _metric_filter(raw)
    if raw:
        raise ValueError(f"the {channel} channel takes no filter")
    return None


def _text(raw: Mapping[str, Any], field: str) -> str | None:
    value = raw.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_FILTER_VALUE_LENGTH:
        raise ValueError(f"filter.{field} must be a string of 1 to {MAX_FILTER_VALUE_LENGTH}")
    return value


def _unknown(raw: Mapping[str, Any], known: set[str]) -> None:
    extra = sorted(set(raw) - known)
    if extra:
        raise ValueError(
            f"unknown filter field {extra[0][:60]!r}; known: {', '.join(sorted(known))}"
        )


def _event_filter(raw: Mapping[str, Any]) -> EventStreamFilter:
    _unknown(raw, {"type", "source", "min_level"})
    min_level = raw.get("min_level")
    if min_level is not None and min_level not in LEVEL_NUMBER:
        raise ValueError(f"filter.min_level must be one of {', '.join(LEVELS)}")
    return EventStreamFilter(
        type=_text(raw, "type"),
        source=_text(raw, "source"),
        min_level=None if min_level is None else LEVEL_NUMBER[min_level],
    )


def _label_matchers(raw: Any, field: str, equal: bool) -> list[LabelMatcher]:
    if raw is None:
        return []
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) <= MAX_FILTER_VALUE_LENGTH
        for k, v in raw.items()
    ):
        raise ValueError(f"filter.{field} must be an object of label name to string value")
    return [LabelMatcher(name, value, equal) for name, value in raw.items()]


def _metric_filter(raw: Mapping[str, Any]) -> MetricStreamFilter:
    _unknown(raw, {"name", "source", "labels", "labels_not"})
    matchers = _label_matchers(raw.get("labels"), "labels", True) + _label_matchers(
        raw.get("labels_not"), "labels_not", False
    )
    if len(matchers) > MAX_LABEL_MATCHERS:
        raise ValueError(f"at most {MAX_LABEL_MATCHERS} label matchers")
    return MetricStreamFilter(
        name=_text(raw, "name"),
        source=_text(raw, "source"),
        matchers=tuple(sorted(matchers, key=lambda m: (m.name, m.value, m.equal))),
    )
