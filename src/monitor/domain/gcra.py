"""GCRA (generic cell rate algorithm): rate limiting with one timestamp per identity.

A rate of N per period lets a burst of N requests through at once, then one
more every emission interval T = period / N. The state is the theoretical
arrival time (TAT): when the identity's budget would be full again. A request
at `now` is allowed when TAT - now ≤ τ, with τ = (N - 1)·T, and then moves TAT
to max(TAT, now) + T. Over any window W at most N + W/T requests pass.

Times are whole microseconds so that this code, the Redis script that mirrors
it (`redis/limits.py`) and the tests agree exactly: T is rounded *up* to a
whole microsecond, so the limit is never looser than asked (at most one
microsecond per request stricter).
"""

from __future__ import annotations

from dataclasses import dataclass

MICROSECONDS = 1_000_000


@dataclass(frozen=True)
class Rate:
    """`limit` requests per `period_us`, with a burst of `limit`."""

    limit: int
    period_us: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.period_us < 1:
            raise ValueError(f"a rate needs a positive limit and period, got {self}")

    @classmethod
    def per_minute(cls, limit: int) -> Rate:
        return cls(limit, 60 * MICROSECONDS)

    @classmethod
    def per_hour(cls, limit: int) -> Rate:
        return cls(limit, 3600 * MICROSECONDS)

    @property
    def emission_us(self) -> int:
        return -(-self.period_us // self.limit)

    @property
    def tolerance_us(self) -> int:
        return self.emission_us * (self.limit - 1)


@dataclass(frozen=True)
class Decision:
    """The answer for one request, with what the RateLimit headers report."""

    allowed: bool
    limit: int
    remaining: int  # requests that would pass right now, after this one
    retry_after_us: int  # until a request is allowed again; 0 when this one was
    reset_us: int  # until the whole burst is available again

    @property
    def retry_after_s(self) -> int:
        """Whole seconds for `Retry-After`: rounded up, so never early."""
        return _ceil_seconds(self.retry_after_us)

    @property
    def reset_s(self) -> int:
        return _ceil_seconds(self.reset_us)


def _ceil_seconds(us: int) -> int:
    return -(-us // MICROSECONDS)


def outcome(rate: Rate, allowed: bool, ahead_us: int) -> Decision:
    """The decision, given whether the request passed and TAT - now after it.

    Shared by the in-memory table and the Redis script's answer.
    """
    ahead_us = max(0, ahead_us)
    remaining = (rate.tolerance_us - ahead_us) // rate.emission_us + 1
    return Decision(
        allowed=allowed,
        limit=rate.limit,
        remaining=min(rate.limit, max(0, remaining)),
        retry_after_us=0 if allowed else ahead_us - rate.tolerance_us,
        reset_us=ahead_us,
    )


def decide(rate: Rate, tat_us: int | None, now_us: int) -> tuple[Decision, int]:
    """Decide one request at `now_us` given the stored TAT (None: never seen).

    Returns the decision and the TAT to store (unchanged when refused).
    A TAT at or before `now_us` is the same as none: such state may be forgotten.
    """
    tat = now_us if tat_us is None else max(tat_us, now_us)
    ahead = tat - now_us
    if ahead > rate.tolerance_us:
        return outcome(rate, False, ahead), tat
    new_tat = tat + rate.emission_us
    return outcome(rate, True, new_tat - now_us), new_tat
