"""The shared rules for query values, against what the application really parses."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import Headers
from werkzeug.sansio.request import Request

from monitor.domain.events import attribute_match_candidates
from monitor.domain.intervals import parse_interval, too_many_buckets
from monitor.domain.query_times import EARLIEST, LATEST
from monitor.domain.query_values import (
    MAX_LIST_ITEMS,
    MAX_NAME_LENGTH,
    MAX_PARAMETERS,
    MAX_REPEATS,
    MAX_VALUE_LENGTH,
    json_number,
    listed,
    query_string_problems,
    whole_number,
)

# Pieces that make parsing hard: separators, bad and partial escapes, NUL, invalid UTF-8.
PIECES = st.sampled_from(
    [
        "a",
        "b",
        "x.y",
        "&",
        "=",
        "+",
        ";",
        "%",
        "%2",
        "%zz",
        "%00",
        "%ED%A0%80",
        "%C3%A9",
        "%FF",
        "%26",
        "%3D",
        "%2C",
        ",",
        "attr.",
        "label.k!",
        "1e309",
        "\\",
    ]
)
raw_queries = st.lists(PIECES, max_size=30).map(lambda parts: "".join(parts).encode())


def parsed(raw: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs the application's routes see (Quart's request.args)."""
    request = Request("GET", "http", ("x", 80), "", "/", raw, Headers(), None)
    return list(request.args.items(multi=True))


@given(raw_queries)
def test_what_passes_is_safe_for_every_route(raw: bytes) -> None:
    if query_string_problems(raw):
        return
    pairs = parsed(raw)
    assert len(pairs) <= MAX_PARAMETERS
    for name, value in pairs:
        assert "\x00" not in name + value
        assert len(name) <= MAX_NAME_LENGTH and len(value) <= MAX_VALUE_LENGTH
        # Percent-decoding succeeded, so nothing was left percent-encoded as invalid UTF-8.
        (name + value).encode("utf-8")


def encode(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(
        f"{quote(n.encode('utf-8', 'surrogatepass'))}={quote(v.encode('utf-8', 'surrogatepass'))}"
        for n, v in pairs
    ).encode()


texts = st.text(st.characters(codec="utf-8") | st.sampled_from(["\x00", "\ud800"]), max_size=8)
long_texts = st.sampled_from(["n" * (MAX_NAME_LENGTH + 1), "v" * (MAX_VALUE_LENGTH + 1)])


@given(st.lists(st.tuples(texts | long_texts, texts | long_texts), max_size=8))
def test_every_bad_parameter_is_named_and_only_those(pairs: list[tuple[str, str]]) -> None:
    def bad(name: str, value: str) -> bool:
        return (
            "\x00" in name + value
            or "\ud800" in name + value
            or len(name) > MAX_NAME_LENGTH
            or len(value) > MAX_VALUE_LENGTH
        )

    def shown(name: str) -> str:
        return name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH] + "…"

    named = {problem.field for problem in query_string_problems(encode(pairs))}
    assert named == {shown(name) for name, value in pairs if bad(name, value)}


def test_repeats_and_counts_are_bounded() -> None:
    assert query_string_problems(b"&".join([b"a=1"] * MAX_REPEATS)) == []
    [repeated] = query_string_problems(b"&".join([b"a=1"] * (MAX_REPEATS + 1)))
    assert repeated.field == "a" and str(MAX_REPEATS) in repeated.message
    many = b"&".join(f"p{i}=1".encode() for i in range(MAX_PARAMETERS + 1))
    assert [p.field for p in query_string_problems(many)] == ["(query)"]


@given(st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False))
def test_a_finite_number_reads_as_itself(number: float) -> None:
    assert json_number(repr(number)) == number


@given(st.integers(-(10**30), 10**30))
def test_integers_stay_exact(number: int) -> None:
    assert json_number(str(number)) == number
    assert isinstance(json_number(str(number)), int)


@pytest.mark.parametrize("text", ["1e309", "-1e309", "1E400", "9" * 400, "1e-400", "-0.5e-330"])
def test_numbers_no_stored_value_can_equal_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        json_number(text)
    with pytest.raises(ValueError):
        attribute_match_candidates(text)


@given(st.text(max_size=30))
def test_json_number_never_gives_a_non_finite_value(text: str) -> None:
    try:
        number = json_number(text)
    except ValueError:
        return
    assert number is None or math.isfinite(number)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-0", "0.0", "1e-5", "5e-324"])
def test_other_texts_compare_as_given(text: str) -> None:
    number = json_number(text)
    assert number is None or math.isfinite(number)


@given(st.text(max_size=25), st.integers(-5, 5), st.integers(0, 10**6))
def test_whole_number_is_in_range_or_a_value_error(text: str, low: int, span: int) -> None:
    try:
        number = whole_number(text, low, low + span)
    except ValueError:
        return
    assert low <= number <= low + span
    assert int(text) == number


@given(st.lists(st.text(st.sampled_from("ab, "), max_size=12), max_size=30))
def test_listed_items_are_bounded_and_clean(values: list[str]) -> None:
    try:
        items = listed(values)
    except ValueError:
        assert sum(len([p for p in v.split(",") if p.strip()]) for v in values) > MAX_LIST_ITEMS
        return
    assert len(items) <= MAX_LIST_ITEMS
    assert all(item and item == item.strip() and "," not in item for item in items)


@given(
    st.integers(1, int((LATEST - EARLIEST).total_seconds())),  # any range a query may ask
    st.integers(1, 10**6),
    st.integers(100, 20_000),  # the routes' limits are 10,000 and 11,000
    st.booleans(),
)
def test_the_suggested_interval_fits(
    span_s: int, interval_s: int, limit: int, given_: bool
) -> None:
    span, interval = timedelta(seconds=span_s), timedelta(seconds=interval_s)
    message = too_many_buckets(span, interval, limit, given=f"{interval_s}s" if given_ else None)
    if message is None:
        assert span / interval <= limit
        return
    assert ("a wider interval" in message) == given_
    suggested = re.search(r"such as (\d+[smhd])", message)
    assert suggested is not None, message
    assert span / parse_interval(suggested[1]) <= limit
