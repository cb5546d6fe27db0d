"""`kill -9` of `monitor serve` while it sends 100 queued notifications to a slow receiver
that honours the idempotency key: after a restart every one is delivered, none twice."""

from __future__ import annotations

import signal
from collections import Counter

import psycopg
import pytest
import trio

from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations
from notification_helpers import make_channel, queue, webhook_document
from processes import clean_environment, serving
from receivers import Received, Reply, start_receiver

pytestmark = pytest.mark.slow

COUNT = 100
OUTBOUND_TIMEOUT_S = 1  # a claim's lease is 2 x (this + 5 s): what a killed claim waits


def _statuses(url: str) -> Counter[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "select status, count(*) from notification_deliveries group by status"
        ).fetchall()
    return Counter({status: int(count) for status, count in rows})


def _delivered_attempts(url: str) -> Counter[int]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "select delivery_id from notification_attempts where outcome = 'delivered'"
        ).fetchall()
    return Counter(int(row[0]) for row in rows)


def _keys(url: str, ids: list[int]) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "select idempotency_key from notification_deliveries where id = any(%s)", (ids,)
        ).fetchall()
    return {row[0] for row in rows}


async def test_undelivered_notifications_go_out_after_a_kill_and_none_twice(
    empty_database_url: str, nursery: trio.Nursery
) -> None:
    url = empty_database_url
    apply_migrations(url)
    acted_on: set[str] = set()  # what the receiver acted on, by idempotency key

    async def deduplicating(received: Received) -> Reply:
        await trio.sleep(0.05)  # slow enough that the kill finds work in flight
        # A key seen before is acknowledged and not acted on again.
        acted_on.add(received.headers["idempotency-key"])
        return Reply(200)

    receiver = await start_receiver(nursery, deduplicating)
    async with open_gateway(
        url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        channel = await make_channel(gateway, webhook_document(receiver.url))
        ids = await queue(gateway, channel, COUNT)
    env = clean_environment(
        MONITOR_DATABASE_URL=url,
        MONITOR_NOTIFICATION_POLL="50ms",
        MONITOR_NOTIFICATION_CHANNEL_CONCURRENCY="2",
        MONITOR_OUTBOUND_TIMEOUT=f"{OUTBOUND_TIMEOUT_S}s",
    )

    async with serving(env=env) as first:
        with trio.fail_after(20):
            while len(receiver.requests) < 10:
                await trio.sleep(0.01)
        first.signal(signal.SIGKILL)
        await first.wait()
    before = _statuses(url)
    assert 0 < before["delivered"] < COUNT, before

    async with serving(env=env):
        with trio.fail_after(60):
            while _statuses(url)["delivered"] < COUNT:
                await trio.sleep(0.1)

    assert _statuses(url) == Counter({"delivered": COUNT})
    assert set(_delivered_attempts(url)) == set(ids)
    assert set(_delivered_attempts(url).values()) == {1}, "each recorded delivered once"
    assert acted_on == _keys(url, ids), "every notification reached the receiver"
    arrivals = Counter(request.headers["idempotency-key"] for request in receiver.requests)
    # At least once: only what was in flight at the kill (two, the channel's limit)
    # may have arrived twice, and the receiver dropped the repeat by its key.
    assert sum(arrivals.values()) - COUNT <= 2, arrivals.most_common(3)
