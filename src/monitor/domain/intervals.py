"""Bucket widths: durations like `30s`, `1h30m` or `60`, and chosen when a query gives none."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from monitor.domain.durations import DAY, SECOND, format_duration, parse_duration

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def bucket_starts(start: datetime, end: datetime, interval: timedelta) -> list[datetime]:
    """The starts of the buckets of `interval`, aligned to the Unix epoch, that [start, end)
    touches: the first holds `start`, the last ends at or after `end`."""
    if start >= end or interval <= timedelta(0):
        raise ValueError("need start < end and a positive interval")
    first = _EPOCH + (start - _EPOCH) // interval * interval
    return [first + interval * n for n in range(-(-(end - first) // interval))]


def bucket_count(start: datetime, end: datetime, interval: timedelta) -> int:
    """len(bucket_starts(start, end, interval)), without building the list."""
    first = _EPOCH + (start - _EPOCH) // interval * interval
    return -(-(end - first) // interval)


def fitting_interval(count: Callable[[timedelta], int], span: timedelta, limit: int) -> timedelta:
    """The narrowest of NICE_INTERVALS (beyond them, whole days) for which `count(width)`,
    the buckets the range gets, is at most `limit`.

    `span` is the range's length; `limit` must be at least 2, which a width of
    `span` or more always meets (a range touches at most two buckets that long).
    """
    if limit < 2:
        raise ValueError("limit must be at least 2")
    for seconds in NICE_INTERVALS:
        width = timedelta(seconds=seconds)
        if count(width) <= limit:
            return width
    days = max(1, math.ceil(span / (DAY * limit)))
    while count(DAY * days) > limit:
        days += 1
    return DAY * days
