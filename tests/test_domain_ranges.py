"""Dashboard ranges: what `range`, `from` and `to` ask for, and the window answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.ranges import DEFAULT_RANGE, RangeProblem, parse_range, resolve

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_nothing_given_is_the_last_24_hours() -> None:
    assert parse_range(None, None, None).length == DEFAULT_RANGE


@pytest.mark.parametrize(
    ("text", "length"), [("15m", 900), ("1h", 3600), ("60m", 3600), ("7d", 604800)]
)
def test_presets_and_any_duration(text: str, length: int) -> None:
    assert parse_range(text, None, None).length == timedelta(seconds=length)


def test_one_spelling_for_cache_keys() -> None:
    assert parse_range("60m", None, None).canonical() == parse_range("1h", None, None).canonical()


@pytest.mark.parametrize(
    ("text", "start", "end", "field"),
    [
        ("1h", T0, T0 + timedelta(hours=1), "range"),
        (None, T0, None, "to"),
        (None, None, T0, "from"),
        (None, T0, T0, "from"),
        (None, T0 + timedelta(hours=1), T0, "from"),
        (None, T0, T0 + timedelta(days=401), "from"),
        ("0s", None, None, "range"),
        ("401d", None, None, "range"),
        ("soon", None, None, "range"),
        ("-1h", None, None, "range"),
    ],
)
def test_unanswerable_ranges_name_the_parameter(
    text: str | None, start: datetime | None, end: datetime | None, field: str
) -> None:
    with pytest.raises(RangeProblem) as raised:
        parse_range(text, start, end)
    assert raised.value.field == field


@given(
    length_s=st.integers(60, 7 * 86400),
    interval_s=st.sampled_from([1, 10, 60, 300, 3600]),
    offset_us=st.integers(0, 10**12),
)
def test_a_relative_window_is_the_same_question_for_a_whole_tick(
    length_s: int, interval_s: int, offset_us: int
) -> None:
    asked = parse_range(f"{length_s}s", None, None)
    now = T0 + timedelta(microseconds=offset_us)
    window = resolve(asked, timedelta(seconds=interval_s), now, cap=timedelta(seconds=10))
    assert window.end <= now < window.end + timedelta(seconds=min(interval_s, 10))
    later = now + timedelta(seconds=window.fresh_for) - timedelta(microseconds=1)
    same_tick = resolve(asked, timedelta(seconds=interval_s), later, cap=timedelta(seconds=10))
    assert (same_tick.start, same_tick.end, same_tick.tick_id) == (
        window.start,
        window.end,
        window.tick_id,
    )
    next_tick = resolve(
        asked,
        timedelta(seconds=interval_s),
        later + timedelta(microseconds=1),
        cap=timedelta(seconds=10),
    )
    assert next_tick.tick_id != window.tick_id and next_tick.end > window.end
    assert window.end - window.start >= asked.span()


def test_an_absolute_window_is_answered_as_given() -> None:
    asked = parse_range(None, T0, T0 + timedelta(hours=3))
    window = resolve(asked, timedelta(minutes=1), T0 + timedelta(days=1, seconds=3))
    assert (window.start, window.end) == (T0, T0 + timedelta(hours=3))
    assert 0 < window.fresh_for <= 10
