"""A number next to its value for the previous period: how the overview shows change."""

from __future__ import annotations

from typing import TypedDict


class Compared(TypedDict):
    value: float
    previous: float
    change: float  # value - previous
    change_ratio: float | None  # change / previous; None when previous is 0 (no ratio exists)


def compared(value: float, previous: float) -> Compared:
    """`value` with `previous`, their difference, and the difference relative to `previous`."""
    difference = value - previous
    return {
        "value": value,
        "previous": previous,
        "change": difference,
        "change_ratio": None if previous == 0 else difference / previous,
    }
