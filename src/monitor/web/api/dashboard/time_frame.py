"""The time axis of a chart: its range, bucket interval and window, from the query string.

`range` or `from`/`to` (see ranges.py), and either `interval` or
`max_points`: without an interval, the narrowest round one (NICE_INTERVALS,
then whole days) whose epoch-aligned buckets over the window are at most
`max_points`. A relative range's window moves in ticks of the interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.domain.durations import format_duration
from monitor.domain.intervals import bucket_count, bucket_starts, fitting_interval, parse_interval
from monitor.domain.query_values import whole_number
from monitor.domain.ranges import RangeAsked, Window, resolve
from monitor.web.api.dashboard.ranges import asked_range
from monitor.web.edge.query_checks import QueryArgs

PARAMETERS = frozenset({"range", "from", "to", "interval", "max_points"})
MIN_POINTS = 2  # fewer could not always be met by any interval (see fitting_interval)

Errors = list[dict[str, Any]]


@dataclass(frozen=True)
class PointLimits:
    """A route's `max_points`: its default and largest value."""

    default: int
    largest: int


class Framed:
    """A chart's question: answered for its frame's window."""

    frame: TimeFrame

    @property
    def window(self) -> Window:
        return self.frame.window


@dataclass(frozen=True)
class TimeFrame:
    asked: RangeAsked
    interval: timedelta
    window: Window

    @property
    def buckets(self) -> list[datetime]:
        return bucket_starts(self.window.start, self.window.end, self.interval)

    def key_params(self) -> list[tuple[str, str]]:
        """What the answer depends on, canonically: the range and the interval."""
        return [*self.asked.canonical(), ("interval", format_duration(self.interval))]

    def description(self) -> dict[str, Any]:
        """The frame as a response states it."""
        return {
            "interval": format_duration(self.interval),
            "interval_s": int(self.interval.total_seconds()),
            "from": self.window.start,
            "to": self.window.end,
            "buckets": [int(moment.timestamp()) for moment in self.buckets],
        }


def _window_counter(asked: RangeAsked, now: datetime) -> Callable[[timedelta], int]:
    def count(interval: timedelta) -> int:
        window = resolve(asked, interval, now)
        return bucket_count(window.start, window.end, interval)

    return count


def fitted_time_frame(asked: RangeAsked, now: datetime, points: int) -> TimeFrame:
    """The range, with the interval chosen for at most `points` buckets: for a route that
    takes no `interval`, but whose answer moves in ticks all the same."""
    interval = fitting_interval(_window_counter(asked, now), asked.span(), points)
    return TimeFrame(asked, interval, resolve(asked, interval, now))


def parse_time_frame(
    args: QueryArgs, now: datetime, errors: Errors, limits: PointLimits
) -> TimeFrame | None:
    """The frame `args` ask for at `now`; None, with its problems in `errors`, when it
    cannot be given.

    A given interval may cut the window into at most `max_points` buckets
    when that is given too, otherwise at most `limits.largest`.
    """
    asked = asked_range(args)  # a bad range is a 400 on its own: nothing else can be checked
    count = _window_counter(asked, now)
    points: int | None = None
    raw_points = args.get("max_points") or None
    if raw_points is not None:
        try:
            points = whole_number(raw_points, MIN_POINTS, limits.largest)
        except ValueError as problem:
            errors.append({"field": "max_points", "message": str(problem)})
            return None
    given = args.get("interval") or None
    if given is None:
        return fitted_time_frame(asked, now, points or limits.default)
    try:
        interval = parse_interval(given)
    except ValueError as problem:
        errors.append({"field": "interval", "message": str(problem)})
        return None
    if asked.relative and interval > asked.span():
        # A relative window is whole ticks of the interval: it would outgrow the range.
        errors.append(
            {
                "field": "interval",
                "message": f"must be at most the range ({format_duration(asked.span())})",
            }
        )
        return None
    buckets, limit = count(interval), points or limits.largest
    if buckets > limit:
        wider = format_duration(fitting_interval(count, asked.span(), limit))
        errors.append(
            {
                "field": "interval",
                "message": f"interval {given.strip()} gives {buckets} buckets, more than "
                f"{limit}: give a wider interval (such as {wider}) or a shorter range",
            }
        )
        return None
    return TimeFrame(asked, interval, resolve(asked, interval, now))
