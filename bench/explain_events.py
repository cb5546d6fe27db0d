"""Query plans of the event API's SQL on a realistic million-event table.

    python bench/explain_events.py [--rows 1000000] [--days 10]

Creates a throw-away database `bench_explain_<random>` (dropped at the end,
also on error or Ctrl-C), applies the migrations, creates the day partitions
of the last `--days` days (plus the days ahead the service creates) with
`monitor.storage.partitions.create_partitions`, and loads `--rows` synthetic
events spread evenly over those days, in time order, with binary COPY from
two connections (as two ingest workers would): ~2 % error/critical events
from 50 recurring error signatures (their groups in `event_groups`, some
resolved or ignored), 20 types and 50 sources with Zipf-like skew, and a
`status` attribute (10 values) on every event. Then `VACUUM (ANALYZE)` —
what autovacuum does to these insert-only partitions anyway; it also sets the
visibility map (index-only scans) and merges GIN pending lists.

The SQL is not copied here: each query is captured from the service's own
functions in `monitor.storage.events` (`list_events`, `get_event`,
`event_stats`, `top_groups`, which build their WHERE clauses with
`filter_clauses`) by running them against a gateway that records the SQL and
parameters instead of executing them. Each is then run once to warm the cache
and shown with `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)`, with its parameters
bound server-side as psycopg binds them, i.e. as a custom plan. (psycopg
prepares a statement after 5 executions on a connection and PostgreSQL may
then switch to a generic plan; `--generic` also shows those.)

The last line on stdout is one JSON object with each query's execution time.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import trio
from psycopg import sql
from psycopg.types.json import set_json_dumps

import synthetic
from common import on_throwaway_database, say
from monitor.domain.events import EventFilter, derive_fingerprint
from monitor.domain.ids import RANDOM_BYTES, uuid7
from monitor.domain.partitions import DayPartition, partitions_ahead
from monitor.storage import events as event_store
from monitor.storage import partitions as partition_store
from monitor.storage.events import COPY_COLUMNS, COPY_TYPES
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations

COPY_STATEMENT = sql.SQL("copy events ({}) from stdin (format binary)").format(
    sql.SQL(", ").join(sql.Identifier(column) for column in COPY_COLUMNS)
)
DAYS_AHEAD = 2  # as monitor.actors.maintenance.DAYS_AHEAD
CHUNK_ROWS = 10_000  # rows per COPY transaction while loading
LOADERS = 2


async def create_day_partitions(url: str, days: Sequence[DayPartition]) -> list[DayPartition]:
    async with open_gateway(
        url, pool_size=1, statement_timeout=60, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        return await partition_store.create_partitions(gateway, "events", days)


def create_groups(url: str) -> dict[str, int]:
    """One event_groups row per error signature (counts filled in after the load)."""
    rng = random.Random(3)
    fingerprints = {}
    with psycopg.connect(url, autocommit=True) as connection:
        for number, signature in enumerate(synthetic.SIGNATURES):
            message = signature.template.format(
                n1=rng.randrange(10_000, 10_000_000),
                n2=rng.randrange(1, 1000),
                n3=rng.randrange(1, 100),
                ms=rng.randrange(1, 30_000),
            )
            # Numbers are normalised away: every event of the signature has this fingerprint.
            fingerprint = derive_fingerprint(signature.type, signature.source, message)
            status = "resolved" if number % 8 == 5 else "ignored" if number % 12 == 7 else "open"
            row = connection.execute(
                "insert into event_groups (fingerprint, type, source, level, message, "
                "first_seen, last_seen, count, status) "
                "values (%s, %s, %s, 3, %s, now(), now(), 0, %s) returning id",
                (fingerprint, signature.type, signature.source, message, status),
            ).fetchone()
            assert row is not None
            fingerprints[fingerprint] = int(row[0])
    return fingerprints


def generate_rows(
    count: int, start: datetime, end: datetime, seed: int, group_ids: dict[str, int]
) -> Iterator[list[tuple[Any, ...]]]:
    """Chunks of COPY rows in time order, evenly spread over [start, end)."""
    rng = random.Random(seed)
    encode = msgspec.json.Encoder().encode
    span = (end - start).total_seconds()
    chunk: list[tuple[Any, ...]] = []
    randomness = b""
    for number in range(count):
        if number % CHUNK_ROWS == 0:
            randomness = os.urandom(RANDOM_BYTES * CHUNK_ROWS)
        event = synthetic.generate(rng)
        moment = start + timedelta(seconds=span * (number + rng.random()) / count)
        received_at = moment + timedelta(milliseconds=rng.randrange(5, 2000))
        fingerprint = group_id = None
        if event.level >= 3:
            fingerprint = derive_fingerprint(event.type, event.source, event.message)
            group_id = group_ids[fingerprint]
        offset = number % CHUNK_ROWS * RANDOM_BYTES
        unix_ms = int(received_at.timestamp() * 1000)
        event_id = uuid7(unix_ms, randomness[offset : offset + RANDOM_BYTES])
        chunk.append(
            (
                event_id,
                moment,
                received_at,
                event.type,
                event.level,
                event.source,
                event.message,
                encode(event.attributes),
                fingerprint,
                event.trace_id,
                group_id,
            )
        )
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load(url: str, chunks: Iterator[list[tuple[Any, ...]]], half: int) -> tuple[int, uuid.UUID]:
    """COPY the chunks from LOADERS connections; return the row count and row `half`'s id."""
    work: queue.Queue[list[tuple[Any, ...]] | None] = queue.Queue(maxsize=LOADERS * 2)
    errors: list[BaseException] = []

    def loader() -> None:
        try:
            with psycopg.connect(url) as connection:
                set_json_dumps(lambda value: value, connection)  # attributes are JSON bytes
                connection.execute("set synchronous_commit = off")  # load speed only
                while (rows := work.get()) is not None:
                    with (
                        connection.transaction(),
                        connection.cursor() as cursor,
                        cursor.copy(COPY_STATEMENT) as copy,
                    ):
                        copy.set_types(list(COPY_TYPES))
                        for row in rows:
                            copy.write_row(row)
        except BaseException as error:
            errors.append(error)
            while work.get() is not None:  # keep the producer from blocking forever
                pass

    threads = [threading.Thread(target=loader, daemon=True) for _ in range(LOADERS)]
    for thread in threads:
        thread.start()
    loaded = 0
    middle: uuid.UUID | None = None
    try:
        for rows in chunks:
            if errors:
                break
            if middle is None and loaded + len(rows) > half:
                middle = rows[half - loaded][0]
            loaded += len(rows)
            work.put(rows)
    finally:
        for _ in threads:
            work.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    assert middle is not None
    return loaded, middle


