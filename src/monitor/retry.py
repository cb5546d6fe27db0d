"""Retrying after failures: the one backoff, and how a failure is described in logs.

Used by the supervisor (actor restarts), the Redis connections (the bus, and
the session under the limits and the shared results) and the wait for the
database at start-up, so that every retry in the service follows the same
curve: initial, 2·initial, 4·initial, … capped.
"""

from __future__ import annotations

import math


def describe(failure: BaseException) -> str:
    """A one-line description, looking through single-exception groups."""
    while isinstance(failure, BaseExceptionGroup) and len(failure.exceptions) == 1:
        failure = failure.exceptions[0]
    return f"{type(failure).__name__}: {failure}"


def backoff_delay(consecutive_failures: int, initial: float, cap: float) -> float:
    """initial, 2·initial, 4·initial, … never more than cap; 0 before any failure."""
    if consecutive_failures <= 0:
        return 0.0
    exponent = min(consecutive_failures - 1, 62)
    return min(cap, initial * math.pow(2, exponent))


class Backoff:
    """backoff_delay over a count of consecutive failures that a success resets."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self._first = first
        self._cap = cap
        self._failures = 0

    def next(self) -> float:
        self._failures += 1
        return backoff_delay(self._failures, self._first, self._cap)

    def reset(self) -> None:
        self._failures = 0
