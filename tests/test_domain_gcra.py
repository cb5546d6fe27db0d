"""The GCRA maths: what any sequence of requests can and cannot get through."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.gcra import MICROSECONDS, Decision, Rate, decide
from monitor.domain.limit_table import LimitTable

rates = st.builds(
    Rate,
    limit=st.integers(min_value=1, max_value=50),
    period_us=st.integers(min_value=1, max_value=3600 * MICROSECONDS),
)
# Gaps between requests, from simultaneous to many periods apart.
gaps = st.lists(st.integers(min_value=0, max_value=2 * 3600 * MICROSECONDS), max_size=120)
starts = st.integers(min_value=0, max_value=10**15)


def play(rate: Rate, times: list[int]) -> list[Decision]:
    tat: int | None = None
    decisions = []
    for now in times:
        decision, tat = decide(rate, tat, now)
        decisions.append(decision)
    return decisions


def times_from(start: int, steps: list[int]) -> list[int]:
    times, now = [], start
    for step in steps:
        now += step
        times.append(now)
    return times


@given(rates, starts, gaps)
def test_no_window_lets_more_through_than_rate_times_window_plus_burst(
    rate: Rate, start: int, steps: list[int]
) -> None:
    times = times_from(start, steps)
    allowed = [t for t, d in zip(times, play(rate, times), strict=True) if d.allowed]
    # Every window [allowed[i], allowed[j]] holds j - i + 1 allowed requests;
    # the bound is burst + limit * window / period, compared without rounding.
    for i in range(len(allowed)):
        for j in range(i, len(allowed)):
            passed = j - i + 1
            window = allowed[j] - allowed[i]
            assert (passed - rate.limit) * rate.period_us <= window * rate.limit


@given(rates, starts, st.integers(min_value=1, max_value=200))
def test_requests_spaced_at_the_rate_are_always_allowed(rate: Rate, start: int, count: int) -> None:
    times = [start + k * rate.emission_us for k in range(count)]
    assert all(d.allowed for d in play(rate, times))


@given(rates, starts, gaps)
def test_one_emission_interval_after_an_allowed_request_the_next_is_allowed(
    rate: Rate, start: int, steps: list[int]
) -> None:
    tat: int | None = None
    for now in times_from(start, steps):
        decision, tat = decide(rate, tat, now)
        if decision.allowed:
            assert decide(rate, tat, now + rate.emission_us)[0].allowed


@given(rate=rates, start=starts)
def test_a_full_burst_passes_at_once_and_the_next_request_does_not(rate: Rate, start: int) -> None:
    decisions = play(rate, [start] * (rate.limit + 1))
    assert all(d.allowed for d in decisions[:-1])
    assert [d.remaining for d in decisions[:-1]] == list(range(rate.limit - 1, -1, -1))
    assert not decisions[-1].allowed


@given(rates, starts, gaps)
def test_retry_after_is_never_early_and_never_late(
    rate: Rate, start: int, steps: list[int]
) -> None:
    tat: int | None = None
    for now in [*times_from(start, steps), *[start + sum(steps)] * (rate.limit + 1)]:
        decision, new_tat = decide(rate, tat, now)
        if not decision.allowed:
            wait = decision.retry_after_us
            assert wait > 0
            if wait > 1:
                assert not decide(rate, tat, now + wait - 1)[0].allowed  # not early
            assert decide(rate, tat, now + wait)[0].allowed  # not late at all
            # The header rounds up to whole seconds: never early, under a second late.
            assert wait <= decision.retry_after_s * MICROSECONDS < wait + MICROSECONDS
        tat = new_tat


@given(rates, starts, gaps)
def test_remaining_is_exactly_what_passes_at_once(rate: Rate, start: int, steps: list[int]) -> None:
    tat: int | None = None
    for now in times_from(start, steps):
        decision, tat = decide(rate, tat, now)
        burst = play_from(rate, tat, now, decision.remaining + 1)
        assert [d.allowed for d in burst] == [True] * decision.remaining + [False]


def play_from(rate: Rate, tat: int, now: int, count: int) -> list[Decision]:
    decisions = []
    for _ in range(count):
        decision, tat = decide(rate, tat, now)
        decisions.append(decision)
    return decisions


@given(rates, starts, gaps)
def test_reset_is_when_the_whole_burst_is_back(rate: Rate, start: int, steps: list[int]) -> None:
    tat: int | None = None
    for now in times_from(start, steps):
        decision, tat = decide(rate, tat, now)
        assert play_from(rate, tat, now + decision.reset_us, 1)[0].remaining == rate.limit - 1


def test_a_limit_of_n_per_hour_refills_one_every_n_th_of_an_hour() -> None:
    rate = Rate.per_hour(4)
    assert rate.emission_us == 900 * MICROSECONDS
    decisions = play(rate, [0, 0, 0, 0, 0, 899 * MICROSECONDS, 900 * MICROSECONDS])
    assert [d.allowed for d in decisions] == [True, True, True, True, False, False, True]
    assert decisions[4].retry_after_s == 900


def test_the_table_forgets_idle_identities_and_stays_bounded() -> None:
    table = LimitTable(capacity=3)
    rate = Rate(1, 10)
    for n in range(10):
        table.decide(f"busy-{n}", rate, now_us=0)
    assert len(table) == 3
    assert table.evicted == 7
    # Once their budget is full again, identities go as others are decided.
    for now in range(100, 110):
        table.decide("other", rate, now_us=now * 10)
    assert len(table) == 1


@given(rates, starts, gaps)
def test_expiring_idle_identities_never_changes_a_decision(
    rate: Rate, start: int, steps: list[int]
) -> None:
    table = LimitTable(capacity=1000)
    times = times_from(start, steps)
    for n, (now, expected) in enumerate(zip(times, play(rate, times), strict=True)):
        table.decide(f"other-{n}", rate, now)
        assert table.decide("id", rate, now) == expected
