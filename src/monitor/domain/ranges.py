"""The time range of a dashboard question: relative (`range=1h`) or absolute (`from`/`to`).

A relative range ends where the current tick starts (see ticks.py), so every
viewer in the same tick asks, and is answered, the same question. An
absolute range is answered as given; its answer is kept for one cap-long
tick, since late data may still arrive for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.domain.durations import format_duration, parse_duration
from monitor.domain.ticks import align_window

DEFAULT_RANGE = timedelta(hours=24)
_TOO_LONG = "the range may span at most 400d"
LONGEST_RANGE = timedelta(days=400)
# The presets the UI offers; any duration up to LONGEST_RANGE is accepted.
PRESETS = ("15m", "1h", "6h", "24h", "7d")
# Absolute ranges are re-answered at least this often.
ABSOLUTE_TICK = timedelta(seconds=10)


class RangeProblem(ValueError):
    """Why a range cannot be answered, and which query parameter to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RangeAsked:
    """What the query string asked for: `length` (relative) or `start`/`end` (absolute)."""

    length: timedelta | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def relative(self) -> bool:
        return self.length is not None

    def span(self) -> timedelta:
        if self.length is not None:
            return self.length
        assert self.start is not None and self.end is not None
        return self.end - self.start

    def canonical(self) -> list[tuple[str, str]]:
        """The range as query parameters in one spelling (`60m` and `1h` alike), for cache keys."""
        if self.length is not None:
            return [("range", format_duration(self.length))]
        assert self.start is not None and self.end is not None
        return [("from", self.start.isoformat()), ("to", self.end.isoformat())]


@dataclass(frozen=True)
class Window:
    """The range to answer, [start, end), and how long its answer stays true."""

    start: datetime
    end: datetime
    fresh_for: float  # seconds until the tick ends: the cache TTL and max-age
    tick_id: str  # part of the cache key: the same for every request of the tick


def parse_range(range_text: str | None, start: datetime | None, end: datetime | None) -> RangeAsked:
    """The range asked for; RangeProblem when it cannot be answered.

    `start`/`end` are the already-parsed `from`/`to`. Without any of the
    three, the range is the last DEFAULT_RANGE.
    """
    if range_text not in (None, "") and (start is not None or end is not None):
        raise RangeProblem("range", "give either `range` or `from`/`to`, not both")
    if start is not None or end is not None:
        if start is None or end is None:
            raise RangeProblem(
                "from" if start is None else "to",
                "`from` and `to` go together; give both, or `range`",
            )
        if start >= end:
            raise RangeProblem("from", "must be before `to`")
        if end - start > LONGEST_RANGE:
            raise RangeProblem(
                "from", f"the range may span at most {format_duration(LONGEST_RANGE)}"
            )
        return RangeAsked(start=start, end=end)
    if range_text in (None, ""):
        return RangeAsked(length=DEFAULT_RANGE)
    try:
        length = parse_duration(range_text)
    except ValueError as problem:
        raise RangeProblem("range", f"{problem} (for example {', '.join(PRESETS)})") from None
    if length <= timedelta(0) or length > LONGEST_RANGE:
        raise RangeProblem(
            "range", f"must be positive and at most {format_duration(LONGEST_RANGE)}"
        )
    return RangeAsked(length=length)


def resolve(
    asked: RangeAsked, interval: timedelta, now: datetime, *, cap: timedelta | None = None
) -> Window:
    """The window to answer `asked` with buckets of `interval` at `now` (UTC-aware).

    Relative: aligned to the tick (the interval, or `cap` when shorter).
    Absolute: as given, fresh for one ABSOLUTE_TICK (or `cap`) tick.
    """
    if asked.length is not None:
        aligned = align_window(asked.length, interval, now, cap=cap)
        return Window(aligned.start, aligned.end, aligned.seconds_left, aligned.tick_id)
    assert asked.start is not None and asked.end is not None
    tick = ABSOLUTE_TICK if cap is None else min(cap, ABSOLUTE_TICK)
    aligned = align_window(tick, tick, now)
    return Window(asked.start, asked.end, aligned.seconds_left, aligned.tick_id)
