"""Metric rules: names, labels, label matching, aggregations as plain Python.

The aggregation functions define what the query API promises; the SQL is
tested against them.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

METRIC_TYPES = ("gauge", "counter", "histogram")
NAME_PATTERN = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
LABEL_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
MAX_NAME_LENGTH = 200
MAX_LABELS = 20
MAX_LABEL_VALUE_LENGTH = 200
AGGREGATIONS = ("avg", "sum", "min", "max", "count", "last", "rate", "p50", "p90", "p95", "p99")
PERCENTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
_LABEL_NAME = re.compile(LABEL_NAME_PATTERN)


def labels_problem(labels: Mapping[str, str]) -> str | None:
    if len(labels) > MAX_LABELS:
        return f"at most {MAX_LABELS} labels"
    for key, value in labels.items():
        if not _LABEL_NAME.fullmatch(key) or len(key) > 100:
            return f"label name {key[:40]!r} must match {LABEL_NAME_PATTERN} (at most 100)"
        if len(value) > MAX_LABEL_VALUE_LENGTH or "\x00" in value:
            return f"label {key} is longer than {MAX_LABEL_VALUE_LENGTH} or contains NUL"
    return None


@dataclass(frozen=True)
class LabelMatcher:
    name: str
    value: str
    equal: bool  # label.<k>=v when True, label.<k>!=v when False

    def matches(self, labels: Mapping[str, str]) -> bool:
        """`!=` also matches series without the label, as in Prometheus."""
        return (labels.get(self.name) == self.value) == self.equal


def parse_label_matcher(key: str, value: str) -> LabelMatcher:
    """A matcher as the metrics query writes it after `label.`: `service` with value `api`
    means service=api, `env!` with `dev` means env!=dev. ValueError saying why not."""
    name = key.removesuffix("!")
    problem = labels_problem({name: value})
    if problem is not None:
        raise ValueError(problem)
    return LabelMatcher(name, value, equal=not key.endswith("!"))


def aggregate(aggregation: str, points: Sequence[tuple[float, float]], width_s: float) -> float:
    """One bucket's value from its (unix time, value) samples, possibly of several series.

    For `rate`, pass the samples of one series; the group's rate is the sum of
    its series' rates (see `rate`).
    """
    values = [value for _, value in points]
    if aggregation == "avg":
        return math.fsum(values) / len(values)
    if aggregation == "sum":
        return math.fsum(values)
    if aggregation == "min":
        return min(values)
    if aggregation == "max":
        return max(values)
    if aggregation == "count":
        return float(len(values))
    if aggregation == "last":
        return max(points)[1]
    if aggregation in PERCENTILES:
        return percentile(values, PERCENTILES[aggregation])
    if aggregation == "rate":
        return rate(points, width_s)
    raise ValueError(f"unknown aggregation {aggregation}")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = math.ceil(position)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def increase(points: Sequence[tuple[float, float]]) -> float:
    """A counter's increase across its samples, in time order; a drop is a reset to 0."""
    total = 0.0
    ordered = sorted(points)
    for (_, previous), (_, value) in itertools.pairwise(ordered):
        total += value - previous if value >= previous else value
    return total


def rate(points: Sequence[tuple[float, float]], width_s: float) -> float:
    """Per-second increase within one bucket; no extrapolation beyond its samples."""
    return increase(points) / width_s
