"""Value buckets of a heatmap: edges over the observed values, and where a value falls."""

from __future__ import annotations

import itertools
import math
import sys

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from monitor.domain.value_buckets import bucket_of, value_edges

finite = st.floats(allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=5e-324, max_value=1.7e308)


@given(st.lists(finite, min_size=1, max_size=50), st.integers(1, 100))
def test_linear_edges_span_the_values_and_place_each_in_one_bucket(
    values: list[float], count: int
) -> None:
    lowest, highest = min(values), max(values)
    edges = value_edges(lowest, highest, count, "linear")
    assert edges[0] == lowest and edges[-1] == highest
    assert edges == sorted(edges)
    assert len(edges) - 1 == (count if lowest < highest else 1)
    for value in values:
        bucket = bucket_of(value, edges)
        assert 0 <= bucket < len(edges) - 1
        assert edges[bucket] <= value
        assert value < edges[bucket + 1] or (value == highest and bucket == len(edges) - 2)


@given(st.lists(positive, min_size=1, max_size=50), st.integers(1, 100))
@example(values=[7.679833956213029e-307, 5e-324], count=5)  # subnormal lowest
def test_log_edges_grow_by_one_factor(values: list[float], count: int) -> None:
    lowest, highest = min(values), max(values)
    edges = value_edges(lowest, highest, count, "log")
    assert edges[0] == lowest and edges[-1] == highest and edges == sorted(edges)
    # Below the smallest normal float (subnormals, 5e-324 up) too few bits are left to
    # space edges by one factor; they stay ordered and in range, as checked around this.
    normal = lowest >= sys.float_info.min
    if normal and lowest < highest and highest / lowest < 1e300 and count > 2:
        ratios = [b / a for a, b in itertools.pairwise(edges)]
        assert all(math.isclose(r, ratios[0], rel_tol=1e-6) for r in ratios)
    assert all(0 <= bucket_of(value, edges) < len(edges) - 1 for value in values)


def test_even_edges_of_a_simple_range() -> None:
    assert value_edges(0, 100, 4, "linear") == [0, 25, 50, 75, 100]
    assert value_edges(1, 1000, 3, "log") == pytest.approx([1, 10, 100, 1000])
    assert value_edges(7, 7, 20, "linear") == [7, 7]
    assert [bucket_of(v, [0, 25, 50, 75, 100]) for v in (0, 24.9, 25, 99, 100)] == [0, 0, 1, 3, 3]


@pytest.mark.parametrize(
    ("lowest", "highest", "count", "scale"),
    [
        (0, 1, 3, "log"),
        (-1, 1, 3, "log"),
        (2, 1, 3, "linear"),
        (0, math.inf, 3, "linear"),
        (0, 1, 0, "linear"),
    ],
)
def test_impossible_edges_are_refused(
    lowest: float, highest: float, count: int, scale: str
) -> None:
    with pytest.raises(ValueError):
        value_edges(lowest, highest, count, scale)  # type: ignore[arg-type]
