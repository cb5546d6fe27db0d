from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import trio
import trio.testing

from monitor.actors import key_usage
from monitor.messages import KeyUsed
from monitor.storage.errors import StorageUnavailable

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeStore:
    """Records each batch; fails while `failing` is set, like a database outage."""

    def __init__(self) -> None:
        self.batches: list[dict[int, datetime]] = []
        self.failing = False

    async def __call__(self, batch: Mapping[int, datetime]) -> None:
        if self.failing:
            raise StorageUnavailable("database is down")
        self.batches.append(dict(batch))


async def test_many_uses_become_one_write_per_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    send, receive = trio.open_memory_channel[KeyUsed](100)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: key_usage.run(
                receive, store, flush_interval=10, task_status=task_status
            )
        )
        for second in range(30):  # three keys used every second for 30 s
            for key_id in (1, 2, 3):
                await send.send(KeyUsed(key_id, T0 + timedelta(seconds=second)))
            await trio.sleep(1)
        await send.aclose()
    assert 3 <= len(store.batches) <= 4
    assert all(set(batch) <= {1, 2, 3} for batch in store.batches)
    assert store.batches[-1][1] == T0 + timedelta(seconds=29)


async def test_an_outage_keeps_the_latest_times_for_the_next_write(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    store.failing = True
    send, receive = trio.open_memory_channel[KeyUsed](100)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: key_usage.run(
                receive, store, flush_interval=5, task_status=task_status
            )
        )
        await send.send(KeyUsed(7, T0))
        await trio.sleep(6)  # first write fails
        await send.send(KeyUsed(7, T0 - timedelta(hours=1)))  # an older stamp must not win
        store.failing = False
        await trio.sleep(5)
        assert store.batches == [{7: T0}]
        await send.aclose()


async def test_closing_the_inbox_writes_what_is_held(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = FakeStore()
    send, receive = trio.open_memory_channel[KeyUsed](100)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: key_usage.run(
                receive, store, flush_interval=3600, task_status=task_status
            )
        )
        await send.send(KeyUsed(1, T0))
        await send.aclose()
    assert store.batches == [{1: T0}]
