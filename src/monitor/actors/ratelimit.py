"""The rate-limit actor: owns every identity's GCRA state and answers LimitQuery.

Queries that wait in the inbox together are decided together: in memory one
after another, or on Redis in one pipelined round trip. While one batch is on
its way to Redis the next queries gather in the inbox, so a busy service sends
many decisions per round trip without delaying an idle one.

Error handling: when Redis fails, the batch in hand and every later one are
decided in memory — no request fails or waits on Redis again — while
`RedisLimits.maintain` reconnects with backoff; decisions return to Redis once
it is back. Memory decisions made during an outage are not copied to Redis
(each instance enforced its own limits meanwhile). A requester that stopped
waiting is skipped. Other errors propagate: the supervisor restarts the actor,
which carries on with the same table (the service owns it).

Resource handling: the in-memory table holds at most its capacity of
identities; the inbox is bounded (requesters wait, bounded by their own
timeout). At shutdown (inbox closed) it answers what is queued and returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import trio

from monitor.counters import LimiterCounters
from monitor.domain.gcra import Decision
from monitor.domain.limit_table import LimitTable
from monitor.messages import LimitQuery
from monitor.redis.limits import RedisLimits, RedisUnavailable

BATCH_LIMIT = 512


def monotonic_us() -> int:
    return time.monotonic_ns() // 1000


async def run(
    inbox: trio.MemoryReceiveChannel[LimitQuery],
    table: LimitTable,
    counters: LimiterCounters,
    *,
    redis: RedisLimits | None = None,
    clock_us: Callable[[], int] = monotonic_us,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with trio.open_nursery() as nursery:
        if redis is not None:
            await nursery.start(redis.maintain)
        task_status.started()
        while True:
            try:
                first = await inbox.receive()
            except trio.EndOfChannel:
                break
            batch = [first]
            while len(batch) < BATCH_LIMIT:
                try:
                    batch.append(inbox.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            decisions = await _decide(batch, table, counters, redis, clock_us)
            _answer(batch, decisions, counters)
            counters.tracked_identities = len(table)
            counters.evicted_identities = table.evicted
        nursery.cancel_scope.cancel()


async def _decide(
    batch: Sequence[LimitQuery],
    table: LimitTable,
    counters: LimiterCounters,
    redis: RedisLimits | None,
    clock_us: Callable[[], int],
) -> list[Decision]:
    checks = [(query.identity, query.rate) for query in batch]
    if redis is not None:
        if redis.connected:
            try:
                decisions = await redis.decide(checks)
            except RedisUnavailable:
                pass  # RedisLimits logged the outage; decided in memory below
            else:
                counters.redis_decisions += len(decisions)
                return decisions
        counters.fallback_decisions += len(checks)
    now = clock_us()
    return [table.decide(identity, rate, now) for identity, rate in checks]


def _answer(
    batch: Sequence[LimitQuery], decisions: Sequence[Decision], counters: LimiterCounters
) -> None:
    for query, decision in zip(batch, decisions, strict=True):
        counters.decisions += 1
        if not decision.allowed:
            counters.refused += 1
        try:
            query.reply.send_nowait(decision)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.WouldBlock):
            continue  # the requester stopped waiting and was served without an answer
