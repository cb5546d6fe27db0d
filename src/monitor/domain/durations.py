"""Durations as people write them: `30s`, `5m`, `1h30m`, `7d`, `250ms`, or a plain number.

One reading for settings, query parameters and JSON bodies alike:

- a number with a unit (`w`, `d`, `h`, `m`, `s`, `ms`), several of them
  written together from the largest unit to the smallest, each unit at most
  once (`1h30m`, `2d12h`), the way Prometheus writes them; amounts are whole
  numbers (`1h30m`, not `1.5h`);
- a plain number (`60`, `0.25`, or a JSON number) counts `bare_unit`s:
  seconds unless the caller's documented unit is another (retention settings
  count days).

Durations are whole milliseconds from zero to `MAX_DURATION`; callers narrow
that further. `format_duration` writes the canonical form (`1m30s` for 90
seconds, `7d` for a week: weeks are read but never written, so a retention of
`400d` reads back as written).
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from fractions import Fraction

MILLISECOND = timedelta(milliseconds=1)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
MAX_DURATION = timedelta(days=36500)  # about a century: anything longer is a typo

# Largest first: the order amounts must be written in.
_UNIT_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
_WRITTEN_UNITS = ("d", "h", "m", "s", "ms")
_MAX_TEXT = 64  # longer than any sensible duration; keeps hostile input cheap
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_COMPOUND = re.compile(r"(?:[0-9]+(?:ms|[wdhms]))+")
_PART = re.compile(r"([0-9]+)(ms|[wdhms])")


def accepted_forms(bare_unit: timedelta = SECOND) -> str:
    """What a duration may look like, for error messages and help texts."""
    return (
        "a duration such as 30s, 5m, 1h30m, 7d or 250ms (units w, d, h, m, s, ms, "
        f"largest first) or a plain number of {_unit_name(bare_unit)}"
    )


def parse_duration(value: str | int | float, *, bare_unit: timedelta = SECOND) -> timedelta:
    """Read a duration; a plain number counts `bare_unit`s.

    Raises ValueError, saying what is wrong and which forms are accepted; the
    message never repeats `value`, so it is safe to show back to a client.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"must be {accepted_forms(bare_unit)}")
    if isinstance(value, str):
        millis = _text_millis(value, bare_unit)
    else:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        if value < 0:
            raise ValueError("must not be negative")
        millis = _whole_millis(_exact(value) * _millis(bare_unit))
    if millis > _millis(MAX_DURATION):
        raise ValueError(f"must be at most {format_duration(MAX_DURATION)}")
    return timedelta(milliseconds=millis)


def format_duration(value: timedelta | int | float) -> str:
    """The canonical form: `1h30m`, `7d`, `1m30s`, `250ms`, `0s` (numbers are seconds).

    Raises ValueError for a negative duration or one finer than a millisecond,
    which `parse_duration` never returns.
    """
    if isinstance(value, timedelta):
        millis, rest = divmod(value, MILLISECOND)
        if rest:
            raise ValueError("is finer than a millisecond")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    else:
        millis = _whole_millis(_exact(value) * 1000)
    if millis < 0:
        raise ValueError("must not be negative")
    if millis == 0:
        return "0s"
    parts = []
    for unit in _WRITTEN_UNITS:
        amount, millis = divmod(millis, _UNIT_MS[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def _text_millis(raw: str, bare_unit: timedelta) -> int:
    text = raw.strip()
    if not text:
        raise ValueError(f"must not be empty; give {accepted_forms(bare_unit)}")
    if len(text) > _MAX_TEXT:
        raise ValueError(f"is too long; give {accepted_forms(bare_unit)}")
    if text.startswith("-"):
        raise ValueError("must not be negative")
    if _PLAIN_NUMBER.fullmatch(text):
        return _whole_millis(Fraction(text) * _millis(bare_unit))
    if not _COMPOUND.fullmatch(text):
        raise ValueError(f"must be {accepted_forms(bare_unit)}")
    millis = 0
    previous_size = math.inf
    for amount, unit in _PART.findall(text):
        size = _UNIT_MS[unit]
        if size >= previous_size:
            raise ValueError("must give each unit at most once, largest first (like 1h30m)")
        previous_size = size
        millis += int(amount) * size
    return millis


def _exact(number: int | float) -> Fraction:
    # A float as the shortest decimal that reads back as it (0.05, not 0.05000…0277).
    return Fraction(number) if isinstance(number, int) else Fraction(repr(number))


def _whole_millis(amount: Fraction) -> int:
    if amount.denominator != 1:
        raise ValueError("must be a whole number of milliseconds")
    return int(amount)


def _millis(duration: timedelta) -> int:
    return duration // MILLISECOND


def _unit_name(unit: timedelta) -> str:
    names = {SECOND: "seconds", DAY: "days", MILLISECOND: "milliseconds"}
    return names.get(unit, f"multiples of {format_duration(unit)}")
