"""The realtime figures: the per-second rings (properties), and GET /api/v1/dashboard/realtime.

Through the service, the figures' clock is replaced by one the test moves,
so what happened lands in a second the test chose; nothing waits on time.
"""

from __future__ import annotations

import itertools
import math
import socket
import uuid
from collections import defaultdict
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from conftest import MakeKey, RunningService
from monitor.domain import per_second
from monitor.domain.per_second import (
    LATENCY_BOUNDS_MS,
    SecondCounts,
    SecondGauge,
    SecondHistograms,
    exact_quantile,
    latency_bucket,
    merged,
    quantile,
)
from monitor.messages import CommittedSamples
from monitor.realtime import RealtimeCounters
from ws_helpers import connect, receive, send

WIDTH = 60
START = 1_700_000_000  # any second; the rings do not care which

# --- the rings ------------------------------------------------------------------------

# (seconds after the previous add, key, n): time only moves forward.
adds = st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from(["a", "b", "c"]), st.integers(1, 1000)),
    max_size=200,
)


def placed(steps: list[tuple[int, str, int]]) -> list[tuple[int, str, int]]:
    second = START
    timed = []
    for step, key, n in steps:
        second += step
        timed.append((second, key, n))
    return timed


@given(steps=adds, later=st.integers(0, 150))
def test_a_window_holds_exactly_the_adds_of_its_last_60_seconds(
    steps: list[tuple[int, str, int]], later: int
) -> None:
    counts = SecondCounts(WIDTH)
    timed = placed(steps)
    for second, key, n in timed:
        counts.add(second, key, n)
    now = (timed[-1][0] if timed else START) + later
    window = counts.window(now)
    assert window.seconds == tuple(range(now - WIDTH + 1, now + 1))
    for key in "abc":
        expected = defaultdict(int)
        for second, added_key, n in timed:
            if added_key == key and now - WIDTH < second <= now:
                expected[second] += n
        assert window.series(key) == [expected[s] for s in window.seconds]
        assert window.total(key) == sum(expected.values())


def test_data_falls_out_after_60_seconds() -> None:
    counts = SecondCounts(WIDTH)
    counts.add(START, "a", 5)
    assert counts.window(START + 59).total("a") == 5
    assert counts.window(START + 60).total("a") == 0
    # The slot is reused by a later second: the old count is gone, not added to.
    counts.add(START + 60, "a", 1)
    assert counts.window(START + 60).series("a")[-1] == 1


def test_a_clock_stepping_back_never_overwrites_newer_seconds() -> None:
    counts = SecondCounts(WIDTH)
    counts.add(START + 60, "a", 7)
    counts.add(START, "a", 1)  # the same slot, 60 s earlier: dropped
    assert counts.window(START + 60).total("a") == 7
    assert counts.window(START).total("a") == 0  # the newer second is not shown as older


gauge_changes = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 50)), max_size=100)


@given(changes=gauge_changes, later=st.integers(0, 90))
def test_a_gauge_reads_each_seconds_highest_value(
    changes: list[tuple[int, int]], later: int
) -> None:
    gauge = SecondGauge(WIDTH)
    second = START
    timeline: list[tuple[int, int]] = []  # (second, value from then on), in order
    for step, new_value in changes:
        second += step
        gauge.set(second, new_value)
        timeline.append((second, new_value))
    now = second + later

    def highest_in(moment: int) -> int:
        before = [v for s, v in timeline if s < moment]
        during = [v for s, v in timeline if s == moment]
        return max([before[-1] if before else 0, *during])

    assert gauge.window(now) == [highest_in(s) for s in range(now - WIDTH + 1, now + 1)]
    assert gauge.value == (timeline[-1][1] if timeline else 0)


latencies = st.lists(
    st.floats(0, 1e7, allow_nan=False) | st.floats(0.5, 500), min_size=1, max_size=300
)
fractions = st.sampled_from([0.5, 0.99]) | st.floats(0, 1)


@given(values=latencies, fraction=fractions)
def test_a_quantile_from_the_histogram_is_in_the_exact_quantiles_bucket(
    values: list[float], fraction: float
) -> None:
    histogram: dict[int, int] = defaultdict(int)
    for value in values:
        histogram[latency_bucket(value)] += 1
    estimate = quantile(histogram, fraction)
    exact = exact_quantile(values, fraction)
    assert estimate is not None
    assert abs(latency_bucket(estimate) - latency_bucket(exact)) <= 1
    if LATENCY_BOUNDS_MS[0] <= exact < LATENCY_BOUNDS_MS[-1]:
        # The documented precision: within 2^(1/8) - 1 ≈ 9 % of the exact value.
        assert abs(estimate - exact) <= exact * (2 ** (1 / 8) - 1) * (1 + 1e-9)


