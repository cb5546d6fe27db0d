"""Tick alignment of relative ranges and the canonical key of a shared result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.result_keys import result_key
from monitor.domain.ticks import OVERVIEW_TICK_CAP as OVERVIEW_CAP
from monitor.domain.ticks import align_window

# Around today, and far from it in both directions (before the epoch too).
moments = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
lengths = st.integers(min_value=1, max_value=7 * 86400).map(lambda s: timedelta(seconds=s))
caps = st.none() | st.sampled_from([timedelta(seconds=10), timedelta(seconds=1)])


@given(range_=lengths, interval=lengths, cap=caps, now=moments)
def test_now_lies_in_its_tick_and_the_window_ends_where_the_tick_starts(
    range_: timedelta, interval: timedelta, cap: timedelta | None, now: datetime
) -> None:
    window = align_window(range_, interval, now, cap=cap)
    assert window.tick_start <= now < window.tick_end
    assert window.tick_end - window.tick_start == window.tick
    assert window.tick == (interval if cap is None else min(interval, cap))
    assert window.end == window.tick_start
    assert 0 < window.seconds_left <= window.tick.total_seconds()
    assert window.seconds_left == (window.tick_end - now).total_seconds()


@given(range_=lengths, interval=lengths, cap=caps, now=moments)
def test_the_window_covers_the_range_in_whole_ticks_on_the_epoch_grid(
    range_: timedelta, interval: timedelta, cap: timedelta | None, now: datetime
) -> None:
    window = align_window(range_, interval, now, cap=cap)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert range_ <= window.end - window.start < range_ + window.tick
    assert (window.start - epoch) % window.tick == timedelta(0)
    assert (window.end - epoch) % window.tick == timedelta(0)


@given(range_=lengths, interval=lengths, cap=caps, now=moments, data=st.data())
def test_the_window_stays_put_within_a_tick_and_moves_by_one_tick_at_its_end(
    range_: timedelta,
    interval: timedelta,
    cap: timedelta | None,
    now: datetime,
    data: st.DataObject,
) -> None:
    window = align_window(range_, interval, now, cap=cap)
    later_in_tick = window.tick_start + data.draw(
        st.integers(0, window.tick // timedelta(microseconds=1) - 1).map(
            lambda us: timedelta(microseconds=us)
        )
    )
    same = align_window(range_, interval, later_in_tick, cap=cap)
    assert (same.start, same.end, same.tick_id) == (window.start, window.end, window.tick_id)
    following = align_window(range_, interval, window.tick_end, cap=cap)
    assert following.tick_id != window.tick_id
    assert following.start - window.start == window.tick
    assert following.end - window.end == window.tick


def test_an_hour_of_one_minute_buckets() -> None:
    now = datetime(2026, 3, 1, 12, 0, 31, 500_000, tzinfo=UTC)
    window = align_window(timedelta(hours=1), timedelta(minutes=1), now)
    assert window.start == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    assert window.end == window.tick_start == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert window.tick_end == datetime(2026, 3, 1, 12, 1, tzinfo=UTC)
    assert window.seconds_left == 28.5


def test_the_overview_moves_every_ten_seconds_whatever_its_interval() -> None:
    now = datetime(2026, 3, 1, 12, 0, 31, tzinfo=UTC)
    window = align_window(timedelta(minutes=1), timedelta(hours=1), now, cap=OVERVIEW_CAP)
    assert window.tick == OVERVIEW_CAP
    assert (window.start, window.end) == (
        datetime(2026, 3, 1, 11, 59, 30, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC),
    )
    assert window.seconds_left == 9


def test_a_range_that_is_not_whole_ticks_reaches_back_to_the_tick_before() -> None:
    now = datetime(2026, 3, 1, 12, 3, tzinfo=UTC)
    window = align_window(timedelta(minutes=10), timedelta(minutes=7), now)
    # 12:00 UTC that day is a whole number of 7-minute steps from the epoch.
    assert window.end == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert window.start == datetime(2026, 3, 1, 11, 46, tzinfo=UTC)  # two ticks, not 10 min


def test_any_time_zone_names_the_same_tick() -> None:
    utc = datetime(2026, 3, 1, 12, 0, 31, tzinfo=UTC)
    elsewhere = utc.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert (
        align_window(timedelta(hours=1), timedelta(minutes=1), elsewhere).tick_id
        == align_window(timedelta(hours=1), timedelta(minutes=1), utc).tick_id
    )


def test_ticks_of_different_lengths_have_different_ids() -> None:
    midnight = datetime(2026, 3, 1, tzinfo=UTC)
    ids = {
        align_window(timedelta(days=1), timedelta(seconds=s), midnight).tick_id for s in (10, 60)
    }
    assert len(ids) == 2


@pytest.mark.parametrize(
    ("range_", "interval", "cap"),
    [
        (timedelta(0), timedelta(minutes=1), None),
        (timedelta(hours=1), timedelta(seconds=-1), None),
        (timedelta(hours=1), timedelta(minutes=1), timedelta(0)),
    ],
)
def test_lengths_that_are_not_positive_are_refused(
    range_: timedelta, interval: timedelta, cap: timedelta | None
) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        align_window(range_, interval, datetime(2026, 1, 1, tzinfo=UTC), cap=cap)


def test_now_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        align_window(timedelta(hours=1), timedelta(minutes=1), datetime(2026, 1, 1))


def test_a_window_before_year_one_is_refused() -> None:
    with pytest.raises(ValueError, match="years 1 and 9999"):
        align_window(timedelta(days=10), timedelta(days=1), datetime(1, 1, 2, tzinfo=UTC))


# --- result keys ------------------------------------------------------------------

names = st.sampled_from(["range", "interval", "source", "group_by", "a&b", "x=y", "%", "é"])
values = st.text(max_size=8)
param_lists = st.lists(st.tuples(names, values), max_size=12)


def grouped(params: list[tuple[str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in params:
        found.setdefault(name, []).append(value)
    return found


@given(params=param_lists, data=st.data())
def test_keys_are_equal_when_only_the_order_of_different_names_changes(
    params: list[tuple[str, str]], data: st.DataObject
) -> None:
    # Interleave the names differently while each name's values keep their order.
    by_name = grouped(params)
    order = data.draw(st.permutations([name for name, _ in params]))
    remaining = {name: iter(given) for name, given in by_name.items()}
    shuffled = [(name, next(remaining[name])) for name in order]
    assert result_key("/overview", shuffled, "t") == result_key("/overview", params, "t")


@given(params=param_lists, data=st.data())
def test_set_valued_names_ignore_order_and_repeats(
    params: list[tuple[str, str]], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(params))
    repeated = shuffled + [pair for pair in params if pair[0] == "source"]
    sets = {name for name, _ in params}
    assert result_key("/top", repeated, "t", sets=sets) == result_key(
        "/top", params, "t", sets=sets
    )


@given(first=param_lists, second=param_lists)
def test_keys_differ_whenever_the_normalised_parameters_differ(
    first: list[tuple[str, str]], second: list[tuple[str, str]]
) -> None:
    same_request = grouped(first) == grouped(second)
    assert (result_key("/r", first, "t") == result_key("/r", second, "t")) == same_request


def test_the_order_of_a_repeated_parameter_is_kept_unless_it_is_a_set() -> None:
    ab = [("group_by", "a"), ("group_by", "b")]
    ba = [("group_by", "b"), ("group_by", "a")]
    assert result_key("/r", ab, "t") != result_key("/r", ba, "t")
    assert result_key("/r", ab, "t", sets={"group_by"}) == result_key(
        "/r", ba, "t", sets={"group_by"}
    )


def test_route_and_tick_are_part_of_the_key() -> None:
    params = [("range", "1h")]
    keys = {
        result_key("/overview", params, "1+10"),
        result_key("/overview", params, "2+10"),
        result_key("/timeseries", params, "1+10"),
    }
    assert len(keys) == 3


def test_a_value_cannot_imitate_another_parameter() -> None:
    assert result_key("/r", [("a", "1&b=2")], "t") != result_key(
        "/r", [("a", "1"), ("b", "2")], "t"
    )
    assert result_key("/r", [("a", "1#u")], "t") != result_key("/r", [("a", "1")], "u#t")
