"""Ticks: the step at which a relative range (`range=1h`) moves, so that results can be shared.

A dashboard asking for "the last hour" at 12:00:31 and another at 12:00:47
should get the same answer, computed once. So `now` is rounded down to a
tick: the bucket interval, or less when a cap asks for fresher answers (the
overview's last-minute rates use 10 s). Ticks are counted from the Unix
epoch in UTC, so every instance of the service agrees on them.

The window ends where the current tick starts: it holds only ticks that are
over, so an answer computed early in a tick is the same as one computed
late in it (data arriving late aside), and data shown is at most one tick
old. Its start is `end - range`, moved back to the tick grid when the range
is not a whole number of ticks, so with tick = interval every bucket is
whole.

Everything is computed in whole microseconds (what `datetime` holds), so no
rounding can put `now` outside its tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# The overview's last-minute rates must stay fresh whatever its bucket interval.
OVERVIEW_TICK_CAP = timedelta(seconds=10)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class AlignedWindow:
    start: datetime  # the data window: [start, end), on the tick grid
    end: datetime  # == tick_start
    tick: timedelta
    tick_start: datetime  # the tick `now` is in: [tick_start, tick_end)
    tick_end: datetime
    seconds_left: float  # from `now` until tick_end; > 0: how long the answer stays current

    @property
    def tick_id(self) -> str:
        """Names the tick among all ticks of all lengths: its start and length, in µs."""
        return f"{_micros(self.tick_start)}+{self.tick // _MICROSECOND}"


def align_window(
    range_: timedelta, interval: timedelta, now: datetime, *, cap: timedelta | None = None
) -> AlignedWindow:
    """The window `range_` long that ends at the start of `now`'s tick.

    The tick is `interval`, or `cap` when that is shorter. `now` must carry a
    time zone. ValueError for a range, interval or cap that is not positive.
    """
    for name, length in (("range", range_), ("interval", interval), ("cap", cap)):
        if length is not None and length <= timedelta(0):
            raise ValueError(f"{name} must be positive")
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    tick = interval if cap is None else min(interval, cap)
    tick_us = tick // _MICROSECOND
    now_us = _micros(now)
    start_us = now_us - now_us % tick_us  # floor, also before the epoch
    window_us = -(-(range_ // _MICROSECOND) // tick_us) * tick_us  # range, up to whole ticks
    try:
        window_start, tick_start, tick_end = (
            _at(start_us - window_us),
            _at(start_us),
            _at(start_us + tick_us),
        )
    except OverflowError:
        raise ValueError("the window does not fit between the years 1 and 9999") from None
    return AlignedWindow(
        start=window_start,
        end=tick_start,
        tick=timedelta(microseconds=tick_us),
        tick_start=tick_start,
        tick_end=tick_end,
        seconds_left=(tick_end - now).total_seconds(),
    )


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _at(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)
