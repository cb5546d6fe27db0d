from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.cursors import decode_cursor, encode_cursor
from monitor.domain.events import (
    ATTRIBUTES_MAX_DEPTH,
    attribute_match_candidates,
    attributes_problem,
    derive_fingerprint,
    normalise_message,
)
from monitor.domain.ids import uuid7, uuid7_unix_ms
from monitor.domain.intervals import parse_interval
from monitor.domain.partitions import DayPartition, expired, partitions_ahead

moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(st.integers(0, 2**48 - 1), st.binary(min_size=10, max_size=10))
def test_uuid7_layout(unix_ms: int, randomness: bytes) -> None:
    value = uuid7(unix_ms, randomness)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert uuid7_unix_ms(value) == unix_ms


@given(
    st.integers(0, 2**47),
    st.integers(1, 10**6),
    st.binary(min_size=10, max_size=10),
    st.binary(min_size=10, max_size=10),
)
def test_uuid7_sorts_by_time(unix_ms: int, later_by: int, first: bytes, second: bytes) -> None:
    assert uuid7(unix_ms, first) < uuid7(unix_ms + later_by, second)


@given(moments, st.uuids())
def test_cursor_round_trip(moment: datetime, item_id: uuid.UUID) -> None:
    assert decode_cursor(encode_cursor(moment, item_id)) == (moment, item_id)


@given(st.text(max_size=50))
def test_garbage_is_never_a_cursor_that_crashes(text: str) -> None:
    with contextlib.suppress(ValueError):
        decode_cursor(text)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("2d", 172800)]
)
def test_intervals(text: str, seconds: int) -> None:
    assert parse_interval(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0s", "-1m", "1.5h", "h"])  # 1w is a week (durations)
def test_bad_intervals(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)


def test_messages_differing_only_in_numbers_ids_and_hex_share_a_fingerprint() -> None:
    a = derive_fingerprint("error", "api", "Timeout after 300ms on 10.0.0.1 for user 42")
    b = derive_fingerprint("error", "api", "Timeout after 25ms on 10.0.0.7 for user 9001")
    assert a == b
    c = derive_fingerprint("error", "api", "order 0f8e3c1a-1b2c-4d5e-8f90-123456789abc failed")
    d = derive_fingerprint("error", "api", "order 7a1b2c3d-0000-4000-8000-0000deadbeef failed")
    assert c == d
    assert normalise_message("ptr 0xDEADBEEF and sha 9f86d081884c7d65") == "ptr <hex> and sha <hex>"


def test_different_type_source_or_words_make_different_fingerprints() -> None:
    base = derive_fingerprint("error", "api", "disk full")
    assert base != derive_fingerprint("error", "worker", "disk full")
    assert base != derive_fingerprint("panic", "api", "disk full")
    assert base != derive_fingerprint("error", "api", "disk almost full")


@given(
    st.text(alphabet=st.characters(categories=["L", "Zs"]), max_size=40),
    st.integers(0, 10**9),
    st.integers(0, 10**9),
)
def test_numbers_never_split_a_group(words: str, first: int, second: int) -> None:
    assert derive_fingerprint("t", "s", f"{words} {first}") == derive_fingerprint(
        "t", "s", f"{words} {second}"
    )


def test_attribute_limits() -> None:
    assert attributes_problem({"a": 1, "b": [1, {"c": "x"}]}) is None
    deep: dict[str, object] = {}
    node = deep
    for _ in range(ATTRIBUTES_MAX_DEPTH + 1):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    assert "deeper" in (attributes_problem(deep) or "")
    assert "keys" in (attributes_problem({str(i): i for i in range(1000)}) or "")
    assert "NUL" in (attributes_problem({"a": "b\x00c"}) or "")


def test_attribute_candidates_match_json_text() -> None:
    assert attribute_match_candidates("500") == ["500", 500]
    assert attribute_match_candidates("1.5") == ["1.5", 1.5]
    assert attribute_match_candidates("true") == ["true", True]
    assert attribute_match_candidates("abc") == ["abc"]


@given(moments, st.integers(0, 5))
def test_partitions_ahead_cover_now_and_following_days(now: datetime, days: int) -> None:
    ahead = partitions_ahead(now, days)
    assert len(ahead) == days + 1
    assert DayPartition.containing(now) in ahead
    assert all(p.start <= now + timedelta(days=days) for p in ahead)


@given(
    st.lists(
        st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2100, 1, 1).date()),
        max_size=30,
    ),
    moments,
    st.integers(1, 400),
)
def test_only_partitions_wholly_past_retention_expire(
    days: list, now: datetime, retention_days: int
) -> None:  # type: ignore[type-arg]
    partitions = {DayPartition(day) for day in days}
    retention = timedelta(days=retention_days)
    doomed = set(expired(partitions, now, retention))
    for partition in partitions:
        assert (partition in doomed) == (partition.end <= now - retention)


def test_partition_names_round_trip() -> None:
    partition = DayPartition(datetime(2026, 3, 9).date())
    assert partition.name("events") == "events_p20260309"
    assert DayPartition.from_name("events", "events_p20260309") == partition
    assert DayPartition.from_name("events", "events_default") is None


@given(moments, st.integers(0, 10 * 86400))
def test_partitions_spanning_cover_every_day_between(earliest: datetime, seconds: int) -> None:
    from monitor.domain.partitions import partitions_for, partitions_spanning

    latest = earliest + timedelta(seconds=seconds)
    spanning = partitions_spanning(earliest, latest)
    middle = [earliest + timedelta(seconds=s) for s in range(0, seconds + 1, 3600)]
    assert partitions_for([*middle, latest]) <= spanning
    assert len(spanning) == (latest.date() - earliest.date()).days + 1
