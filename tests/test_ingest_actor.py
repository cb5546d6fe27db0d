"""The ingest actor with stand-ins for storage: grouping, splitting, outages, drain."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

import trio
import trio.testing

from monitor.actors.ingest import events as ingest
from monitor.counters import IngestCounters
from monitor.domain.partitions import DayPartition
from monitor.domain.rows import EventRow
from monitor.messages import CommittedEvents, IngestEvents, IngestOutcome
from monitor.storage.errors import RowsRejected, StorageUnavailable

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def row(message: str = "ok", time: datetime = NOW) -> EventRow:
    return EventRow(uuid.uuid4(), time, NOW, "t", 1, "s", message, b"{}", None, None, False)


class FakeDatabase:
    def __init__(self) -> None:
        self.commits: list[list[EventRow]] = []
        self.partitions: list[set[DayPartition]] = []
        self.down = False
        self.gate: trio.Event | None = None  # when set, commits wait for it

    async def commit(self, rows: Sequence[EventRow]) -> Mapping[str, int]:
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise StorageUnavailable("down")
        if any(r.message == "poison" for r in rows):
            raise RowsRejected("value out of range")
        self.commits.append(list(rows))
        return {}

    async def ensure(self, partitions: Iterable[DayPartition]) -> None:
        self.partitions.append(set(partitions))


async def request(
    inbox: trio.MemorySendChannel[IngestEvents], rows: list[EventRow]
) -> trio.MemoryReceiveChannel[IngestOutcome]:
    send, receive = trio.open_memory_channel[IngestOutcome](1)
    await inbox.send(IngestEvents(rows, send))
    return receive


async def start(database: FakeDatabase, nursery: trio.Nursery, workers: int = 1):  # type: ignore[no-untyped-def]
    send, receive = trio.open_memory_channel[IngestEvents](100)
    published: list[CommittedEvents] = []
    counters = IngestCounters()
    await nursery.start(
        lambda task_status: ingest.run(
            receive,
            database.commit,
            database.ensure,
            published.append,
            counters,
            workers=workers,
            batch_rows=1000,
            task_status=task_status,
        )
    )
    return send, published, counters


async def test_requests_waiting_together_are_committed_in_one_transaction() -> None:
    database = FakeDatabase()
    database.gate = trio.Event()
    async with trio.open_nursery() as nursery:
        inbox, published, counters = await start(database, nursery)
        first = await request(inbox, [row()])
        await trio.testing.wait_all_tasks_blocked()  # the worker holds the first and waits
        waiting = [await request(inbox, [row(), row()]) for _ in range(5)]
        database.gate.set()
        for reply in [first, *waiting]:
            outcome = await reply.receive()
            assert outcome.committed and outcome.status == 201
        assert [len(c) for c in database.commits] == [1, 10]
        assert counters.transactions == 2 and counters.rows == 11
        assert len(published) == 2
        await inbox.aclose()


async def test_one_requests_bad_rows_never_fail_another_request() -> None:
    database = FakeDatabase()
    database.gate = trio.Event()
    async with trio.open_nursery() as nursery:
        inbox, _published, counters = await start(database, nursery)
        blocker = await request(inbox, [row()])
        await trio.testing.wait_all_tasks_blocked()
        good_before = await request(inbox, [row("a")])
        bad = await request(inbox, [row("b"), row("poison")])
        good_after = await request(inbox, [row("c")])
        database.gate.set()
        assert (await blocker.receive()).committed
        assert (await good_before.receive()).committed
        refused = await bad.receive()
        assert not refused.committed and refused.status == 422
        assert (await good_after.receive()).committed
        committed_messages = {r.message for c in database.commits for r in c}
        assert {"a", "c"} <= committed_messages and "b" not in committed_messages
        assert counters.rejected_requests == 1
        await inbox.aclose()


async def test_an_outage_answers_503_and_commits_nothing() -> None:
    database = FakeDatabase()
    database.down = True
    async with trio.open_nursery() as nursery:
        inbox, published, counters = await start(database, nursery)
        outcome = await (await request(inbox, [row()])).receive()
        assert (outcome.committed, outcome.status) == (False, 503)
        assert published == [] and counters.unavailable_requests == 1
        database.down = False  # the database is back: the next request commits
        assert (await (await request(inbox, [row()])).receive()).committed
        await inbox.aclose()


async def test_a_requester_that_left_still_gets_its_rows_committed() -> None:
    database = FakeDatabase()
    database.gate = trio.Event()
    async with trio.open_nursery() as nursery:
        inbox, _published, counters = await start(database, nursery)
        reply = await request(inbox, [row("orphan")])
        await reply.aclose()  # the client disconnected before the commit
        database.gate.set()
        assert (await (await request(inbox, [row()])).receive()).committed
        assert any(r.message == "orphan" for c in database.commits for r in c)
        assert counters.replies_dropped == 1
        await inbox.aclose()


async def test_partitions_are_ensured_once_per_new_day() -> None:
    database = FakeDatabase()
    old_day = datetime(2026, 4, 20, 3, tzinfo=UTC)
    async with trio.open_nursery() as nursery:
        inbox, _, _ = await start(database, nursery)
        for rows in ([row()], [row(), row(time=old_day)], [row(time=old_day)]):
            assert (await (await request(inbox, rows)).receive()).committed
        await inbox.aclose()
    assert database.partitions == [
        {DayPartition.containing(NOW)},
        {DayPartition.containing(old_day)},
    ]


async def test_closing_the_inbox_commits_what_is_queued_then_returns() -> None:
    database = FakeDatabase()
    database.gate = trio.Event()
    async with trio.open_nursery() as nursery:
        inbox, _, _ = await start(database, nursery, workers=2)
        replies = [await request(inbox, [row()]) for _ in range(4)]
        await inbox.aclose()
        database.gate.set()
    # The actor returned (the nursery exited) only after answering everyone.
    for reply in replies:
        assert (reply.receive_nowait()).committed
    assert sum(len(c) for c in database.commits) == 4
