"""Durations as settings, query parameters and JSON bodies take them: one reading everywhere."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.durations import (
    DAY,
    MAX_DURATION,
    MILLISECOND,
    format_duration,
    parse_duration,
)
from monitor.domain.intervals import parse_interval

UNITS_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
CANONICAL = re.compile(r"0s|(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?")
MAX_MS = MAX_DURATION // MILLISECOND

durations = st.integers(min_value=0, max_value=MAX_MS).map(lambda ms: timedelta(milliseconds=ms))


@st.composite
def compound(draw: st.DrawFn) -> tuple[str, int]:
    """A compound string (units largest first, each at most once) and its milliseconds."""
    units = draw(st.lists(st.sampled_from(list(UNITS_MS)), min_size=1, unique=True))
    units.sort(key=lambda unit: -UNITS_MS[unit])
    amounts = [draw(st.integers(min_value=0, max_value=10_000)) for _ in units]
    text = "".join(f"{amount}{unit}" for amount, unit in zip(amounts, units, strict=True))
    return text, sum(amount * UNITS_MS[unit] for amount, unit in zip(amounts, units, strict=True))


@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("30s", timedelta(seconds=30), "30s"),
        ("5m", timedelta(minutes=5), "5m"),
        ("1h30m", timedelta(hours=1, minutes=30), "1h30m"),
        ("7d", timedelta(days=7), "7d"),
        ("1w", timedelta(days=7), "7d"),  # weeks are read, days written
        ("90s", timedelta(seconds=90), "1m30s"),
        ("250ms", timedelta(milliseconds=250), "250ms"),
        ("2d12h", timedelta(days=2, hours=12), "2d12h"),
        ("1m5ms", timedelta(minutes=1, milliseconds=5), "1m5ms"),
        (" 15s ", timedelta(seconds=15), "15s"),
        ("0", timedelta(0), "0s"),
        ("0s", timedelta(0), "0s"),
        ("60", timedelta(minutes=1), "1m"),  # a plain number counts seconds
        ("0.05", timedelta(milliseconds=50), "50ms"),
        ("36500d", MAX_DURATION, "36500d"),
    ],
)
def test_written_forms(text: str, expected: timedelta, canonical: str) -> None:
    assert parse_duration(text) == expected
    assert format_duration(expected) == canonical


def test_numbers_count_seconds_unless_the_caller_counts_days() -> None:
    assert parse_duration(30) == timedelta(seconds=30)
    assert parse_duration(0.25) == timedelta(milliseconds=250)
    assert parse_duration("30", bare_unit=DAY) == timedelta(days=30)
    assert parse_duration(1.5, bare_unit=DAY) == timedelta(hours=36)
    assert parse_duration("12h", bare_unit=DAY) == timedelta(hours=12)  # a unit always wins


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("-5m", "must not be negative"),
        (-1, "must not be negative"),
        ("30m1h", "largest first"),
        ("1h1h", "at most once"),
        ("1.5h", "1h30m"),  # the accepted forms are listed
        ("5y", "units w, d, h, m, s, ms"),
        ("1H", "units w, d, h, m, s, ms"),
        ("1h 30m", "units w, d, h, m, s, ms"),
        ("1e3", "plain number of seconds"),
        ("٣s", "units w, d, h, m, s, ms"),  # only ASCII digits
        ("0.0001", "whole number of milliseconds"),
        ("36501d", "at most 36500d"),
        (10**40, "at most 36500d"),
        ("9" * 80, "too long"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (True, "a duration such as"),
        (None, "a duration such as"),
    ],
)
def test_refusals_say_what_is_wrong(value: object, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        parse_duration(value)  # type: ignore[arg-type]


def test_a_refusal_in_days_names_days() -> None:
    with pytest.raises(ValueError, match="plain number of days"):
        parse_duration("thirty", bare_unit=DAY)


def test_a_refusal_never_repeats_the_input() -> None:
    with pytest.raises(ValueError) as refused:
        parse_duration("<script>")
    assert "<script>" not in str(refused.value)


@given(durations)
def test_format_then_parse_is_the_same_duration(duration: timedelta) -> None:
    text = format_duration(duration)
    assert CANONICAL.fullmatch(text), text
    assert parse_duration(text) == duration


@given(compound())
def test_a_compound_string_is_the_sum_of_its_parts(case: tuple[str, int]) -> None:
    text, millis = case
    if millis > MAX_MS:
        with pytest.raises(ValueError, match="at most"):
            parse_duration(text)
        return
    parsed = parse_duration(text)
    assert parsed == timedelta(milliseconds=millis)
    assert parse_duration(format_duration(parsed)) == parsed  # canonical form, same duration


@given(st.integers(min_value=0, max_value=MAX_MS // 1000))
def test_plain_whole_seconds_read_as_seconds(seconds: int) -> None:
    assert parse_duration(str(seconds)) == timedelta(seconds=seconds)
    assert parse_duration(seconds) == timedelta(seconds=seconds)
    assert format_duration(seconds) == format_duration(timedelta(seconds=seconds))


@given(
    st.one_of(
        st.text(max_size=80),
        st.text(alphabet="0123456789.wdhms- \t", max_size=40),
        st.integers(),
        st.floats(),
        st.none(),
        st.booleans(),
    ),
    st.sampled_from([timedelta(seconds=1), DAY]),
)
def test_garbage_raises_nothing_but_value_error(value: object, bare_unit: timedelta) -> None:
    try:
        parsed = parse_duration(value, bare_unit=bare_unit)  # type: ignore[arg-type]
    except ValueError:
        return
    assert timedelta(0) <= parsed <= MAX_DURATION
    assert parsed % MILLISECOND == timedelta(0)


def test_format_refuses_what_parse_never_returns() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="millisecond"):
        format_duration(timedelta(microseconds=1500))


# --- bucket widths (the `interval` of metric and event queries) -------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h", 3600), ("2d", 172800), ("1h30m", 5400), ("60", 60)],
)
def test_intervals_take_every_duration_form(text: str, seconds: int) -> None:
    assert parse_interval(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("0s", "must be positive"),
        ("0", "must be positive"),
        ("1500ms", "whole number of seconds"),
        ("0.5", "whole number of seconds"),
        ("-1m", "negative"),
        ("h", "such as 30s"),
    ],
)
def test_intervals_are_positive_whole_seconds(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_interval(text)
