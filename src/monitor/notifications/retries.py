"""What follows one attempt at a delivery: delivered, another attempt later, or given up.

Pure: the sender (actors/notification_sender.py) hands it the outcome of
`deliver`, the delivery's age and attempt count, and a random draw; it
answers the delivery's next state and the texts the delivery log shows.

- A 2xx answer read whole is delivered.
- Refused for good, failed at once: a 4xx answer other than 408 and 429
  (the receiver will refuse the same message again), secrets that cannot be
  opened, a URL that cannot be sent to or whose address is refused.
- Anything else (timeouts, connection errors, 408, 429, 5xx, SMTP errors)
  is retried after `backoff_delay(attempts)` scaled by a jitter in [0.5, 1]
  (so senders that failed together do not retry together). On 429 and 503 a
  `Retry-After` (seconds or an HTTP date) is honoured when it asks for
  longer, up to RETRY_AFTER_CAP.
- No attempt is scheduled past `max_age` after the delivery was queued: the
  delivery fails then with the last error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

from monitor.outbound import OutboundResult
from monitor.retry import backoff_delay

RETRY_AFTER_CAP = timedelta(minutes=15)
# Failure kinds that the same message to the same channel meets again.
LASTING_FAILURES = frozenset({"secret_unreadable", "invalid_url", "refused_address"})
RETRIED_STATUSES = frozenset({408, 429})
ERROR_CHARS = 2000

Outcome = Literal["delivered", "retrying", "failed"]


@dataclass(frozen=True)
class RetryPolicy:
    max_age: timedelta
    initial: timedelta
    cap: timedelta


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    next_attempt_at: datetime | None = None  # when retrying
    error_kind: str | None = None
    error: str | None = None  # what the log shows; the delivery's last error


def error_of(result: OutboundResult) -> tuple[str | None, str | None]:
    """(kind, message) of a result that is no delivery; (None, None) for one that is."""
    if result.delivered:
        return None, None
    if result.failure is not None:
        message = result.failure.message or result.failure.kind  # never an empty reason
        return result.failure.kind, message[:ERROR_CHARS]
    return "status", f"the receiver answered {result.status}"


def retry_after(result: OutboundResult, now: datetime) -> timedelta | None:
    """The wait a 429 or 503 answer asks for, if it says; never more than RETRY_AFTER_CAP."""
    if result.status not in (429, 503):
        return None
    raw = next((v for k, v in result.headers.items() if k.lower() == "retry-after"), None)
    if raw is None:
        return None
    raw = raw.strip()
    wait: timedelta
    if raw.isdigit():
        wait = timedelta(seconds=min(int(raw[:12]), 10**9))
    else:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        wait = when - now
    return max(timedelta(0), min(wait, RETRY_AFTER_CAP))


def lasting(result: OutboundResult) -> bool:
    """Whether sending the same message again cannot succeed."""
    if result.failure is not None:
        return result.failure.kind in LASTING_FAILURES
    status = result.status or 0
    return 400 <= status < 500 and status not in RETRIED_STATUSES


def judge(
    result: OutboundResult,
    *,
    attempt: int,
    queued_at: datetime,
    now: datetime,
    policy: RetryPolicy,
    jitter: float,
) -> Verdict:
    """The delivery's next state after its `attempt`-th attempt (1 for the first) ended
    with `result`; `jitter` is a draw from [0, 1)."""
    if result.delivered:
        return Verdict("delivered")
    kind, error = error_of(result)
    if lasting(result):
        return Verdict("failed", error_kind=kind, error=f"refused for good: {error}"[:ERROR_CHARS])
    wait = timedelta(
        seconds=backoff_delay(attempt, policy.initial.total_seconds(), policy.cap.total_seconds())
        * (0.5 + jitter / 2)
    )
    asked = retry_after(result, now)
    if asked is not None and asked > wait:
        wait = asked
    next_at = now + wait
    deadline = queued_at + policy.max_age
    if next_at > deadline:
        given_up = (
            f"gave up after {attempt} attempts: no retry within the maximum age "
            f"({_shown(policy.max_age)}); last error: {error}"
        )
        return Verdict("failed", error_kind=kind, error=given_up[:ERROR_CHARS])
    return Verdict("retrying", next_attempt_at=next_at, error_kind=kind, error=error)


def _shown(duration: timedelta) -> str:
    seconds = duration.total_seconds()
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"
