"""Notification policies, silences and inhibition rules as clients write them (issue 18).

Each is read strictly from decoded JSON, the way domain/alert_rules.py reads
a rule: a value of the wrong type is refused, never coerced, and every bad
field is named in one RuleProblems (the API's 400). Each has a canonical
document (what is stored and answered), from which it is read back.

```json
{"name": "critical to on-call", "position": 10,
 "matchers": [{"name": "severity", "op": "=", "value": "critical"}],
 "channel_ids": [3], "continue": false, "group_by": ["rule", "host"],
 "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
```

The default policy has no `position`, `matchers` or `continue`: it takes
what no other policy takes (domain/notification_routing.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.domain.durations import format_duration
from monitor.domain.json_documents import JsonLimits, json_problems
from monitor.domain.label_matchers import Matcher, read_matchers
from monitor.domain.muting import InhibitionRule, Silence
from monitor.domain.notification_routing import (
    ALL_LABELS,
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    Policy,
)
from monitor.domain.query_times import parse_query_time
from monitor.domain.rule_fields import (
    Fields,
    RuleProblem,
    RuleProblems,
    boolean,
    duration,
    text,
)

_LIMITS = JsonLimits(max_bytes=64 * 1024, max_depth=5)
MAX_NAME = 200
MAX_CHANNELS = 20
MAX_GROUP_BY = 20
MAX_POSITION = 1_000_000
MAX_COMMENT = 1000
MAX_SILENCE = timedelta(days=365)


@dataclass(frozen=True)
class PolicyDocument:
    name: str
    position: int
    matchers: tuple[Matcher, ...]
    channel_ids: tuple[int, ...]
    continue_matching: bool
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta

    def policy(self, policy_id: int) -> Policy:
        return Policy(
            policy_id,
            self.matchers,
            self.channel_ids,
            self.continue_matching,
            self.group_by,
            self.group_wait,
            self.group_interval,
            self.repeat_interval,
        )

    def document(self, *, default: bool = False) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.name}
        if not default:
            found |= {
                "position": self.position,
                "matchers": [matcher.as_dict() for matcher in self.matchers],
                "continue": self.continue_matching,
            }
        return found | {
            "channel_ids": list(self.channel_ids),
            "group_by": list(self.group_by),
            "group_wait": format_duration(self.group_wait),
            "group_interval": format_duration(self.group_interval),
            "repeat_interval": format_duration(self.repeat_interval),
        }


@dataclass(frozen=True)
class SilenceDocument:
    matchers: tuple[Matcher, ...]
    starts_at: datetime | None  # None: from when it is saved
    ends_at: datetime
    comment: str

    def silence(self, silence_id: int, starts_at: datetime) -> Silence:
        return Silence(silence_id, self.matchers, starts_at, self.ends_at)


@dataclass(frozen=True)
class InhibitionDocument:
    name: str
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    def rule(self, rule_id: int) -> InhibitionRule:
        return InhibitionRule(rule_id, self.source, self.target, self.equal)

    def document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source_matchers": [matcher.as_dict() for matcher in self.source],
            "target_matchers": [matcher.as_dict() for matcher in self.target],
            "equal": list(self.equal),
        }


def _fields(raw: object) -> tuple[Fields, list[RuleProblem]]:
    if not isinstance(raw, dict):
        raise RuleProblems([RuleProblem("(body)", "must be a JSON object")])
    structural = json_problems(raw, _LIMITS, "")
    if structural:
        raise RuleProblems([RuleProblem(path or "(body)", message) for path, message in structural])
    problems: list[RuleProblem] = []
    return Fields(raw, "", problems), problems


def _label_names(limit: int, *, allow_all: bool = False) -> Callable[[object], tuple[str, ...]]:
    def read(value: object) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise ValueError("must be a list of label names")
        if len(value) > limit:
            raise ValueError(f"at most {limit} label names")
        names: list[str] = []
        for item in value:
            name = text(1, MAX_NAME, printable=True)(item)
            if name == ALL_LABELS and not allow_all:
                raise ValueError(f"{ALL_LABELS!r} is not a label name")
            if name in names:
                raise ValueError(f"{name!r} is given twice")
            names.append(name)
        if ALL_LABELS in names and len(names) > 1:
            raise ValueError(f"{ALL_LABELS!r} (every label) stands alone")
        return tuple(names)

    return read


def _channel_ids(value: object) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ValueError("must be a list of channel ids")
    if len(value) > MAX_CHANNELS:
        raise ValueError(f"at most {MAX_CHANNELS} channels")
    found: list[int] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item < 2**63:
            raise ValueError("channel ids are positive whole numbers")
        if item in found:
            raise ValueError(f"channel {item} is given twice")
        found.append(item)
    return tuple(found)


def _position(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    if not 0 <= value <= MAX_POSITION:
        raise ValueError(f"must be from 0 to {MAX_POSITION}")
    return value


def parse_policy(raw: object, *, default: bool = False) -> PolicyDocument:
    """A policy (or the default policy: no position, matchers or continue)."""
    fields, problems = _fields(raw)
    name = fields.required("name", text(1, MAX_NAME, printable=True), "")
    position = 0 if default else fields.required("position", _position, 0)
    matchers = () if default else read_matchers(fields, "matchers", required=False)
    go_on = False if default else fields.get("continue", boolean, False)
    channel_ids: tuple[int, ...] = fields.get("channel_ids", _channel_ids, ())
    group_by: tuple[str, ...] = fields.get(
        "group_by", _label_names(MAX_GROUP_BY, allow_all=True), ()
    )
    group_wait = fields.get(
        "group_wait", duration(timedelta(0), timedelta(hours=1)), DEFAULT_GROUP_WAIT
    )
    group_interval = fields.get(
        "group_interval", duration(timedelta(seconds=10), timedelta(days=1)), DEFAULT_GROUP_INTERVAL
    )
    repeat_interval = fields.get(
        "repeat_interval",
        duration(timedelta(minutes=1), timedelta(days=30)),
        DEFAULT_REPEAT_INTERVAL,
    )
    fields.refuse_unknown("the default policy" if default else "a policy")
    if problems:
        raise RuleProblems(problems)
    return PolicyDocument(
        name,
        position,
        matchers,
        channel_ids,
        go_on,
        group_by,
        group_wait,
        group_interval,
        repeat_interval,
    )


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 time such as 2026-12-03T12:00:00Z")
    return parse_query_time(value)


def parse_silence(raw: object, *, now: datetime) -> SilenceDocument:
    """A new silence: matchers, an end (`ends_at`, or `duration` from its start) and why."""
    fields, problems = _fields(raw)
    matchers = read_matchers(fields, "matchers", required=True)
    starts_at = fields.get("starts_at", _time, None)
    begins = starts_at or now
    if fields.has("ends_at") == fields.has("duration"):
        fields.problem("ends_at", "give exactly one of ends_at or duration")
    ends_at = fields.get("ends_at", _time, begins)
    lasting = fields.get("duration", duration(timedelta(minutes=1), MAX_SILENCE), None)
    if lasting is not None:
        ends_at = begins + lasting
    comment = fields.required("comment", text(1, MAX_COMMENT, printable=True), "")
    fields.refuse_unknown("a silence")
    if not problems:
        if ends_at <= begins:
            fields.problem("ends_at", "must be after the silence starts")
        elif ends_at <= now:
            fields.problem("ends_at", "must be in the future")
        elif ends_at - begins > MAX_SILENCE:
            fields.problem("ends_at", "a silence lasts at most 365 days")
    if problems:
        raise RuleProblems(problems)
    return SilenceDocument(matchers, starts_at, ends_at, comment)


def parse_inhibition(raw: object) -> InhibitionDocument:
    fields, problems = _fields(raw)
    name = fields.required("name", text(1, MAX_NAME, printable=True), "")
    source = read_matchers(fields, "source_matchers", required=True)
    target = read_matchers(fields, "target_matchers", required=True)
    equal: tuple[str, ...] = fields.get("equal", _label_names(MAX_GROUP_BY), ())
    fields.refuse_unknown("an inhibition rule")
    if problems:
        raise RuleProblems(problems)
    return InhibitionDocument(name, source, target, equal)