@given(
    timed=st.lists(st.tuples(st.integers(0, 120), st.floats(0, 1e5)), max_size=200),
    fraction=fractions,
)
def test_the_windows_latency_is_the_quantile_of_its_samples(
    timed: list[tuple[int, float]], fraction: float
) -> None:
    histograms = SecondHistograms(WIDTH)
    for offset, value in sorted(timed, key=lambda pair: pair[0]):
        histograms.add(START + offset, value)
    now = START + 120
    inside = [value for offset, value in timed if offset > 120 - WIDTH]
    whole = merged(histograms.window(now))
    assert sum(whole.values()) == len(inside)
    estimate = quantile(whole, fraction)
    if not inside:
        assert estimate is None
    else:
        assert estimate is not None
        assert abs(latency_bucket(estimate) - latency_bucket(exact_quantile(inside, fraction))) <= 1


def test_latency_buckets_are_four_per_doubling_from_a_tenth_of_a_millisecond() -> None:
    assert LATENCY_BOUNDS_MS[0] == pytest.approx(0.1)
    ratios = {round(b / a, 9) for a, b in itertools.pairwise(LATENCY_BOUNDS_MS)}
    assert ratios == {round(2 ** (1 / 4), 9)}
    assert LATENCY_BOUNDS_MS[-1] > 3600 * 1000  # beyond the longest ingest timeout
    assert per_second.bucket_value(0) == pytest.approx(0.05)
    assert quantile({}, 0.5) is None
    with pytest.raises(ValueError):
        quantile({1: 1}, 1.5)


# --- the counters the service records into ----------------------------------------------


class SteppedClock:
    """A clock the test moves; starts at `START` plus a fraction, like a real one."""

    def __init__(self) -> None:
        self.now = START + 0.25

    def __call__(self) -> float:
        return self.now

    def to(self, second: int) -> None:
        self.now = second + 0.25


def test_status_classes_are_counted_apart() -> None:
    clock = SteppedClock()
    counters = RealtimeCounters("here:1", clock)
    for status in (200, 201, 304, 400, 404, 429, 500, 503):
        counters.request_answered(status)
    answer = counters.snapshot()
    assert answer["seconds"][-1] == START
    assert answer["http_requests_per_s"][-1] == 8
    assert answer["http_4xx_per_s"][-1] == 3
    assert answer["http_5xx_per_s"][-1] == 2
    assert answer["instance"] == "here:1"


def test_samples_are_counted_by_batch_length() -> None:
    from datetime import UTC, datetime

    from monitor.domain.rows import SampleBatch, SeriesKey

    clock = SteppedClock()
    counters = RealtimeCounters("here:1", clock)
    now = datetime.now(UTC)
    batch = SampleBatch(
        keys=[SeriesKey("m", "", ())],
        declared=[("m", None, None)],
        slots=[0, 0, 0],
        times=[now, now, now],
        values=[1.0, 2.0, 3.0],
        earliest=now,
        latest=now,
    )
    counters.committed(CommittedSamples([([1], batch), ([1], batch)]))
    assert counters.snapshot()["samples_per_s"][-1] == 6


# --- through the service ----------------------------------------------------------------


def realtime_of(running: RunningService) -> RealtimeCounters:
    counters: RealtimeCounters = running.running.app.extensions["monitor"].realtime
    return counters


@pytest.fixture
def clock(running: RunningService) -> SteppedClock:
    stepped = SteppedClock()
    realtime_of(running).clock = stepped
    return stepped


