"""The interval a metric query gets when it gives none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.intervals import (
    AUTO_POINTS,
    NICE_INTERVALS,
    auto_interval,
    bucket_count,
    bucket_starts,
    fitting_interval,
)
from monitor.web.api.metrics.query import MAX_POINTS


@given(st.integers(min_value=1, max_value=3 * 365 * 86400))
def test_the_chosen_interval_is_round_and_gives_about_auto_points(seconds: int) -> None:
    span = timedelta(seconds=seconds)
    interval = auto_interval(span)
    width = int(interval.total_seconds())
    assert width in NICE_INTERVALS or width % 86400 == 0
    assert span / interval <= AUTO_POINTS  # never more points than asked for
    assert span / interval <= MAX_POINTS
    smaller = [n for n in NICE_INTERVALS if n < width]
    if smaller and width in NICE_INTERVALS:  # the next rounder width down would give too many
        assert span / timedelta(seconds=smaller[-1]) > AUTO_POINTS


moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(8000, 1, 1), timezones=st.just(UTC)
)


@given(moments, st.integers(1, 400 * 86400), st.integers(1, 90 * 86400))
def test_bucket_starts_are_epoch_aligned_and_cover_the_range(
    start: datetime, length_s: int, width_s: int
) -> None:
    end, interval = start + timedelta(seconds=length_s), timedelta(seconds=width_s)
    if (end - start) / interval > 10_000:
        return  # too many to list; bucket_count is checked below
    starts = bucket_starts(start, end, interval)
    assert len(starts) == bucket_count(start, end, interval)
    assert all(moment.timestamp() % width_s == 0 for moment in starts)
    assert starts[0] <= start < starts[0] + interval
    assert starts[-1] < end <= starts[-1] + interval


@given(
    st.one_of(st.none(), moments),
    st.integers(1, 400 * 86400),
    st.integers(2, 2000),
)
def test_the_fitting_interval_is_the_narrowest_round_one_within_the_limit(
    start: datetime | None, length_s: int, limit: int
) -> None:
    span = timedelta(seconds=length_s)

    def count(width: timedelta) -> int:
        if start is None:  # a relative window: whole ticks
            return -(-span // width)
        return bucket_count(start, start + span, width)

    chosen = fitting_interval(count, span, limit)
    assert count(chosen) <= limit
    seconds = int(chosen.total_seconds())
    assert seconds in NICE_INTERVALS or seconds % 86400 == 0
    narrower = [timedelta(seconds=n) for n in NICE_INTERVALS if n < seconds]
    narrower += [timedelta(days=d) for d in range(1, seconds // 86400)]
    assert all(count(width) > limit for width in narrower[-3:])
