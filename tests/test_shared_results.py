"""Shared dashboard results: one computation per key, waiters, failures, cancellation, Redis."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

import coredis
import pytest
import trio
import trio.testing

import redis_server
from conftest import RUN_ID
from monitor.redis.results import RedisResults
from monitor.shared_results import ENTRY_OVERHEAD, SharedResults

MiB = 1024 * 1024


class Computation:
    """A compute function that counts its calls and, when gated, waits to be let through."""

    def __init__(self, result: bytes = b'{"answer":42}', *, gated: bool = False) -> None:
        self.result = result
        self.calls = 0
        self.gate = trio.Event()
        if not gated:
            self.gate.set()
        self.started = trio.Event()

    async def __call__(self) -> bytes:
        self.calls += 1
        self.started.set()
        await self.gate.wait()
        return self.result


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def gather(count: int, call: Callable[[], Awaitable[bytes]]) -> list[bytes]:
    answers: list[bytes] = []

    async def one() -> None:
        answers.append(await call())

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(one)
    return answers


async def test_fifty_concurrent_identical_requests_compute_once() -> None:
    cache = SharedResults(max_bytes=MiB)
    compute = Computation(gated=True)
    answers: list[bytes] = []

    async def one() -> None:
        answers.append(await cache.get_or_compute("overview#t1", 10, compute))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(one)
            await trio.testing.wait_all_tasks_blocked()
            compute.gate.set()
    assert compute.calls == 1
    assert answers == [compute.result] * 50
    counters = cache.counters
    assert (counters.computations, counters.waits, counters.hits_local) == (1, 49, 0)
    assert await cache.get_or_compute("overview#t1", 10, compute) == compute.result
    assert (compute.calls, cache.counters.hits_local) == (1, 1)
    assert cache.figures()["in_flight"] == 0


async def test_another_tick_is_another_key_and_computes_again() -> None:
    cache = SharedResults(max_bytes=MiB)
    compute = Computation()
    await cache.get_or_compute("overview#t1", 10, compute)
    await cache.get_or_compute("overview#t2", 10, compute)
    await cache.get_or_compute("overview#t2", 10, compute)
    assert compute.calls == 2


async def test_a_result_is_kept_until_its_tick_ends() -> None:
    clock = Clock()
    cache = SharedResults(max_bytes=MiB, clock=clock)
    compute = Computation()
    await cache.get_or_compute("k", 5, compute)
    clock.now += 4.999
    await cache.get_or_compute("k", 5, compute)
    assert compute.calls == 1
    clock.now += 0.001
    await cache.get_or_compute("k", 5, compute)
    assert compute.calls == 2


async def test_a_failure_reaches_every_waiter_and_is_not_kept() -> None:
    cache = SharedResults(max_bytes=MiB)
    release = trio.Event()
    calls = 0

    async def failing() -> bytes:
        nonlocal calls
        calls += 1
        await release.wait()
        raise LookupError("the database said no")

    errors: list[BaseException] = []

    async def one() -> None:
        try:
            await cache.get_or_compute("k", 10, failing)
        except LookupError as error:
            errors.append(error)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(one)
            await trio.testing.wait_all_tasks_blocked()
            release.set()
    assert calls == 1
    assert len(errors) == 10
    assert {str(error) for error in errors} == {"the database said no"}
    assert cache.counters.failures == 1
    assert cache.figures()["entries"] == 0
    compute = Computation()
    assert await cache.get_or_compute("k", 10, compute) == compute.result  # computed afresh
    assert compute.calls == 1


async def test_when_the_first_requester_is_cancelled_a_waiter_takes_over() -> None:
    cache = SharedResults(max_bytes=MiB)
    first = Computation(gated=True)  # never let through: only cancellation ends it
    second = Computation(b"second")
    answers: list[bytes] = []

    async def waiter() -> None:
        answers.append(await cache.get_or_compute("k", 10, second))

    leader = trio.CancelScope()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_run_in, leader, cache, first)
            await first.started.wait()
            for _ in range(5):
                nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            leader.cancel()
    assert answers == [b"second"] * 5
    assert (first.calls, second.calls) == (1, 1)  # one waiter computed, the others waited
    assert cache.counters.abandoned == 1
    assert cache.counters.waits == 5


async def _run_in(scope: trio.CancelScope, cache: SharedResults, compute: Computation) -> None:
    with scope:
        await cache.get_or_compute("k", 10, compute)


async def test_when_every_requester_leaves_nothing_is_left_running_or_kept() -> None:
    cache = SharedResults(max_bytes=MiB)
    stuck = Computation(gated=True)
    with trio.move_on_after(0.05):
        await cache.get_or_compute("k", 10, stuck)
    assert cache.figures()["in_flight"] == 0
    compute = Computation()
    with trio.fail_after(5):
        assert await cache.get_or_compute("k", 10, compute) == compute.result


async def test_least_recently_used_results_leave_first_when_bytes_run_out() -> None:
    size = len("a") + 100 + ENTRY_OVERHEAD
    cache = SharedResults(max_bytes=2 * size)
    for key in ("a", "b"):
        await cache.get_or_compute(key, 10, Computation(b"x" * 100))
    await cache.get_or_compute("a", 10, Computation())  # a is now the most recent
    await cache.get_or_compute("c", 10, Computation(b"x" * 100))  # b leaves
    recount = Computation(b"x" * 100)
    await cache.get_or_compute("a", 10, recount)
    await cache.get_or_compute("b", 10, recount)
    assert recount.calls == 1  # only b was computed again
    assert cache.counters.evictions == 2
    assert cache.figures()["bytes"] <= 2 * size


async def test_results_whose_tick_ended_leave_without_counting_as_evictions() -> None:
    clock = Clock()
    cache = SharedResults(max_bytes=10 * MiB, clock=clock)
    for key in ("a", "b", "c"):
        await cache.get_or_compute(key, 5, Computation())
    clock.now += 5
    await cache.get_or_compute("d", 5, Computation())
    figures = cache.figures()
    assert (figures["entries"], figures["evictions"]) == (1, 0)
    assert figures["bytes"] == len("d") + len(Computation().result) + ENTRY_OVERHEAD


async def test_a_result_larger_than_the_budget_is_shared_by_its_waiters_but_not_kept() -> None:
    cache = SharedResults(max_bytes=0)
    compute = Computation(b"x" * 1000, gated=True)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(cache.get_or_compute, "k", 10, compute)
            await trio.testing.wait_all_tasks_blocked()
            compute.gate.set()
    assert compute.calls == 1
    await cache.get_or_compute("k", 10, compute)
    assert compute.calls == 2
    assert cache.figures()["entries"] == 0


# --- shared through Redis ---------------------------------------------------------


def unique_prefix() -> str:
    return f"monitor-test-{RUN_ID}:{uuid.uuid4().hex[:8]}:"


async def started_store(nursery: trio.Nursery, url: str, prefix: str) -> RedisResults:
    store = RedisResults(url, prefix)
    await nursery.start(store.maintain)
    return store


async def test_a_second_instance_reuses_what_the_first_computed_through_redis(
    nursery: trio.Nursery, redis_url: str
) -> None:
    prefix = unique_prefix()
    one = SharedResults(max_bytes=MiB, store=await started_store(nursery, redis_url, prefix))
    two_store = await started_store(nursery, redis_url, prefix)
    two = SharedResults(max_bytes=MiB, store=two_store)
    compute = Computation(b"computed once")
    assert await one.get_or_compute("overview#t1", 30, compute) == b"computed once"
    assert (
        await gather(20, lambda: two.get_or_compute("overview#t1", 30, compute))
        == [b"computed once"] * 20
    )
    assert compute.calls == 1
    assert two.counters.hits_redis == 1  # one read from Redis, then kept in process
    assert two.counters.hits_local + two.counters.waits == 19
    client: coredis.Redis[bytes] = coredis.Redis.from_url(redis_url)
    async with client:
        ttl_ms = await client.pttl(two_store.redis_key("overview#t1"))
    assert 0 < ttl_ms <= 30_000  # gone from Redis when the tick ends


async def test_instances_with_other_prefixes_do_not_share(
    nursery: trio.Nursery, redis_url: str
) -> None:
    one = SharedResults(
        max_bytes=MiB, store=await started_store(nursery, redis_url, unique_prefix())
    )
    two = SharedResults(
        max_bytes=MiB, store=await started_store(nursery, redis_url, unique_prefix())
    )
    compute = Computation()
    await one.get_or_compute("k", 30, compute)
    await two.get_or_compute("k", 30, compute)
    assert compute.calls == 2


async def test_with_redis_unreachable_results_are_computed_here_and_the_outage_logged_once(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="monitor.redis.results")
    # Nothing listens on port 1.
    cache = SharedResults(
        max_bytes=MiB, store=await started_store(nursery, "redis://127.0.0.1:1", unique_prefix())
    )
    compute = Computation()
    with trio.fail_after(5):
        for tick in range(5):
            assert await cache.get_or_compute(f"k#{tick}", 30, compute) == compute.result
    assert compute.calls == 5
    figures = cache.figures()
    assert figures["redis_errors"] == 10  # a read and a write per computation
    assert figures["redis_degraded"] and figures["redis_outages"] == 1
    assert len([r for r in caplog.records if "Redis unreachable" in r.getMessage()]) == 1


async def test_a_redis_outage_falls_back_to_computing_and_sharing_resumes_after(
    nursery: trio.Nursery,
) -> None:
    async with redis_server.dedicated_redis() as redis:
        prefix = unique_prefix()
        one = SharedResults(max_bytes=0, store=await started_store(nursery, redis.url, prefix))
        two = SharedResults(max_bytes=0, store=await started_store(nursery, redis.url, prefix))
        compute = Computation()
        await one.get_or_compute("before", 30, compute)
        await two.get_or_compute("before", 30, compute)
        assert (compute.calls, two.counters.hits_redis) == (1, 1)

        await redis.stop()
        with trio.fail_after(5):
            await one.get_or_compute("during", 30, compute)
            await two.get_or_compute("during", 30, compute)
            assert compute.calls == 3  # each computed it
            while not (one.redis_degraded and two.redis_degraded):
                await trio.sleep(0.01)

        await redis.start()
        with trio.fail_after(15):
            while one.redis_degraded or two.redis_degraded:
                await trio.sleep(0.05)
        await one.get_or_compute("after", 30, compute)
        await two.get_or_compute("after", 30, compute)
        assert compute.calls == 4
        assert two.counters.hits_redis == 2
