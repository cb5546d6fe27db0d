"""Value buckets of a heatmap: edges over the observed values, linear or logarithmic.

A heatmap's y axis cuts [lowest, highest] of the values seen into `count`
buckets. Bucket i holds the values v with edges[i] <= v < edges[i + 1]; the
last bucket also holds `highest` itself. Which bucket a value is in depends
only on the interior edges (edges[1:-1]): it is the number of them at or
below the value (`bucket_of`), which is what PostgreSQL's
`width_bucket(value, thresholds)` counts, so the database and this module
agree exactly, with no arithmetic that could overflow or lose a value at an
edge.

On a logarithmic scale only positive values have a place; callers count
zero and negative values apart.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Literal

Scale = Literal["linear", "log"]
SCALES: tuple[Scale, ...] = ("linear", "log")


def value_edges(lowest: float, highest: float, count: int, scale: Scale) -> list[float]:
    """count + 1 non-decreasing edges from `lowest` to `highest` (both finite; positive for
    "log"). When all values are equal there is one bucket: [lowest, highest]."""
    if not (math.isfinite(lowest) and math.isfinite(highest)) or lowest > highest or count < 1:
        raise ValueError("need finite lowest <= highest and at least one bucket")
    if scale == "log" and lowest <= 0:
        raise ValueError("a logarithmic scale needs positive values")
    if lowest == highest:
        return [lowest, highest]
    if scale == "log":
        low, high = math.log(lowest), math.log(highest)
        interior = [math.exp(low + (high - low) * i / count) for i in range(1, count)]
    else:
        # A weighted mean of the ends: never overflows, whatever their distance.
        interior = [lowest * (1 - i / count) + highest * (i / count) for i in range(1, count)]
    edges = [lowest]
    for edge in interior:
        # Rounding must neither leave [lowest, highest] nor step back.
        edges.append(min(max(edge, edges[-1]), highest))
    edges.append(highest)
    return edges


def bucket_of(value: float, edges: Sequence[float]) -> int:
    """The bucket (0 to len(edges) - 2) of a value within [edges[0], edges[-1]]."""
    return bisect.bisect_right(edges, value, 1, len(edges) - 1) - 1
