"""The interval a metric query gets when it gives none."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.intervals import AUTO_POINTS, NICE_INTERVALS, auto_interval
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
