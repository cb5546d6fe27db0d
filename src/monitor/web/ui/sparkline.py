"""A trend drawn on the server as an SVG polyline, so it shows without JavaScript.

The counts are scaled to the box: the highest count touches the top, zero
lies on the bottom line, and the points are spread evenly across the width
(one point for a single count sits at the left edge). Coordinates are
rounded to tenths, which is finer than a pixel at the size shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 96
HEIGHT = 24
PAD = 1  # the stroke's half-width, so a line along an edge is not cut


@dataclass(frozen=True)
class Sparkline:
    points: str  # the polyline's `points` attribute: "x,y x,y …"
    peak: int
    total: int
    width: int = WIDTH
    height: int = HEIGHT


def coordinates(
    counts: Sequence[int], width: int = WIDTH, height: int = HEIGHT
) -> list[tuple[float, float]]:
    peak = max(counts, default=0)
    inner = height - 2 * PAD
    step = (width - 2 * PAD) / (len(counts) - 1) if len(counts) > 1 else 0.0
    return [
        (
            round(PAD + index * step, 1),
            round(height - PAD - (inner * count / peak if peak else 0.0), 1),
        )
        for index, count in enumerate(counts)
    ]


def sparkline(counts: Sequence[int]) -> Sparkline:
    points = " ".join(f"{x:g},{y:g}" for x, y in coordinates(counts))
    return Sparkline(points=points, peak=max(counts, default=0), total=sum(counts))
