"""Bucket widths: durations like `30s`, `1h30m` or `60`, and chosen when a query gives none."""

from __future__ import annotations

import math
from datetime import timedelta

from monitor.domain.durations import SECOND, format_duration, parse_duration


def parse_interval(text: str) -> timedelta:
    """A bucket width: a duration (`30s`, `1h30m`, `1d`) or a plain number of seconds.

    Raises ValueError unless it is a positive whole number of seconds (buckets
    are counted in whole seconds).
    """
    width = parse_duration(text)
    if width <= timedelta(0):
        raise ValueError("must be positive")
    if width % SECOND:
        raise ValueError("must be a whole number of seconds")
    return width


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
    wider = format_duration(math.ceil(needed / size) * size)
    if given is None:
        return (
            f"the default interval of {format_duration(interval)} gives "
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