def finish_groups(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            """
            update event_groups g set count = s.count, first_seen = s.first_seen,
                last_seen = s.last_seen, level = s.level
            from (
                select group_id, count(*) as count, min(time) as first_seen,
                    max(time) as last_seen, max(level) as level
                from events where group_id is not null group by group_id
            ) s
            where g.id = s.group_id
            """
        )
        connection.execute("vacuum (analyze) events")
        connection.execute("vacuum (analyze) event_groups")


# --- capturing the service's SQL -------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    query: sql.Composable
    params: Sequence[Any]


class _Recorder:
    """Stands in for a connection and its cursors: records statements, returns no rows."""

    def __init__(self, log: list[Statement]) -> None:
        self._log = log

    def execute(self, query: Any, params: Sequence[Any] | None = None) -> _Recorder:
        composable = query if isinstance(query, sql.Composable) else sql.SQL(query)
        self._log.append(Statement(composable, list(params or ())))
        return self

    def cursor(self, **_: Any) -> _Recorder:
        return self

    def fetchall(self) -> list[Any]:
        return []

    def fetchone(self) -> None:
        return None

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *_: object) -> None:
        return None


class CapturingGateway:
    """A Gateway whose `run(work)` records the SQL `work` would run."""

    def __init__(self) -> None:
        self.log: list[Statement] = []

    async def run(self, work: Any) -> Any:
        return work(_Recorder(self.log))


