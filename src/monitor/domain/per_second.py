"""Figures per second over a sliding window: counts, a gauge, latency histograms.

Each structure is a ring of `width` slots, one per second; slot `s % width`
holds second `s` and is reset when a newer second reuses it. Recording is a
modulo, a comparison and a dict update: cheap enough for every request, with
no lock (everything runs on the Trio thread). Nothing is sorted or summed
until someone asks for a window.

Time is an argument (whole seconds since the Unix epoch). A second older than
what its slot already holds is dropped: after the clock steps back, nothing
recorded at the later time is overwritten with the earlier one. A window asked
for at `now` covers the `width` seconds ending with `now`; a second with
nothing recorded reads as zero (counts) or as the value carried from before
(the gauge).

Latency precision: a sample goes into one of `LATENCY_BOUNDS_MS`' buckets,
log-spaced at four per doubling from 0.1 ms, so a bucket's upper bound is
2^(1/4) ≈ 1.19 times its lower one. A quantile is read as the geometric
middle of the bucket holding the exact (nearest-rank) quantile, so it is
within 2^(1/8) - 1 ≈ 9 % of the exact value, and in the same bucket. Below
0.1 ms it reads as 0.05 ms; at or above the last bound (about 1.9 hours) as
that bound.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

LATENCY_BUCKETS_PER_DOUBLING = 4
LATENCY_BOUNDS_MS: tuple[float, ...] = tuple(
    0.1 * 2 ** (k / LATENCY_BUCKETS_PER_DOUBLING) for k in range(0, 4 * 26 + 1)
)

Histogram = Mapping[int, int]  # bucket index → samples in it


def _window(now_s: int, width: int) -> range:
    return range(now_s - width + 1, now_s + 1)


@dataclass(frozen=True)
class CountsWindow:
    """The counts of each second of a window, oldest first."""

    seconds: tuple[int, ...]
    counts: tuple[Mapping[str, int], ...]

    def series(self, key: str) -> list[int]:
        return [second.get(key, 0) for second in self.counts]

    def total(self, key: str) -> int:
        return sum(self.series(key))


class SecondCounts:
    """Counts per key and second over the last `width` seconds."""

    __slots__ = ("_counts", "_stamps", "width")

    def __init__(self, width: int) -> None:
        if width < 1:
            raise ValueError("width must be at least 1")
        self.width = width
        self._stamps = [-1] * width
        self._counts: list[dict[str, int]] = [{} for _ in range(width)]

    def add(self, now_s: int, key: str, n: int = 1) -> None:
        slot = now_s % self.width
        stamp = self._stamps[slot]
        if stamp != now_s:
            if stamp > now_s:
                return  # the clock stepped back past this slot's second
            self._stamps[slot] = now_s
            self._counts[slot] = {key: n}
            return
        counts = self._counts[slot]
        counts[key] = counts.get(key, 0) + n

    def window(self, now_s: int) -> CountsWindow:
        seconds = tuple(_window(now_s, self.width))
        empty: Mapping[str, int] = {}
        counts = tuple(
            dict(self._counts[s % self.width]) if self._stamps[s % self.width] == s else empty
            for s in seconds
        )
        return CountsWindow(seconds, counts)


class SecondGauge:
    """A gauge's highest value in each second, kept from its changes.

    `set` is called whenever the value changes; a second without a change
    reads as the value it was left at. A second's highest value includes the
    value it started with, so a connection open for 0.3 s of a second counts
    in that second.
    """

    __slots__ = ("_highest", "_stamps", "_started_at", "_value", "width")

    def __init__(self, width: int, value: int = 0) -> None:
        if width < 1:
            raise ValueError("width must be at least 1")
        self.width = width
        self._value = value
        self._stamps = [-1] * width
        self._highest = [0] * width
        self._started_at = [0] * width  # the value when the second's first change came

    @property
    def value(self) -> int:
        return self._value

    def set(self, now_s: int, value: int) -> None:
        slot = now_s % self.width
        stamp = self._stamps[slot]
        if stamp != now_s:
            if stamp > now_s:
                self._value = value  # too old to place; still the value from now on
                return
            self._stamps[slot] = now_s
            self._started_at[slot] = self._value
            self._highest[slot] = max(self._value, value)
        elif value > self._highest[slot]:
            self._highest[slot] = value
        self._value = value

    def window(self, now_s: int) -> list[int]:
        """Each second's highest value, oldest first.

        Walked newest to oldest: a second without a change holds the value the
        next change found when it came (the value carried so far). After the
        clock stepped back, changes stamped later than `now` are not placed:
        the seconds before them read as the current value.
        """
        carried = self._value
        newest_first: list[int] = []
        for second in reversed(_window(now_s, self.width)):
            slot = second % self.width
            if self._stamps[slot] == second:
                newest_first.append(self._highest[slot])
                carried = self._started_at[slot]
            else:
                newest_first.append(carried)
        newest_first.reverse()
        return newest_first


def latency_bucket(value_ms: float) -> int:
    """The bucket of a latency: i holds [bound[i - 1], bound[i]); 0 is below 0.1 ms."""
    return bisect.bisect_right(LATENCY_BOUNDS_MS, value_ms)


def bucket_value(bucket: int) -> float:
    """What a bucket's samples read as (see the module's note on precision)."""
    if bucket <= 0:
        return LATENCY_BOUNDS_MS[0] / 2
    if bucket >= len(LATENCY_BOUNDS_MS):
        return LATENCY_BOUNDS_MS[-1]
    return math.sqrt(LATENCY_BOUNDS_MS[bucket - 1] * LATENCY_BOUNDS_MS[bucket])


def merged(histograms: Iterable[Histogram]) -> dict[int, int]:
    total: dict[int, int] = {}
    for histogram in histograms:
        for bucket, count in histogram.items():
            total[bucket] = total.get(bucket, 0) + count
    return total


def quantile(histogram: Histogram, fraction: float) -> float | None:
    """The nearest-rank quantile (rank ⌈fraction · n⌉, at least 1), None without samples."""
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be within [0, 1]")
    count = sum(histogram.values())
    if count == 0:
        return None
    rank = max(1, math.ceil(fraction * count))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    raise AssertionError("the rank is within the count")


def exact_quantile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank quantile of raw values: what `quantile` approximates."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


class SecondHistograms:
    """A latency histogram per second over the last `width` seconds (milliseconds)."""

    __slots__ = ("_histograms", "_stamps", "width")

    def __init__(self, width: int) -> None:
        if width < 1:
            raise ValueError("width must be at least 1")
        self.width = width
        self._stamps = [-1] * width
        self._histograms: list[dict[int, int]] = [{} for _ in range(width)]

    def add(self, now_s: int, value_ms: float) -> None:
        bucket = bisect.bisect_right(LATENCY_BOUNDS_MS, value_ms)
        slot = now_s % self.width
        stamp = self._stamps[slot]
        if stamp != now_s:
            if stamp > now_s:
                return
            self._stamps[slot] = now_s
            self._histograms[slot] = {bucket: 1}
            return
        histogram = self._histograms[slot]
        histogram[bucket] = histogram.get(bucket, 0) + 1

    def window(self, now_s: int) -> list[Histogram]:
        """Each second's histogram, oldest first ({} for a second without samples)."""
        return [
            dict(self._histograms[s % self.width]) if self._stamps[s % self.width] == s else {}
            for s in _window(now_s, self.width)
        ]
