"""Event counts: answers from the per-minute and per-hour counts equal counting raw events.

Against the real database (a database of this module's own, so whole-table
answers see only its events): events arrive, some late (an old `time`
committed after the counting step ran), some are deleted, day partitions are
dropped, a restored copy's transaction ids run backwards; every answer must
equal a model of the surviving events and `/events/stats`' own SQL.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import RUN_ID, StartService, create_database, drop_database
from events_helpers import ingest, tag
from monitor.actors import event_counts as counting_actor
from monitor.config import Settings
from monitor.domain.audit import Actor, Attribution
from monitor.domain.events import EventFilter
from monitor.domain.partitions import DayPartition
from monitor.domain.rows import EventRow
from monitor.storage import event_count_query as counts
from monitor.storage import events as event_store
from monitor.storage import partitions as partition_store
from monitor.storage.errors import StorageUnavailable
from monitor.storage.event_counts import COUNT_TABLES, count_new_events, counted_below
from monitor.storage.gateway import Connection, Gateway, open_gateway
from monitor.storage.migrate import apply_migrations, available_migrations

TESTS = Attribution(Actor.system("tests"))

BASE = datetime(2026, 3, 28, tzinfo=UTC)  # Europe's clocks go forward on the 29th
SPAN = timedelta(days=3)
DAYS = [DayPartition((BASE + timedelta(days=n)).date()) for n in range(4)]
SOURCES = ("api", "db", "web")
TYPES = ("http", "job", "auth")
MESSAGES = ("ok", "the needle is here", "something else")
ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Australia/Lord_Howe",
)


@dataclass(frozen=True)
class Event:
    time: datetime
    level: int
    source: str
    type: str
    message: str
    attributes: dict[str, str]

    def row(self) -> EventRow:
        return EventRow(
            id=uuid.uuid4(),
            time=self.time,
            received_at=datetime.now(UTC),
            type=self.type,
            level=self.level,
            source=self.source,
            message=self.message,
            attributes=json.dumps(self.attributes).encode(),
            fingerprint=None,
            trace_id=None,
            grouped=False,
        )


events = st.builds(
    Event,
    time=st.integers(0, int(SPAN.total_seconds() * 1000) - 1).map(
        lambda ms: BASE + timedelta(milliseconds=ms)
    ),
    level=st.integers(0, 4),
    source=st.sampled_from(SOURCES),
    type=st.sampled_from(TYPES),
    message=st.sampled_from(MESSAGES),
    attributes=st.sampled_from([{}, {"k": "a"}, {"k": "b"}]),
)


def _subset(values: Sequence[Any]) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(st.sampled_from(values), unique=True, max_size=2).map(tuple)


# Mostly filters the counts can serve; sometimes `q` or `attr.*`, which only raw events can.
filters = st.builds(
    EventFilter,
    types=_subset(TYPES),
    levels=_subset(range(5)),
    min_level=st.none() | st.integers(0, 4),
    sources=_subset(SOURCES),
    text=st.none() | st.none() | st.none() | st.just("NEEDLE"),
    attributes=st.just(()) | st.just(()) | st.just(()) | st.just((("k", "a"),)),
)


@st.composite
def ranges(draw: st.DrawFn) -> tuple[datetime, datetime]:
    """Ranges over the data, often aligned to minutes or hours, sometimes not at all."""
    unit = draw(st.sampled_from([1, 60, 3600]))
    lowest = int((BASE - timedelta(hours=2)).timestamp()) // unit
    highest = int((BASE + SPAN + timedelta(hours=2)).timestamp()) // unit
    first = draw(st.integers(lowest, highest - 1))
    last = draw(st.integers(first + 1, highest))
    return datetime.fromtimestamp(first * unit, UTC), datetime.fromtimestamp(last * unit, UTC)


intervals = st.sampled_from([30, 60, 90, 300, 3600, 5400, 7200, 86400]).map(
    lambda seconds: timedelta(seconds=seconds)
)


def matches(event: Event, event_filter: EventFilter) -> bool:
    f = event_filter
    return (
        (not f.types or event.type in f.types)
        and (not f.levels or event.level in f.levels)
        and (f.min_level is None or event.level >= f.min_level)
        and (not f.sources or event.source in f.sources)
        and (f.text is None or f.text.lower() in event.message.lower())
        and all(event.attributes.get(key) == value for key, value in f.attributes)
    )


def selected(
    stored: Sequence[Event], event_filter: EventFilter, start: datetime, end: datetime
) -> list[Event]:
    return [e for e in stored if start <= e.time < end and matches(e, event_filter)]


def model_series(
    chosen: Sequence[Event], interval: timedelta, group_by: str | None
) -> dict[Any, dict[datetime, int]]:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    found: dict[Any, Counter[datetime]] = {}
    for event in chosen:
        bucket = epoch + ((event.time - epoch) // interval) * interval
        group = getattr(event, group_by) if group_by else None
        found.setdefault(group, Counter())[bucket] += 1
    return {group: dict(buckets) for group, buckets in found.items()}


def nonzero(series: counts.CountSeries) -> dict[Any, dict[datetime, int]]:
    return {
        group: {b: n for b, n in zip(series.buckets, values, strict=True) if n}
        for group, values in series.counts.items()
        if any(values)
    }


def top(counter: Counter[str], limit: int) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:limit]


# --- the database of this module, and how a test drives it ---------------------------------


@pytest.fixture(scope="module")
def counts_database() -> Iterator[str]:
    name = f"monitor_test_{RUN_ID}_counts"
    url = create_database(name)
    apply_migrations(url)
    yield url
    drop_database(name)


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[Gateway]:
    async with open_gateway(
        url, pool_size=1, statement_timeout=30, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        yield gateway


async def reset(gateway: Gateway) -> None:
    await partition_store.create_partitions(gateway, "events", DAYS)
    tables = ", ".join(["events", *(table.name for table in COUNT_TABLES)])
    await gateway.run(lambda connection: connection.execute(f"truncate {tables}"))


async def store(gateway: Gateway, batch: Sequence[Event]) -> list[uuid.UUID]:
    rows = [event.row() for event in batch]
    if rows:
        await event_store.commit_events(gateway, rows)
    return [row.id for row in rows]


async def uncounted(gateway: Gateway) -> int:
    row = await gateway.run(
        lambda c: c.execute(
            "select count(*) from events "
            "where ingest_xid >= (select counted_below from event_count_progress)"
        ).fetchone()
    )
    assert row is not None
    return int(row[0])


async def count_all_committed(gateway: Gateway) -> None:
    """Run counting steps until every event committed so far is counted.

    A step counts up to the oldest transaction still running on the whole
    server; other test runs share it, so one of theirs may hold the horizon
    back for a moment. Nothing here can be told when it ends, hence the
    short pause between steps.
    """
    with trio.fail_after(30):
        await count_new_events(gateway)
        while await uncounted(gateway):
            await trio.sleep(0.01)
            await count_new_events(gateway)


@dataclass(frozen=True)
class Question:
    event_filter: EventFilter
    start: datetime
    end: datetime
    interval: timedelta
    group_by: counts.GroupBy | None
    time_zone: str


questions = st.builds(
    Question,
    event_filter=filters,
    start=st.just(BASE),  # replaced by a drawn range below
    end=st.just(BASE + SPAN),
    interval=intervals,
    group_by=st.none() | st.sampled_from(["level", "type", "source"]),
    time_zone=st.sampled_from(ZONES),
)


@st.composite
def questions_with_ranges(draw: st.DrawFn) -> Question:
    question = draw(questions)
    start, end = draw(ranges())
    return dataclasses.replace(question, start=start, end=end)


async def assert_answers_match(gateway: Gateway, stored: Sequence[Event], q: Question) -> None:
    chosen = selected(stored, q.event_filter, q.start, q.end)

    series = await counts.event_count_series(
        gateway, q.event_filter, start=q.start, end=q.end, interval=q.interval, group_by=q.group_by
    )
    assert series.buckets[0] <= q.start < series.buckets[0] + q.interval
    assert series.buckets[-1] < q.end <= series.buckets[-1] + q.interval
    assert nonzero(series) == model_series(chosen, q.interval, q.group_by)

    totals = await counts.event_count_totals(
        gateway, q.event_filter, start=q.start, end=q.end, top=2
    )
    assert totals.total == len(chosen)
    assert totals.by_level == dict(Counter(e.level for e in chosen))
    assert totals.by_type == top(Counter(e.type for e in chosen), 2)
    assert totals.by_source == top(Counter(e.source for e in chosen), 2)

    # The range and the one as long before it, in one statement: each as counted alone.
    earlier = (q.start - (q.end - q.start), q.start)
    both = await counts.event_count_periods(gateway, q.event_filter, [(q.start, q.end), earlier])
    for period, (start, end) in zip(both, [(q.start, q.end), earlier], strict=True):
        among = selected(stored, q.event_filter, start, end)
        assert period.total == len(among)
        assert period.by_level == dict(Counter(e.level for e in among))
        assert period.by_source == dict(Counter(e.source for e in among))
    assert counts.busiest(both[0].by_source, 2) == totals.by_source

    # The same filter and range as /events/stats: the same counts.
    ranged = dataclasses.replace(q.event_filter, time_from=q.start, time_to=q.end)
    stats = await event_store.event_stats(gateway, ranged, interval=q.interval, top=2)
    if q.group_by is None:
        assert stats.series == sorted(nonzero(series).get(None, {}).items())
    assert (stats.total, stats.by_level) == (totals.total, totals.by_level)
    assert (stats.by_type, stats.by_source) == (totals.by_type, totals.by_source)

    heatmap = await counts.event_count_heatmap(
        gateway, q.event_filter, start=q.start, end=q.end, time_zone=q.time_zone
    )
    expected = [[0] * 24 for _ in range(7)]
    for event in chosen:
        local = event.time.astimezone(ZoneInfo(q.time_zone))
        expected[local.weekday()][local.hour] += 1
    assert heatmap.counts == expected


# --- the property ---------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    early=st.lists(events, max_size=40),
    late=st.lists(events, max_size=15),
    deleted=st.sets(st.integers(0, 54), max_size=8),
    asked=st.lists(questions_with_ranges(), min_size=1, max_size=3),
)
def test_answers_equal_raw_counts_after_late_data_and_deletes(
    counts_database: str,
    early: list[Event],
    late: list[Event],
    deleted: set[int],
    asked: list[Question],
) -> None:
    async def main() -> None:
        async with connected(counts_database) as gateway:
            await reset(gateway)
            ids = await store(gateway, early)
            # One step, not a wait for all: how far it gets depends on the
            # transactions running on the whole server, and answers must be
            # exact at any point.
            await count_new_events(gateway)
            # Late data: committed after its minutes were counted.
            ids += await store(gateway, late)
            stored = [*early, *late]
            for index in sorted(deleted, reverse=True):
                if index < len(stored):  # counted (early) or not yet (late)
                    assert await event_store.delete_event(gateway, ids.pop(index), by=TESTS)
                    stored.pop(index)
            for question in asked:
                await assert_answers_match(gateway, stored, question)
            await count_new_events(gateway)
            for question in asked:
                await assert_answers_match(gateway, stored, question)

    trio.run(main)


# --- each rule on its own -------------------------------------------------------------------


def at(minutes: float) -> datetime:
    return BASE + timedelta(minutes=minutes)


def event(minutes: float, **changes: Any) -> Event:
    base = Event(at(minutes), 1, "api", "http", "ok", {})
    return dataclasses.replace(base, **changes)


def tamper(connection: Connection, since: datetime) -> None:
    """Add a different amount to each count table's buckets from `since` on,
    so that an answer shows where it came from."""
    for table, extra in zip(COUNT_TABLES, (100, 200, 300, 400), strict=True):
        connection.execute(
            f"update {table.name} set count = count + %s where bucket >= %s", (extra, since)
        )


async def test_whole_minutes_come_from_the_counts_and_the_rest_from_raw_events(
    counts_database: str,
) -> None:
    async with connected(counts_database) as gateway:
        await reset(gateway)
        await store(gateway, [event(10.5), event(70.5), event(70.75)])
        await count_all_committed(gateway)
        await gateway.run(lambda c: tamper(c, at(60)))  # minute 70 and hour 01:00

        async def total(start: datetime, end: datetime, **filters: Any) -> int:
            found = await counts.event_count_series(
                gateway, EventFilter(**filters), start=start, end=end, interval=end - start
            )
            return sum(found.counts[None])

        assert await total(at(0), at(120)) == 1 + 102  # hour buckets, by level
        assert await total(at(70), at(71)) == 102  # a minute bucket
        assert await total(at(70.25), at(71)) == 2  # part of a minute: raw events
        assert await total(at(0), at(120), text="ok") == 3  # `q`: raw events
        series = await counts.event_count_series(
            gateway, EventFilter(), start=at(0), end=at(180), interval=timedelta(seconds=90)
        )
        assert sum(series.counts[None]) == 3  # 90 s buckets cut minutes: raw events
        # The smallest table that keeps what is filtered or grouped by.
        assert await total(at(60), at(120), types=("http",)) == 202
        assert await total(at(60), at(120), sources=("api",)) == 302
        assert await total(at(60), at(120), types=("http",), sources=("api",)) == 402
        by_source = await counts.event_count_series(
            gateway,
            EventFilter(),
            start=at(60),
            end=at(120),
            interval=timedelta(hours=1),
            group_by="source",
        )
        assert by_source.counts == {"api": [302]}
        totals = await counts.event_count_totals(
            gateway, EventFilter(), start=at(60), end=at(120), top=5
        )
        assert (totals.total, totals.by_type, totals.by_source) == (
            102,
            [("http", 202)],
            [("api", 302)],
        )


async def test_a_late_event_counts_before_and_after_the_next_step(counts_database: str) -> None:
    async with connected(counts_database) as gateway:
        await reset(gateway)
        await store(gateway, [event(5), event(65)])
        await count_all_committed(gateway)
        await store(gateway, [event(5.5, level=3)])  # a day-old minute, arriving now
        for _ in range(2):
            series = await counts.event_count_series(
                gateway,
                EventFilter(),
                start=at(0),
                end=at(120),
                interval=timedelta(hours=1),
                group_by="level",
            )
            assert series.counts == {1: [1, 1], 3: [1, 0]}
            await count_all_committed(gateway)
        assert await uncounted(gateway) == 0


async def test_a_step_covers_at_most_the_transactions_it_is_given(
    counts_database: str,
) -> None:
    async with connected(counts_database) as gateway:
        await reset(gateway)
        for minute in range(3):  # three transactions
            await store(gateway, [event(minute), event(minute + 0.5)])
        before = await gateway.run(counted_below)
        for _ in range(3):
            step = await count_new_events(gateway, 1)
            assert step.counted_below <= before + 1
            assert step.events <= 2
            before = step.counted_below
            totals = await counts.event_count_totals(
                gateway, EventFilter(), start=at(0), end=at(3), top=1
            )
            assert totals.total == 6  # counted or not yet, every event is in the answer


async def test_deleting_events_takes_them_out_of_the_counts(counts_database: str) -> None:
    async with connected(counts_database) as gateway:
        await reset(gateway)
        counted = await store(gateway, [event(1), event(1.5), event(200)])
        await count_all_committed(gateway)
        not_yet = await store(gateway, [event(1.25)])
        for event_id in [*counted, *not_yet]:
            assert await event_store.delete_event(gateway, event_id, by=TESTS)
        assert not await event_store.delete_event(gateway, counted[0], by=TESTS)  # already gone
        await count_all_committed(gateway)
        for table in COUNT_TABLES:
            left = await gateway.run(
                lambda c, table=table: c.execute(f"select count(*) from {table.name}").fetchone()
            )
            assert left == (0,), table


async def test_dropping_a_day_partition_drops_its_counts(counts_database: str) -> None:
    async with connected(counts_database) as gateway:
        await reset(gateway)
        await store(gateway, [event(30), event(60 * 24 + 30), event(60 * 24 + 90)])
        await count_all_committed(gateway)
        await partition_store.drop_partitions(gateway, "events", [DAYS[0]])
        totals = await counts.event_count_totals(
            gateway, EventFilter(), start=at(0), end=at(60 * 48), top=5
        )
        assert totals.total == 2
        for table in COUNT_TABLES:
            days = await gateway.run(
                lambda c, table=table: c.execute(
                    f"select distinct date(bucket) from {table.name}"
                ).fetchall()
            )
            assert days == [(DAYS[1].day,)], table


async def test_a_restored_copy_whose_transaction_ids_run_behind_is_recounted(
    counts_database: str,
) -> None:
    async with connected(counts_database) as gateway:
        await reset(gateway)
        await store(gateway, [event(1), event(2)])
        await count_all_committed(gateway)
        await store(gateway, [event(3)])  # not counted when the copy was taken
        ahead = 10**12

        def restore(connection: Connection) -> None:
            # The old server's ids, far ahead of this server's.
            mark = connection.execute(
                "update event_count_progress set counted_below = counted_below + %s "
                "returning counted_below",
                (ahead,),
            ).fetchone()
            assert mark is not None
            connection.execute(
                "update events set ingest_xid = ingest_xid + %s where ingest_xid < %s",
                (ahead, mark[0] - ahead),
            )
            connection.execute(
                "update events set ingest_xid = %s + 5 where ingest_xid < %s", (mark[0], ahead)
            )

        await gateway.run(restore)
        await store(gateway, [event(4)])  # this server's id: "counted" by the old mark
        await count_all_committed(gateway)
        series = await counts.event_count_series(
            gateway, EventFilter(), start=at(0), end=at(5), interval=timedelta(minutes=1)
        )
        assert series.counts == {None: [0, 1, 1, 1, 1]}
        assert await uncounted(gateway) == 0


async def test_migrating_a_database_with_events_counts_them(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url) as connection:
        connection.execute(
            "create table schema_migrations (version integer primary key, name text not null, "
            "applied_at timestamptz not null default now())"
        )
        for migration in available_migrations():
            if migration.version < 9:
                connection.execute(migration.sql.encode())
                connection.execute(
                    "insert into schema_migrations (version, name) values (%s, %s)",
                    (migration.version, migration.name),
                )
    async with connected(empty_database_url) as gateway:
        await partition_store.create_partitions(gateway, "events", DAYS)
        await store(gateway, [event(1), event(1.5, source="db"), event(61)])
        apply_migrations(empty_database_url)
        await store(gateway, [event(2), event(61.5)])  # after: counted by the actor
        assert await uncounted(gateway) == 2
        await count_all_committed(gateway)
        series = await counts.event_count_series(
            gateway,
            EventFilter(),
            start=at(0),
            end=at(120),
            interval=timedelta(hours=1),
            group_by="source",
        )
        assert series.counts == {"api": [2, 2], "db": [1, 0]}


@pytest.mark.parametrize(
    ("start", "end", "interval", "problem"),
    [
        (at(10), at(10), timedelta(minutes=1), "start must be before end"),
        (at(10), at(5), timedelta(minutes=1), "start must be before end"),
        (at(0), at(10), timedelta(0), "positive whole number"),
        (at(0), at(10), timedelta(seconds=-60), "positive whole number"),
        (at(0), at(10), timedelta(milliseconds=1500), "positive whole number"),
        (at(0), at(60 * 24 * 365), timedelta(seconds=1), "buckets"),
        (datetime(2026, 3, 28), at(10), timedelta(minutes=1), "aware"),
    ],
)
async def test_bad_series_questions_are_refused(
    counts_database: str, start: datetime, end: datetime, interval: timedelta, problem: str
) -> None:
    async with connected(counts_database) as gateway:
        with pytest.raises(ValueError, match=problem):
            await counts.event_count_series(
                gateway, EventFilter(), start=start, end=end, interval=interval
            )


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "", "../../etc/passwd", "/etc/localtime", "UTC+5", "x" * 300]
)
async def test_a_time_zone_that_is_not_an_iana_name_is_refused(
    counts_database: str, zone: str
) -> None:
    async with connected(counts_database) as gateway:
        with pytest.raises(ValueError, match="time zone"):
            await counts.event_count_heatmap(
                gateway, EventFilter(), start=at(0), end=at(60), time_zone=zone
            )


# --- the actor --------------------------------------------------------------------------------


async def test_the_service_counts_what_it_ingests_also_late_and_deleted_events(
    start_service: StartService, settings: Settings, admin_token: str, gateway: Gateway
) -> None:
    service = await start_service(settings.replace(rollup_interval=timedelta(milliseconds=50)))
    source = tag()
    now = datetime.now(UTC).replace(microsecond=0)
    sent = [
        {
            "type": "t",
            "source": source,
            "level": "error",
            "time": (now - timedelta(hours=h)).isoformat(),
        }
        for h in (0, 0, 5, 30)  # the last ones late: hours and a day back
    ]
    asked = EventFilter(sources=(source,))
    start, end = now - timedelta(days=2), now + timedelta(minutes=1)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        ids = await ingest(client, admin_token, sent)
        response = await client.delete(
            f"/api/v1/events/{ids[-1]}", headers={"X-API-Key": admin_token}
        )
        assert response.status_code == 204, response.text
    # The actor counts in the background; wait until it has passed these events.
    with trio.fail_after(30):
        while await uncounted(gateway):
            await trio.sleep(0.05)
    totals = await counts.event_count_totals(gateway, asked, start=start, end=end, top=5)
    assert (totals.total, totals.by_level) == (3, {3: 3})
    stats = await event_store.event_stats(
        gateway,
        dataclasses.replace(asked, time_from=start, time_to=end),
        interval=timedelta(hours=1),
        top=5,
    )
    series = await counts.event_count_series(
        gateway, asked, start=start, end=end, interval=timedelta(hours=1)
    )
    assert stats.series == sorted(nonzero(series)[None].items())


@dataclass
class FakeStep:
    caught_up: bool
    events: int


class FakeBacklog:
    """Transactions waiting to be counted, each with the same number of events."""

    def __init__(self, transactions: int, events_each: int) -> None:
        self.transactions = transactions
        self.events_each = events_each
        self.down = False
        self.steps: list[tuple[float, int]] = []  # (when, events counted)

    async def step(self, span: int) -> FakeStep:
        if self.down:
            raise StorageUnavailable("down")
        taken = min(span, self.transactions)
        self.transactions -= taken
        self.steps.append((trio.current_time(), taken * self.events_each))
        return FakeStep(caught_up=self.transactions == 0, events=taken * self.events_each)


async def start_actor(nursery: trio.Nursery, backlog: FakeBacklog) -> None:
    await nursery.start(
        lambda task_status: counting_actor.run(backlog.step, interval=10, task_status=task_status)
    )
    await trio.testing.wait_all_tasks_blocked()


async def test_the_actor_catches_up_in_short_steps_a_few_at_a_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    dense = FakeBacklog(transactions=100_000, events_each=100)  # 10 million events
    async with trio.open_nursery() as nursery:
        await start_actor(nursery, dense)
        assert len(dense.steps) == counting_actor.MAX_STEPS_PER_RUN  # then it sleeps
        # After the first, too big, step the span shrinks until a step is short.
        assert all(n <= counting_actor.TARGET_EVENTS for _, n in dense.steps[1:])
        await trio.sleep(10.5)
        assert len(dense.steps) == 2 * counting_actor.MAX_STEPS_PER_RUN
        nursery.cancel_scope.cancel()
    sparse = FakeBacklog(transactions=1_000_000, events_each=1)
    async with trio.open_nursery() as nursery:
        await start_actor(nursery, sparse)
        # Steps that count little widen the span, up to steps of about the target.
        counted = [n for _, n in sparse.steps]
        assert counted[:3] == [1_000, 2_000, 4_000]
        assert counting_actor.TARGET_EVENTS // 2 <= counted[-1] <= counting_actor.TARGET_EVENTS
        nursery.cancel_scope.cancel()


async def test_the_actor_waits_out_an_outage(autojump_clock: trio.testing.MockClock) -> None:
    backlog = FakeBacklog(transactions=10, events_each=1)
    async with trio.open_nursery() as nursery:
        backlog.down = True
        await start_actor(nursery, backlog)
        await trio.sleep(25)
        assert backlog.steps == []  # runs skipped, the actor lives on
        backlog.down = False
        await trio.sleep(10)
        assert backlog.transactions == 0
        assert len(backlog.steps) == 1
        await trio.sleep(10)
        assert len(backlog.steps) == 2  # nothing new: one step a run
        nursery.cancel_scope.cancel()
