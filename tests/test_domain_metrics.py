from __future__ import annotations

import statistics

from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.metrics import LabelMatcher, aggregate, increase, labels_problem, percentile

finite = st.floats(-1e9, 1e9, allow_nan=False)
points = st.lists(st.tuples(st.integers(0, 10_000).map(float), finite), min_size=1, max_size=50)


@given(st.lists(finite, min_size=1, max_size=60), st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_percentile_matches_the_inclusive_quantile_definition(
    values: list[float], fraction: float
) -> None:
    result = percentile(values, fraction)
    assert min(values) <= result <= max(values)
    if len(values) > 1:
        expected = statistics.quantiles(values, n=100, method="inclusive")[
            round(fraction * 100) - 1
        ]
        assert abs(result - expected) <= 1e-6 * max(1.0, abs(expected))


@given(points)
def test_simple_aggregations(samples: list[tuple[float, float]]) -> None:
    values = [v for _, v in samples]
    assert aggregate("count", samples, 60) == len(values)
    assert aggregate("min", samples, 60) == min(values)
    assert aggregate("max", samples, 60) == max(values)
    assert aggregate("last", samples, 60) == max(samples)[1]


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_increase_of_a_monotonic_counter_is_last_minus_first(steps: list[float]) -> None:
    total = 0.0
    samples = []
    for second, step in enumerate(steps):
        total += step
        samples.append((float(second), total))
    assert abs(increase(samples) - (total - samples[0][1])) <= 1e-6 * max(1.0, total)


def test_a_counter_reset_counts_from_zero() -> None:
    # 10 → 15 (+5), reset to 3 (+3), → 7 (+4)
    assert increase([(0, 10), (1, 15), (2, 3), (3, 7)]) == 12
    assert aggregate("rate", [(0, 10), (1, 15), (2, 3), (3, 7)], 60) == 12 / 60


@given(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"]), max_size=3),
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["x", "y"]),
)
def test_not_equal_matches_a_missing_label(labels: dict[str, str], name: str, value: str) -> None:
    assert LabelMatcher(name, value, equal=True).matches(labels) == (labels.get(name) == value)
    assert LabelMatcher(name, value, equal=False).matches(labels) == (labels.get(name) != value)


def test_label_rules() -> None:
    assert labels_problem({"host": "a", "code_2": "200"}) is None
    assert labels_problem({"bad-name": "x"})
    assert labels_problem({str(i): "x" for i in range(30)})
    assert labels_problem({"k": "x" * 500})


def test_the_query_plan_picks_the_coarsest_exact_rollup() -> None:
    from datetime import UTC, datetime, timedelta

    from monitor.storage.metric_query import SeriesQuery, plan_rollup

    day = datetime(2026, 3, 1, tzinfo=UTC)
    marks = {60: day + timedelta(hours=20, minutes=30), 3600: day + timedelta(hours=20)}

    def plan(interval_s: int, start: datetime, end: datetime, aggregation: str = "avg"):  # type: ignore[no-untyped-def]
        query = SeriesQuery("m", (), start, end, timedelta(seconds=interval_s), aggregation, ())
        return plan_rollup(query, marks)

    assert plan(3600, day, day + timedelta(days=1)) == (3600, day + timedelta(hours=20))
    assert plan(300, day, day + timedelta(days=1)) == (60, day + timedelta(hours=20, minutes=30))
    assert plan(300, day + timedelta(seconds=30), day + timedelta(days=1)) is None  # not aligned
    assert plan(90, day, day + timedelta(days=1)) is None  # not a multiple of a minute
    assert plan(3600, day, day + timedelta(days=1), "p99") is None  # percentiles read raw
    assert plan(60, day + timedelta(hours=21), day + timedelta(days=1)) is None  # not rolled up yet
