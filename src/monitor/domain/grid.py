"""Where widgets sit on a dashboard: a 12-column grid, rows counted from the top.

A widget covers columns x .. x+w-1 and rows y .. y+h-1. It must lie inside
the 12 columns, be at least one cell wide and high, and stay within a bounded
number of rows (so no position or size can grow without limit). Two widgets
of one dashboard may not cover the same cell: the grid is what the operator
sees, and a widget hidden under another is a mistake, not a layout.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

GRID_COLUMNS = 12
MAX_ROWS = 10_000  # y + h; 100 widgets of the largest height fit below one another
MAX_HEIGHT = 100
DEFAULT_WIDTH = 6
DEFAULT_HEIGHT = 4

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Placement:
    x: int
    y: int
    w: int
    h: int

    def overlaps(self, other: Placement) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )

    def as_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}


def placement_problems(x: int, y: int, w: int, h: int) -> list[tuple[str, str]]:
    """(field, message) for each way this placement leaves the grid; [] when it fits."""
    problems: list[tuple[str, str]] = []
    if not 1 <= w <= GRID_COLUMNS:
        problems.append(("w", f"must be from 1 to {GRID_COLUMNS} columns"))
    if not 1 <= h <= MAX_HEIGHT:
        problems.append(("h", f"must be from 1 to {MAX_HEIGHT} rows"))
    if not 0 <= x < GRID_COLUMNS:
        problems.append(("x", f"must be from 0 to {GRID_COLUMNS - 1}"))
    elif 1 <= w <= GRID_COLUMNS and x + w > GRID_COLUMNS:
        problems.append(("x", f"x + w is {x + w}; the grid has {GRID_COLUMNS} columns"))
    if not 0 <= y < MAX_ROWS:
        problems.append(("y", f"must be from 0 to {MAX_ROWS - 1}"))
    elif 1 <= h <= MAX_HEIGHT and y + h > MAX_ROWS:
        problems.append(("y", f"y + h is {y + h}; the grid has {MAX_ROWS} rows"))
    return problems


def overlapping(placements: Mapping[K, Placement]) -> list[tuple[K, K]]:
    """Every pair of widgets that share a cell, in the order `placements` lists them."""
    items = list(placements.items())
    return [
        (first, second)
        for index, (first, one) in enumerate(items)
        for second, other in items[index + 1 :]
        if one.overlaps(other)
    ]


def first_free_row(placements: Iterable[Placement]) -> int:
    """The first row below every widget: where a widget given no place goes."""
    return max((p.y + p.h for p in placements), default=0)