async def captured(call: Any, *args: Any, **kwargs: Any) -> list[Statement]:
    gateway = CapturingGateway()
    await call(gateway, *args, **kwargs)
    return gateway.log


async def service_queries(
    now: datetime, middle_id: uuid.UUID, first_page_last: tuple[datetime, uuid.UUID]
) -> list[tuple[str, Statement]]:
    """(name, statement) for every query to explain, as the service builds them."""
    day = timedelta(days=1)
    last_24h = EventFilter(time_from=now - day, time_to=now)  # the stats/groups default range
    lists = {
        "list_newest": EventFilter(),
        "list_type": EventFilter(types=("job.finished",)),
        "list_type_rare": EventFilter(types=("auth.logout",)),
        "list_min_level_error": EventFilter(min_level=3),
        "list_level_critical": EventFilter(levels=(4,)),
        "list_source_time_range": EventFilter(
            sources=("worker-03",), time_from=now - 3 * day, time_to=now - 2 * day
        ),
        "list_q_deadlock": EventFilter(text="deadlock"),
        "list_q_common": EventFilter(text="rows"),
        "list_attr_status_500": EventFilter(attributes=(("status", "500"),)),
    }
    out: list[tuple[str, Statement]] = []
    for name, event_filter in lists.items():
        (statement,) = await captured(event_store.list_events, event_filter, limit=101, before=None)
        out.append((name, statement))
    (statement,) = await captured(
        event_store.list_events, EventFilter(), limit=101, before=first_page_last
    )
    out.append(("list_keyset_page_2", statement))
    (statement,) = await captured(event_store.get_event, middle_id)
    out.append(("get_by_id", statement))
    # One grouping-sets scan gives every count of /events/stats.
    (statement,) = await captured(
        event_store.event_stats, last_24h, interval=timedelta(hours=1), top=20
    )
    out.append(("stats_24h", statement))
    (statement,) = await captured(event_store.top_groups, last_24h, statuses=(), limit=20)
    out.append(("groups_top_24h", statement))
    return out


