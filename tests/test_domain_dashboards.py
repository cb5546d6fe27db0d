"""The pure rules behind dashboards: the grid, bounded JSON, widget queries, If-Match."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.dashboards import VersionCondition
from monitor.domain.grid import (
    GRID_COLUMNS,
    MAX_HEIGHT,
    MAX_ROWS,
    Placement,
    first_free_row,
    overlapping,
    placement_problems,
)
from monitor.domain.json_documents import MAX_SAFE_INTEGER, JsonLimits, json_problems
from monitor.domain.widget_queries import (
    EVENTS_LIST,
    OVERVIEW,
    TIMESERIES,
    TOP,
    QueryProblems,
    query_parameters,
    widget_target,
)
from monitor.web.edge.preconditions import MAX_TAGS, parse_if_match

# The grid.

placements = st.builds(
    Placement,
    x=st.integers(0, GRID_COLUMNS - 1),
    y=st.integers(0, 30),
    w=st.integers(1, GRID_COLUMNS),
    h=st.integers(1, 10),
)


def cells(placement: Placement) -> set[tuple[int, int]]:
    return {
        (column, row)
        for column in range(placement.x, placement.x + placement.w)
        for row in range(placement.y, placement.y + placement.h)
    }


@given(placements, placements)
def test_two_placements_overlap_exactly_when_they_share_a_cell(
    one: Placement, other: Placement
) -> None:
    assert one.overlaps(other) == bool(cells(one) & cells(other))
    assert one.overlaps(other) == other.overlaps(one)


@given(st.lists(placements, max_size=8))
def test_overlapping_names_every_pair_that_shares_a_cell(laid_out: list[Placement]) -> None:
    by_id = dict(enumerate(laid_out))
    expected = [(a, b) for a in by_id for b in by_id if a < b and cells(by_id[a]) & cells(by_id[b])]
    assert overlapping(by_id) == expected


@given(st.lists(placements, max_size=8), st.integers(1, GRID_COLUMNS), st.integers(1, 10))
def test_the_first_free_row_is_below_every_widget(
    laid_out: list[Placement], w: int, h: int
) -> None:
    below = Placement(0, first_free_row(laid_out), w, h)
    assert not any(below.overlaps(other) for other in laid_out)


@given(
    st.integers(-5, GRID_COLUMNS + 5),
    st.integers(-5, MAX_ROWS + 5),
    st.integers(-2, GRID_COLUMNS + 2),
    st.integers(-2, MAX_HEIGHT + 2),
)
def test_a_placement_fits_exactly_when_it_lies_inside_the_grid(
    x: int, y: int, w: int, h: int
) -> None:
    fits = (
        x >= 0
        and w >= 1
        and x + w <= GRID_COLUMNS
        and y >= 0
        and 1 <= h <= MAX_HEIGHT
        and y + h <= MAX_ROWS
    )
    problems = placement_problems(x, y, w, h)
    assert (problems == []) == fits
    assert {field for field, _ in problems} <= {"x", "y", "w", "h"}


# Bounded JSON.

LIMITS = JsonLimits(max_bytes=2000, max_depth=4, max_key_length=20)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=25), inner),
    max_leaves=20,
)


def depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def acceptable(value: object) -> bool:
    if isinstance(value, dict):
        return all(
            "\x00" not in key and len(key) <= 20 and _encodes(key) and acceptable(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return all(acceptable(item) for item in value)
    if isinstance(value, str):
        return "\x00" not in value and _encodes(value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return abs(value) <= MAX_SAFE_INTEGER
    assert isinstance(value, float)
    return math.isfinite(value)


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@given(json_values)
def test_json_is_accepted_exactly_when_every_bound_holds(value: Any) -> None:
    problems = json_problems(value, LIMITS, "options")
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode("utf-8", "replace"))
    expected = acceptable(value) and depth(value) <= LIMITS.max_depth and size <= 2000
    assert (problems == []) == expected, problems
    assert all(path.startswith("options") for path, _ in problems)


def test_json_problems_name_the_path_of_each_bad_value() -> None:
    value = {"thresholds": [{"value": math.inf}, {"colour": "red\x00"}], "n": 2**60}
    assert sorted(json_problems(value, LIMITS, "options")) == [
        ("options.n", f"integers must lie within ±{MAX_SAFE_INTEGER}"),
        ("options.thresholds.0.value", "must be a finite number"),
        ("options.thresholds.1.colour", "must not contain NUL characters"),
    ]


def test_json_nested_far_too_deep_is_refused_without_recursion() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert json_problems(deep, LIMITS, "options") == [
        ("options.0.0.0.0", "is nested deeper than 4 levels")
    ]


# Widget queries.

scalars = st.text(max_size=30) | st.integers(-1000, 1000) | st.booleans()


@given(st.dictionaries(st.text(min_size=1, max_size=20), scalars | st.lists(scalars, max_size=3)))
def test_query_parameters_are_the_query_string_the_object_stands_for(
    query: dict[str, Any],
) -> None:
    try:
        pairs = query_parameters(query)
    except QueryProblems as problems:
        # Only what the edge refuses in any query string: NUL, bad Unicode.
        assert problems.problems
        assert all("NUL" in message or "UTF-8" in message for _, message in problems.problems), (
            problems.problems
        )
        return
    expected = []
    for name, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            text = ("true" if item else "false") if isinstance(item, bool) else str(item)
            expected.append((name, text))
    assert list(pairs) == expected


@pytest.mark.parametrize("value", [None, {"a": 1}, [["nested"]], [None], 1e400], ids=repr)
def test_a_query_value_must_be_a_scalar_or_a_list_of_scalars(value: object) -> None:
    with pytest.raises(QueryProblems) as refused:
        query_parameters({"level": value, "ok": "fine"})
    assert [field for field, _ in refused.value.problems] == ["level"]


@pytest.mark.parametrize(
    ("kind", "query", "route", "path", "params"),
    [
        ("events", {"level": "error"}, EVENTS_LIST, "/api/v1/events", [("level", "error")]),
        (
            "timeseries",
            {"kind": "events", "group_by": "level"},
            TIMESERIES,
            "/api/v1/dashboard/timeseries",
            [("kind", "events"), ("group_by", "level")],
        ),
        ("gauge", {"kind": "metric", "name": "cpu"}, TIMESERIES, None, None),
        ("stat", {"kind": "overview", "range": "1h"}, OVERVIEW, None, [("range", "1h")]),
        ("top", {"type": "errors", "limit": 5}, TOP, "/api/v1/dashboard/top/errors", None),
    ],
)
def test_each_widget_kind_is_drawn_by_its_route(
    kind: Any, query: dict[str, Any], route: str, path: str | None, params: Any
) -> None:
    target = widget_target(kind, query)
    assert target.route == route
    if path is not None:
        assert target.path == path
    if params is not None:
        assert list(target.params) == params


@pytest.mark.parametrize(
    ("kind", "query", "field"),
    [
        ("timeseries", {}, "kind"),
        ("timeseries", {"kind": "overview"}, "kind"),
        ("heatmap", {"kind": ["events", "metric"]}, "kind"),
        ("stat", {"kind": "logs"}, "kind"),
        ("top", {"type": "everything"}, "type"),
        ("top", {}, "type"),
    ],
)
def test_a_query_no_route_can_draw_names_its_discriminator(
    kind: Any, query: dict[str, Any], field: str
) -> None:
    with pytest.raises(QueryProblems) as refused:
        widget_target(kind, query)
    assert [name for name, _ in refused.value.problems] == [field]


# If-Match.

etagc = st.text(
    alphabet=st.characters(codec="latin-1", exclude_characters='"\x7f').filter(
        lambda c: ord(c) >= 0x21
    ),
    max_size=8,
)


@given(st.lists(st.tuples(st.booleans(), etagc), min_size=1, max_size=MAX_TAGS))
def test_a_list_of_entity_tags_names_its_strong_tags(tags: list[tuple[bool, str]]) -> None:
    header = " , ".join(f'{"W/" if weak else ""}"{tag}"' for weak, tag in tags)
    condition = parse_if_match([header])
    assert condition == VersionCondition(frozenset(tag for weak, tag in tags if not weak))


@given(st.lists(st.text(alphabet=st.characters(codec="latin-1"), max_size=30), max_size=3))
def test_any_header_is_a_condition_or_a_value_error(lines: list[str]) -> None:
    try:
        condition = parse_if_match(lines)
    except ValueError:
        return
    assert (condition is None) == (lines == [])


@pytest.mark.parametrize(
    ("lines", "allows_3"),
    [
        (['"3"'], True),
        (['"2", "3"'], True),
        (['"2"', '"3"'], True),  # header lines combine
        (["*"], True),
        (['W/"3"'], False),  # strong comparison: weak tags match nothing
        (['"03"'], False),
        ([',, "3" ,'], True),  # empty list elements are allowed
    ],
)
def test_if_match_conditions(lines: list[str], allows_3: bool) -> None:
    condition = parse_if_match(lines)
    assert condition is not None
    assert condition.allows(3) == allows_3


@pytest.mark.parametrize(
    "line", ["3", '"3', "abc", 'W/"3', '"a" "b"', '*, "1"', ",", '"' + "x" * 5 + '"\x00', "W/"]
)
def test_a_malformed_if_match_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match="entity tags"):
        parse_if_match([line])


def test_no_if_match_is_no_condition() -> None:
    assert parse_if_match([]) is None
    assert parse_if_match([", ".join(f'"{n}"' for n in range(MAX_TAGS))]) is not None
    with pytest.raises(ValueError, match=f"more than {MAX_TAGS}"):
        parse_if_match([", ".join(f'"{n}"' for n in range(MAX_TAGS + 1))])
