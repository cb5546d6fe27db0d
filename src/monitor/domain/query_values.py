"""The rules every query-string value follows, on every route, in one place.

Two layers use this module, so that no route can forget a rule:

- `query_string_problems` checks the raw query string of every request before
  any route runs (web/edge/query_checks.py): UTF-8 once percent-decoded, no NUL
  (PostgreSQL text cannot hold it), bounded lengths, a bounded number of
  parameters. What passes can reach any SQL parameter without a 500.
- Route parsers turn values into types only through `listed`, `whole_number`
  and `json_number`, so typed values obey one set of rules too: numbers are
  finite doubles, lists and integers are bounded.

Other control characters are not refused here: stored text (event sources,
label values, messages) may contain them, so a filter must be able to match
them. Fields whose form excludes them (names, times, intervals) say so in
their own checks.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

MAX_PARAMETERS = 200  # name=value pairs in one query string
MAX_REPEATS = 100  # one parameter given again and again
MAX_NAME_LENGTH = 200  # in characters, e.g. attr.<key> and label.<name>!
MAX_VALUE_LENGTH = 1000
MAX_LIST_ITEMS = 100  # values of one filter, repeated or comma-separated
MAX_REPORTED = 20  # problems named in one answer; the rest add nothing

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,19}")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_JSON_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class QueryProblem:
    field: str  # the parameter's name, as sent (shortened if very long)
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def _shown(name: str) -> str:
    return name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH] + "…"


def _decoded(raw: bytes) -> str | None:
    """A percent-encoded name or value as text (`+` is a space), or None if not UTF-8."""
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _pair_problems(name: str, value: str | None) -> Iterable[str]:
    if value is None:
        yield "is not valid UTF-8 once percent-decoded"
        return
    if len(name) > MAX_NAME_LENGTH:
        yield f"parameter names are at most {MAX_NAME_LENGTH} characters"
    if len(value) > MAX_VALUE_LENGTH:
        yield f"is longer than {MAX_VALUE_LENGTH} characters"
    if "\x00" in name or "\x00" in value:
        yield "must not contain NUL characters"


def query_string_problems(query_string: bytes) -> list[QueryProblem]:
    """What is wrong with a raw query string (as sent, percent-encoded); [] when nothing.

    Split the way the application parses it (on `&`, blank values kept), so
    every parameter a route can see has been checked.
    """
    problems: list[QueryProblem] = []
    names: list[str] = []
    for piece in query_string.split(b"&"):
        if not piece:
            continue
        raw_name, _, raw_value = piece.partition(b"=")
        decoded_name = _decoded(raw_name)
        name = decoded_name if decoded_name is not None else raw_name.decode("latin-1")
        names.append(name)
        value = _decoded(raw_value) if decoded_name is not None else None
        problems.extend(QueryProblem(_shown(name), text) for text in _pair_problems(name, value))
        if len(problems) >= MAX_REPORTED:
            return problems[:MAX_REPORTED]
    for name, count in Counter(names).most_common():
        if count <= MAX_REPEATS:
            break
        problems.append(
            QueryProblem(_shown(name), f"is given {count} times; at most {MAX_REPEATS}")
        )
    if len(names) > MAX_PARAMETERS:
        problems.append(
            QueryProblem("(query)", f"has {len(names)} parameters; at most {MAX_PARAMETERS}")
        )
    return problems[:MAX_REPORTED]


def listed(values: Iterable[str]) -> tuple[str, ...]:
    """Every item of a filter given repeatedly and/or comma-separated, blanks dropped.

    ValueError when there are more than MAX_LIST_ITEMS.
    """
    items = tuple(
        item for value in values for item in (part.strip() for part in value.split(",")) if item
    )
    if len(items) > MAX_LIST_ITEMS:
        raise ValueError(f"at most {MAX_LIST_ITEMS} values (repeated or comma-separated)")
    return items


def whole_number(text: str, low: int, high: int) -> int:
    """An integer written in ASCII digits, within [low, high]; ValueError saying so if not."""
    problem = ValueError(f"must be a whole number from {low} to {high}")
    if _WHOLE_NUMBER.fullmatch(text.strip()) is None:
        raise problem
    number = int(text)
    if not low <= number <= high:
        raise problem
    return number


def json_number(text: str) -> int | float | None:
    """The number that JSON number text means, or None if `text` is not a JSON number.

    ValueError when it is one no stored value can equal: beyond a double's
    range (1e309 reads as infinity) or so small that it reads as zero.
    Integers stay exact.
    """
    if _JSON_NUMBER.fullmatch(text) is None:
        return None
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("must be a finite number (at most about ±1.8e308)")
    mantissa = text.lower().partition("e")[0]
    if number == 0 and mantissa.strip("-0.") != "":
        raise ValueError("is too close to zero to compare (below about 1e-308)")
    if _JSON_INTEGER.fullmatch(text):
        return int(text)
    return number
