"""The retry judgement after one attempt (notifications/retries.py): pure, so checked over
generated answers, ages and draws."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.notifications.retries import RETRY_AFTER_CAP, RetryPolicy, judge, retry_after
from monitor.outbound import Failure, OutboundResult

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(
    max_age=timedelta(hours=1), initial=timedelta(seconds=10), cap=timedelta(minutes=5)
)
FAILURE_KINDS = (
    "timeout",
    "connect_error",
    "tls_error",
    "protocol_error",
    "too_large",
    "smtp_error",
    "secret_unreadable",
    "invalid_url",
    "refused_address",
)

results = st.one_of(
    st.builds(OutboundResult, status=st.integers(100, 599)),
    st.builds(
        OutboundResult,
        failure=st.builds(Failure, st.sampled_from(FAILURE_KINDS), st.text(max_size=50)),
    ),
)


@settings(max_examples=100)
@given(
    result=results,
    attempt=st.integers(1, 60),
    age=st.timedeltas(timedelta(0), timedelta(hours=2)),
    jitter=st.floats(0, 1, exclude_max=True),
)
def test_every_outcome_is_one_of_three_and_no_retry_passes_the_maximum_age(
    result: OutboundResult, attempt: int, age: timedelta, jitter: float
) -> None:
    queued_at = NOW - age
    verdict = judge(
        result, attempt=attempt, queued_at=queued_at, now=NOW, policy=POLICY, jitter=jitter
    )
    if result.delivered:
        assert verdict.outcome == "delivered" and verdict.error is None
        return
    assert verdict.error, "a failure always says why"
    status = result.status or 0
    for_good = (
        result.failure is not None
        and result.failure.kind in {"secret_unreadable", "invalid_url", "refused_address"}
    ) or (400 <= status < 500 and status not in (408, 429))
    if for_good:
        assert verdict.outcome == "failed" and "refused for good" in verdict.error
        return
    if verdict.outcome == "retrying":
        assert verdict.next_attempt_at is not None
        wait = verdict.next_attempt_at - NOW
        full = min(POLICY.cap, POLICY.initial * 2 ** min(attempt - 1, 30))
        assert full / 2 <= wait <= full, "backoff with jitter in [1/2, 1]"
        assert verdict.next_attempt_at <= queued_at + POLICY.max_age
    else:
        assert verdict.outcome == "failed" and "maximum age" in verdict.error


@settings(max_examples=100)
@given(seconds=st.integers(0, 10**7), status=st.sampled_from([429, 503]))
def test_retry_after_in_seconds_is_honoured_up_to_its_cap(seconds: int, status: int) -> None:
    result = OutboundResult(status=status, headers={"Retry-After": str(seconds)})
    assert retry_after(result, NOW) == min(timedelta(seconds=seconds), RETRY_AFTER_CAP)
    verdict = judge(result, attempt=1, queued_at=NOW, now=NOW, policy=POLICY, jitter=0.0)
    assert verdict.outcome == "retrying" and verdict.next_attempt_at is not None
    assert verdict.next_attempt_at - NOW == max(
        timedelta(seconds=5), min(timedelta(seconds=seconds), RETRY_AFTER_CAP)
    )


def test_retry_after_as_a_date_and_where_it_does_not_count() -> None:
    later = NOW + timedelta(minutes=2)
    dated = OutboundResult(status=503, headers={"retry-after": format_datetime(later, usegmt=True)})
    assert retry_after(dated, NOW) == timedelta(minutes=2)
    assert retry_after(OutboundResult(status=500, headers={"Retry-After": "60"}), NOW) is None
    assert retry_after(OutboundResult(status=429, headers={"Retry-After": "soon"}), NOW) is None
    past = OutboundResult(status=429, headers={"Retry-After": format_datetime(NOW, usegmt=True)})
    assert retry_after(past, NOW) == timedelta(0)