async def first_page_last(url: str) -> tuple[datetime, uuid.UUID]:
    """The cursor of the first page (limit 100), from the service's own list_events."""
    async with open_gateway(
        url, pool_size=1, statement_timeout=60, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        events = await event_store.list_events(gateway, EventFilter(), limit=101, before=None)
    return events[99].time, events[99].id


# --- explaining ------------------------------------------------------------------------------

_EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")
_PLANNING = re.compile(r"Planning Time: ([\d.]+) ms")


def explain(connection: psycopg.Connection[Any], statement: Statement) -> tuple[str, float, float]:
    connection.execute(statement.query, statement.params).fetchall()  # warm the cache
    rows = connection.execute(
        sql.SQL("explain (analyze, buffers, costs off) ") + statement.query, statement.params
    ).fetchall()
    plan = "\n".join(str(row[0]) for row in rows)
    execution = _EXECUTION.search(plan)
    planning = _PLANNING.search(plan)
    return (
        plan,
        float(execution[1]) if execution else float("nan"),
        float(planning[1]) if planning else float("nan"),
    )


def explain_generic(
    connection: psycopg.Connection[Any], statement: Statement, name: str
) -> tuple[str, float]:
    """The plan PostgreSQL uses once it switches the prepared statement to a generic plan."""
    text = statement.query.as_string(connection)
    parts = text.split("%s")
    assert len(parts) == len(statement.params) + 1
    numbered = parts[0] + "".join(f"${n + 1}{part}" for n, part in enumerate(parts[1:]))
    connection.execute(sql.SQL("prepare {} as ").format(sql.Identifier(name)) + sql.SQL(numbered))
    try:
        connection.execute("set plan_cache_mode = force_generic_plan")
        execute = sql.SQL("execute {} ({})").format(
            sql.Identifier(name), sql.SQL(", ").join(sql.Literal(p) for p in statement.params)
        )
        connection.execute(execute).fetchall()
        rows = connection.execute(
            sql.SQL("explain (analyze, buffers, costs off) ") + execute
        ).fetchall()
    finally:
        connection.execute("reset plan_cache_mode")
        connection.execute(sql.SQL("deallocate {}").format(sql.Identifier(name)))
    plan = "\n".join(str(row[0]) for row in rows)
    execution = _EXECUTION.search(plan)
    return plan, float(execution[1]) if execution else float("nan")


def show(title: str, body: str) -> None:
    print(f"\n=== {title} " + "=" * max(3, 96 - len(title)))
    print(body, flush=True)


# --- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--generic", action="store_true", help="also show generic plans")
    args = parser.parse_args()
    if not (1000 <= args.rows <= 20_000_000 and 1 <= args.days <= 30):
        parser.error("need 1000 <= rows <= 20000000 and 1 <= days <= 30")
    return args


def main() -> None:
    args = parse_args()
    on_throwaway_database("bench_explain", lambda url: run(url, args))


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    apply_migrations(url)
    now = datetime.now(UTC)
    today = DayPartition.containing(now).day
    days = {DayPartition(today - timedelta(days=back)) for back in range(args.days)}
    days |= partitions_ahead(now, DAYS_AHEAD)
    created = trio.run(create_day_partitions, url, sorted(days))
    say(f"{len(created)} partitions: {created[0].name('events')} .. {created[-1].name('events')}")
    group_ids = create_groups(url)

    start = min(days).start
    say(f"loading {args.rows:,} events from {start:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} ...")
    began = time.perf_counter()
    rows = generate_rows(args.rows, start, now, args.seed, group_ids)
    loaded, middle_id = load(url, rows, args.rows // 2)
    load_seconds = time.perf_counter() - began
    say(f"loaded {loaded:,} rows in {load_seconds:.1f} s ({loaded / load_seconds:,.0f} rows/s)")
    began = time.perf_counter()
    finish_groups(url)
    say(f"vacuum (analyze) in {time.perf_counter() - began:.1f} s")

    with psycopg.connect(url, autocommit=True) as connection:
        sizes = connection.execute(
            "select pg_size_pretty(sum(pg_table_size(inhrelid))), "
            "pg_size_pretty(sum(pg_indexes_size(inhrelid))) "
            "from pg_inherits where inhparent = 'events'::regclass"
        ).fetchone()
        levels = connection.execute(
            "select level, count(*) from events group by level order by level"
        ).fetchall()
    say(f"events: heap {sizes[0] if sizes else '?'}, indexes {sizes[1] if sizes else '?'}")
    say(f"rows by level: {dict(levels)}")

    cursor = trio.run(first_page_last, url)
    statements = trio.run(service_queries, now, middle_id, cursor)
    execution_ms: dict[str, float] = {}
    planning_ms: dict[str, float] = {}
    generic_ms: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as connection:
        for name, statement in statements:
            plan, execution, planning = explain(connection, statement)
            params = ", ".join(_short(p) for p in statement.params)
            show(name, f"{statement.query.as_string(connection)}\n-- params: {params}\n\n{plan}")
            execution_ms[name] = execution
            planning_ms[name] = planning
        if args.generic:
            for name, statement in statements:
                plan, execution = explain_generic(connection, statement, f"bench_{name}")
                show(f"{name} (generic plan)", plan)
                generic_ms[name] = execution
    summary: dict[str, Any] = {
        "rows": loaded,
        "days": args.days,
        "load_rows_per_s": round(loaded / load_seconds),
        "execution_ms": execution_ms,
        "planning_ms": planning_ms,
    }
    if generic_ms:
        summary["generic_execution_ms"] = generic_ms
    return summary


def _short(value: Any) -> str:
    text = str(getattr(value, "obj", value))
    return text if len(text) < 60 else text[:57] + "..."


if __name__ == "__main__":
    main()
