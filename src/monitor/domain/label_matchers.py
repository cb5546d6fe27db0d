"""Label matchers for notifications: `=`, `!=`, `=~` and `!~` on an alert's labels.

Notification policies, silences and inhibition rules select alert instances
with these, as Alertmanager's matchers do: a label the instance lacks is the
empty string (`team=""` matches instances without `team`), and a regular
expression must match the whole value (`host=~"web-.*"`).

Regular expressions are RE2 (google-re2): the syntax Alertmanager's Go
regexp accepts, matched in time linear in the input, so an admin's pattern
cannot stall the notifier on a crafted label (no backtracking). Patterns
are compiled once, when parsed, within a memory budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import re2

from monitor.domain.rule_fields import Fields, one_of, text

Operator = Literal["=", "!=", "=~", "!~"]
OPERATORS: tuple[Operator, ...] = ("=", "!=", "=~", "!~")
MAX_MATCHERS = 32
MAX_NAME_LENGTH = 200
MAX_VALUE_LENGTH = 1000
REGEX_MEMORY_BYTES = 1 << 20

_OPTIONS = re2.Options()
_OPTIONS.max_mem = REGEX_MEMORY_BYTES
_OPTIONS.log_errors = False  # a refused pattern is the client's 400, not a log line


def compile_pattern(pattern: str) -> Any:
    """The whole-value RE2 pattern; ValueError saying why it is refused."""
    try:
        return re2.compile(f"(?:{pattern})", _OPTIONS)
    except re2.error as refused:
        reason = refused.args[0] if refused.args else "not a valid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"not a valid RE2 regular expression: {reason}") from None


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Operator
    value: str
    pattern: Any = field(default=None, compare=False, repr=False)  # compiled, for =~ and !~

    @staticmethod
    def of(name: str, op: Operator, value: str) -> Matcher:
        """ValueError when a regular expression is refused."""
        pattern = compile_pattern(value) if op in ("=~", "!~") else None
        return Matcher(name, op, value, pattern)

    def matches(self, labels: Mapping[str, str]) -> bool:
        seen = labels.get(self.name, "")
        if self.op == "=":
            return seen == self.value
        if self.op == "!=":
            return seen != self.value
        found = self.pattern.fullmatch(seen) is not None
        return found if self.op == "=~" else not found

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op, "value": self.value}

    def __str__(self) -> str:
        return f"{self.name}{self.op}{_quoted(self.value)}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Every matcher holds (no matchers: everything matches)."""
    return all(matcher.matches(labels) for matcher in matchers)


def read_matchers(fields: Fields, key: str, *, required: bool) -> tuple[Matcher, ...]:
    """The list at `key` of `{"name", "op", "value"}` objects; problems go to `fields`."""
    if key not in fields.raw:
        fields.read.add(key)
        if required:
            fields.problem(key, "is required")
        return ()
    raw: list[object] = fields.get(key, _list, [])
    if len(raw) > MAX_MATCHERS:
        fields.problem(key, f"at most {MAX_MATCHERS} matchers")
        return ()
    if required and not raw:
        fields.problem(key, "give at least one matcher")
    found: list[Matcher] = []
    for index, item in enumerate(raw):
        place = f"{key}[{index}]"
        if not isinstance(item, dict):
            fields.problem(place, "must be an object with name, op and value")
            continue
        inner = Fields(item, fields.name(place), fields.problems)
        name = inner.required("name", text(1, MAX_NAME_LENGTH, printable=True), "")
        op: Operator = inner.get("op", one_of(OPERATORS), "=")
        value = inner.required("value", text(0, MAX_VALUE_LENGTH), "")
        inner.refuse_unknown("a matcher")
        if not name:
            continue
        try:
            found.append(Matcher.of(name, op, value))
        except ValueError as refused:
            inner.problem("value", str(refused))
    return tuple(found)


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise ValueError("must be a list of matchers")
    return value