async def realtime(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.get("/api/v1/dashboard/realtime", headers={"X-API-Key": token})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def test_committed_events_show_in_the_second_they_were_acknowledged(
    client: httpx.AsyncClient, clock: SteppedClock, make_key: MakeKey
) -> None:
    _, agent = await make_key("ingest")
    _, reader = await make_key("read")
    clock.to(START)
    errors = [{"type": "crash", "level": "error", "message": f"boom {n}"} for n in range(7)]
    response = await client.post(
        "/api/v1/events/bulk", headers={"X-API-Key": agent}, json=[*errors, {"type": "boot"}]
    )
    assert response.status_code == 201, response.text
    clock.to(START + 1)
    for _ in range(3):
        one = await client.post(
            "/api/v1/events", headers={"X-API-Key": agent}, json={"type": "x", "level": "error"}
        )
        assert one.status_code == 201, one.text
    clock.to(START + 5)

    answer = await realtime(client, reader)
    assert answer["seconds"] == list(range(START + 5 - 59, START + 6))
    assert answer["now"] == START + 5.25
    errors_per_s = answer["events_per_s"]["error"]
    assert errors_per_s[-6:] == [7, 3, 0, 0, 0, 0]
    assert sum(errors_per_s) == 10
    assert answer["events_per_s"]["info"][-6] == 1
    assert sum(answer["events_per_s"]["critical"]) == 0
    # Each acknowledged ingest request was timed, in the second it was answered.
    latency = answer["ingest_latency_ms"]
    assert latency["window"]["requests"] == 4
    assert [p is not None for p in latency["p50"][-6:]] == [True, True, False, False, False, False]
    assert all(p is None or p > 0 for p in latency["p99"])
    assert 0 < latency["window"]["p50"] <= latency["window"]["p99"]
    # The realtime answer counts itself only once answered.
    assert answer["http_requests_per_s"][-6:] == [1, 3, 0, 0, 0, 0]

    clock.to(START + 60)  # the first second has left the window
    later = await realtime(client, reader)
    assert sum(later["events_per_s"]["error"]) == 3
    clock.to(START + 61)
    assert sum((await realtime(client, reader))["events_per_s"]["error"]) == 0


async def test_samples_and_http_errors_are_counted(
    client: httpx.AsyncClient, clock: SteppedClock, admin_token: str
) -> None:
    headers = {"X-API-Key": admin_token}
    clock.to(START)
    name = f"rt_probe_{uuid.uuid4().hex[:8]}"
    samples = [{"name": name, "value": n, "labels": {"n": str(n)}} for n in range(5)]
    assert (await client.post("/api/v1/metrics/bulk", headers=headers, json=samples)).is_success
    increment = await client.post(f"/api/v1/metrics/increment/{name}_total", headers=headers)
    assert increment.status_code == 201, increment.text
    assert (await client.get("/api/v1/metrics/latest?limit=0", headers=headers)).status_code == 400
    assert (await client.get("/api/v1/events/nothing-here", headers=headers)).status_code == 404
    assert (await client.get("/api/v1/metrics/names", headers={"X-API-Key": "wrong"})).is_error
    clock.to(START + 1)

    answer = await realtime(client, admin_token)
    assert answer["samples_per_s"][-2:] == [6, 0]
    assert answer["http_requests_per_s"][-2:] == [5, 0]
    assert answer["http_4xx_per_s"][-2:] == [3, 0]
    assert answer["http_5xx_per_s"] == [0] * 60
    # The realtime answer itself counts too, once it has been answered.
    assert (await realtime(client, admin_token))["http_requests_per_s"][-1] == 1


async def test_open_websockets_are_shown_per_second(
    running: RunningService, client: httpx.AsyncClient, clock: SteppedClock, admin_token: str
) -> None:
    connections = running.running.connections
    clock.to(START)
    async with connect(running.base_url, admin_token) as first:
        await send(first, {"type": "ping", "id": "1"})
        assert (await receive(first))["type"] == "pong"
        clock.to(START + 1)
        async with connect(running.base_url, admin_token) as second:
            await send(second, {"type": "ping", "id": "2"})
            assert (await receive(second))["type"] == "pong"
            clock.to(START + 2)
    # The server notices the closes on its own time: wait until both were counted.
    with trio.fail_after(10):
        await connections.wait_empty()
    clock.to(START + 3)
    answer = await realtime(client, admin_token)
    # A second counts the most connections open at once within it.
    assert answer["websockets_open"][-5:] == [0, 1, 2, 2, 0]


async def test_the_answer_names_the_instance_and_refuses_parameters(
    running: RunningService, client: httpx.AsyncClient, admin_token: str
) -> None:
    answer = await realtime(client, admin_token)
    # MONITOR_INSTANCE_ID's default: the host name and the port.
    assert answer["instance"] == running.running.identity.instance_id
    assert answer["instance"].startswith(f"{socket.gethostname()}:")
    assert len(answer["seconds"]) == 60
    assert math.isclose(answer["now"], answer["seconds"][-1], abs_tol=1)
    assert set(answer["events_per_s"]) == {"debug", "info", "warning", "error", "critical"}
    for series in (answer["samples_per_s"], answer["websockets_open"]):
        assert len(series) == 60
    refused = await client.get(
        "/api/v1/dashboard/realtime?window=5m", headers={"X-API-Key": admin_token}
    )
    assert refused.status_code == 400
    assert refused.json()["errors"] == [{"field": "window", "message": "is not a known parameter"}]
    anonymous = await client.get("/api/v1/dashboard/realtime")
    assert anonymous.status_code == 401
