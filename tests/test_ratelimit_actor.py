"""The limiter actor on its own: batching, Redis pipelining and the memory fallback."""

from __future__ import annotations

import functools
import uuid

import trio

from monitor.actors import ratelimit
from monitor.counters import LimiterCounters
from monitor.domain.gcra import Decision, Rate
from monitor.domain.limit_table import LimitTable
from monitor.messages import LimitQuery
from monitor.redis.limits import RedisLimits
from redis_server import free_port

ONE_HOUR = Rate.per_hour(3)


def queue_queries(
    inbox: trio.MemorySendChannel[LimitQuery], identities: list[str]
) -> list[trio.MemoryReceiveChannel[Decision]]:
    replies = []
    for identity in identities:
        reply_send, reply_receive = trio.open_memory_channel[Decision](1)
        inbox.send_nowait(LimitQuery(identity, ONE_HOUR, reply_send))
        replies.append(reply_receive)
    return replies


async def decide_all(
    redis: RedisLimits | None, counters: LimiterCounters, identities: list[str]
) -> list[bool]:
    """Queue every query, then let the actor start and answer them."""
    send, receive = trio.open_memory_channel[LimitQuery](1024)
    replies = queue_queries(send, identities)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(
                functools.partial(ratelimit.run, receive, LimitTable(100), counters, redis=redis)
            )
            answers = [(await reply.receive()).allowed for reply in replies]
            await send.aclose()
    return answers


async def test_queries_that_arrive_together_are_one_redis_round_trip(redis_url: str) -> None:
    counters = LimiterCounters()
    redis = RedisLimits(redis_url, f"monitor-test-{uuid.uuid4().hex}:", counters)
    identities = [f"key:{n % 10}" for n in range(100)]  # 10 identities, 10 queries each
    answers = await decide_all(redis, counters, identities)
    assert answers == [n < 30 for n in range(100)]  # each identity's first 3 pass
    assert counters.redis_decisions == 100
    assert counters.redis_round_trips == 1
    assert counters.fallback_decisions == 0


async def test_without_redis_every_decision_is_answered_from_memory_at_once() -> None:
    counters = LimiterCounters()
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    redis = RedisLimits(unreachable, "monitor-test:", counters, timeout=0.2)
    answers = await decide_all(redis, counters, ["ip:a"] * 4 + ["ip:b"])
    assert answers == [True, True, True, False, True]
    assert counters.redis_degraded
    assert counters.redis_outages == 1
    assert counters.fallback_decisions == 5
    assert counters.redis_round_trips == 0
