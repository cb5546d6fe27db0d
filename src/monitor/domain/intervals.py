"""Bucket widths: written like `30s`, `5m`, `1h`, `1d`, and chosen when a query gives none."""

from __future__ import annotations

import math
import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"(\d{1,6})([smhd])")


def parse_interval(text: str) -> timedelta:
    """Raise ValueError unless `text` is a positive whole number and a unit (s, m, h, d)."""
    match = _PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError("must look like 30s, 5m, 1h or 1d")
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds <= 0:
        raise ValueError("must be positive")
    return timedelta(seconds=seconds)


def format_interval(seconds: int) -> str:
    """The largest unit that writes `seconds` exactly: 90 → 90s, 7200 → 2h."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def too_many_buckets(
    span: timedelta, interval: timedelta, limit: int, *, given: str | None, what: str = "buckets"
) -> str | None:
    """Why `interval` cuts `span` into more than `limit` buckets, saying what to change; or None.

    `given` is the interval as the client wrote it, or None when it is the
    route's default: then the advice is to give one.
    """
    count = span / interval
    if count <= limit:
        return None
    # One that fits: the narrowest, rounded up to a whole day, hour or minute.
    needed = math.ceil(span.total_seconds() / limit)
    size = next(size for size in (86400, 3600, 60, 1) if needed >= size)
    wider = format_interval(math.ceil(needed / size) * size)
    if given is None:
        return (
            f"the default interval of {format_interval(int(interval.total_seconds()))} gives "
            f"{int(count)} {what}, more than {limit}: give an `interval` such as {wider}, "
            "or a shorter range"
        )
    return (
        f"interval {given.strip()} gives {int(count)} {what}, more than {limit}: "
        f"give a wider interval (such as {wider}) or a shorter range"
    )


# Round bucket widths (seconds) a chosen interval snaps up to.
NICE_INTERVALS = (1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400)
AUTO_POINTS = 300  # about this many points per series when no interval is given


def auto_interval(span: timedelta) -> timedelta:
    """About AUTO_POINTS buckets over `span`: a round width, or whole days for long
    ranges (so the default always fits a query's point limit)."""
    seconds = span.total_seconds() / AUTO_POINTS
    nice = next((n for n in NICE_INTERVALS if n >= seconds), None)
    return timedelta(seconds=nice) if nice else timedelta(days=math.ceil(seconds / 86400))
