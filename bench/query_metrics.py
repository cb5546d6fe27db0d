"""Metric query latency through the real service, against the raw SQL it stands for.

    python bench/query_metrics.py [--series 1000] [--points 10000] [--runs 30] [--explain]

On a throw-away database `bench_mquery_<random>` (dropped at the end, also on
error or Ctrl-C):

1. Load: one gauge `node_load` with `--series` series (labels host=h0..h999),
   each with `--points` samples 10 s apart ending now (1000 x 10,000 = 10M
   rows over ~28 h), in time order (as ingest writes them: every timestep's
   1000 rows together), by binary COPY from two connections into each day's
   partition table before it is attached; attaching then builds the partition's
   (series_id, time) index in one pass. The tables, partitions and index end up
   as the migrations and `monitor.storage.partitions` make them (only the index
   is denser than one grown by inserts). Then ANALYZE, as autovacuum would.
2. Rollups: `monitor.storage.rollups.roll_up(gateway, now, timedelta(0))`,
   repeated until its watermark reaches the current minute (one day per call),
   through a gateway with a 600 s statement timeout: a whole day of 1000 series
   takes ~40 s, past the service's default MONITOR_DB_STATEMENT_TIMEOUT (30 s).
   Then ANALYZE of the rollup tables.
3. Queries: starts the real service in this process (port 0) and times, with
   one keep-alive httpx client, `--warmups` untimed then `--runs` timed runs of
   (a) one series (label.host=h17), the last 24 h at interval=1m (from/to on
       whole minutes, so 1-minute rollups can serve it);
   (b) avg over all series at interval=5m over the whole loaded range (from/to
       on 5-minute boundaries, so the newest few minutes come from raw samples);
   (c) GET /api/v1/metrics/latest?name=node_load&limit=1000;
   each also as the equivalent SQL on the raw `samples` table (plain psycopg,
   one connection, rows fetched into Python): date_bin + avg grouped for (a)
   and (b), a lateral `order by time desc limit 1` per series for (c). A
   measurement stops early (at least 5 runs) once it has taken `--budget`
   seconds, and a call slower than 1 s is warmed up once only: the raw (b)
   scan of all 10M rows takes seconds a run.
   Diagnostics in the same run: each storage function the route calls
   (`metric_query.query_series` / `latest_values`) timed alone through a
   gateway like the service's (SQL + psycopg + its Python, no HTTP/JSON), and
   GET /health through the same client (the HTTP floor).
   The API answers are compared with the raw SQL answers (every bucket, values
   within 1e-9 relative): this checks the rollup path end to end.
4. With --explain, the SQL the service ran for (a), (b) and (c) (captured from
   `monitor.storage.metric_query` through a recording connection) is shown with
   EXPLAIN (ANALYZE, BUFFERS) on stderr, as are the raw SQL forms.

The last line on stdout is one JSON object; progress goes to stderr.

Caveats: 2 cores, and the httpx client runs in the service's own process and
Trio loop (its CPU comes out of the service's thread). The service's rollup
actor keeps running (every MONITOR_ROLLUP_INTERVAL seconds) while queries are
timed, as it would in production. psycopg prepares a statement on its 5th
execution on a connection, and PostgreSQL may then switch to a generic plan:
both the service's pooled connections and the raw connection are subject to it.
The PostgreSQL server is shared: anything else running on it disturbs the
figures.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import queue
import random
import re
import statistics
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import trio
from psycopg import sql

import metric_data
from common import on_throwaway_database, say, with_service_settings
from monitor import service
from monitor.config import Settings
from monitor.domain.audit import Actor, Attribution
from monitor.domain.intervals import parse_interval
from monitor.domain.keys import Role
from monitor.domain.metrics import LabelMatcher
from monitor.domain.partitions import DayPartition
from monitor.storage import keys as key_store
from monitor.storage import metric_query, rollups
from monitor.storage.gateway import Gateway, open_gateway
from monitor.storage.migrate import apply_migrations

NAME = "node_load"
STEP = timedelta(seconds=10)
CHUNK_STEPS = 100  # timesteps per COPY transaction while loading
LOADERS = 2
TOLERANCE = 1e-9
# The targets for the API medians.
TARGETS_MS = {"a_one_series_24h_1m": 10.0, "b_all_series_28h_5m": 150.0, "c_latest_all": 30.0}


# --- loading ---------------------------------------------------------------------------------


def create_series(url: str, count: int) -> list[int]:
    """The metric and its series (labels host=h<n>); their ids in host order."""
    with psycopg.connect(url) as connection:
        connection.execute("insert into metrics (name, type) values (%s, 'gauge')", (NAME,))
        connection.execute(
            "insert into series (name, source, labels) "
            "select %s, '', jsonb_build_object('host', 'h' || n) "
            "from generate_series(0, %s - 1) n order by n",
            (NAME, count),
        )
        ids = {
            str(host): int(series_id)
            for series_id, host in connection.execute(
                "select id, labels ->> 'host' from series where name = %s", (NAME,)
            )
        }
    assert len(ids) == count
    return [ids[f"h{n}"] for n in range(count)]


def chunks(
    ids: Sequence[int], first: datetime, points: int
) -> Iterator[tuple[DayPartition, int, bytes]]:
    """(day, rows, binary COPY payload) of CHUNK_STEPS timesteps at most, never across days.

    Values look like a machine's load: a daily wave with a per-host phase and
    level, plus noise. Rows are encoded by hand (see metric_data.ROW): each
    series' fixed prefix, the timestep's time, then the value.
    """
    rng = random.Random(5)
    noise = [rng.gauss(0, 0.05) for _ in range(65_521)]
    count = len(ids)
    prefixes = [struct.pack("!hiii", 3, 4, series_id, 8) for series_id in ids]
    levels = [1.0 + (number % 17) * 0.25 for number in range(count)]
    phases = [number * 0.37 for number in range(count)]
    values_of = struct.Struct(f"!{count}d").pack
    sin = math.sin
    step = 0
    while step < points:
        day = DayPartition.containing(first + step * STEP)
        parts = [metric_data.synthetic.COPY_SIGNATURE]
        rows = 0
        while step < points and rows < CHUNK_STEPS * count:
            moment = first + step * STEP
            if DayPartition.containing(moment) != day:
                break
            middle = struct.pack("!qi", metric_data.microseconds(moment), 8)
            angle = 2 * math.pi * step / 8640
            packed = values_of(
                *[
                    levels[n] + 0.8 * sin(angle + phases[n]) + noise[(n * 7919 + step) % 65_521]
                    for n in range(count)
                ]
            )
            parts.extend(
                [prefix + middle + packed[8 * n : 8 * n + 8] for n, prefix in enumerate(prefixes)]
            )
            rows += count
            step += 1
        parts.append(metric_data.synthetic.COPY_TRAILER)
        yield day, rows, b"".join(parts)


def load(url: str, ids: Sequence[int], first: datetime, points: int) -> dict[DayPartition, int]:
    """COPY every chunk into its (not yet attached) day table from LOADERS connections."""
    work: queue.Queue[tuple[DayPartition, int, bytes] | None] = queue.Queue(maxsize=LOADERS * 2)
    errors: list[BaseException] = []

    def loader() -> None:
        try:
            with psycopg.connect(url) as connection:
                connection.execute("set synchronous_commit = off")  # load speed only
                while (item := work.get()) is not None:
                    day, _, payload = item
                    statement = sql.SQL(
                        "copy {} (series_id, time, value) from stdin (format binary)"
                    ).format(sql.Identifier(day.name("samples")))
                    with (
                        connection.transaction(),
                        connection.cursor() as cursor,
                        cursor.copy(statement) as copy,
                    ):
                        copy.write(payload)
        except BaseException as error:
            errors.append(error)
            while work.get() is not None:  # keep the producer from blocking forever
                pass

    threads = [threading.Thread(target=loader, daemon=True) for _ in range(LOADERS)]
    for thread in threads:
        thread.start()
    loaded: dict[DayPartition, int] = {}
    try:
        for day, rows, payload in chunks(ids, first, points):
            if errors:
                break
            loaded[day] = loaded.get(day, 0) + rows
            work.put((day, rows, payload))
    finally:
        for _ in threads:
            work.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return loaded


def create_tables(url: str, days: Sequence[DayPartition]) -> None:
    """Each day's table as monitor.storage.partitions creates it, not attached yet."""
    with psycopg.connect(url, autocommit=True) as connection:
        for day in days:
            connection.execute(
                sql.SQL(
                    "create table {} (like samples including defaults including constraints)"
                ).format(sql.Identifier(day.name("samples")))
            )


def attach_tables(url: str, days: Sequence[DayPartition]) -> None:
    """Attach as monitor.storage.partitions does; this builds each (series_id, time) index."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("set maintenance_work_mem = '256MB'")  # index builds: load speed only
        for day in days:
            connection.execute(
                sql.SQL(
                    "alter table samples attach partition {} for values from ({}) to ({})"
                ).format(
                    sql.Identifier(day.name("samples")),
                    sql.Literal(day.start),
                    sql.Literal(day.end),
                )
            )
        connection.execute("analyze samples")
        connection.execute("analyze series")


async def roll_up_all(url: str) -> tuple[int, datetime | None]:
    """Run the rollup job until its watermark reaches the current minute."""
    async with open_gateway(
        url, pool_size=1, statement_timeout=600, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        mark: datetime | None = None
        for calls in range(1, 200):  # the job advances at most an hour per call
            now = datetime.now(UTC)
            began = time.perf_counter()
            mark = await rollups.roll_up(gateway, now, timedelta(0))
            say(f"  roll_up: watermark {mark:%Y-%m-%d %H:%M} ({time.perf_counter() - began:.1f} s)")
            if mark is not None and mark >= rollups.floor_to(now, rollups.MINUTE):
                return calls, mark
    return calls, mark


# --- the queries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    params: dict[str, str]
    raw_sql: str
    raw_params: dict[str, Any]


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def cases(host_id: int, first: datetime, last: datetime, now: datetime) -> list[Case]:
    minute_to = rollups.floor_to(now, 60)
    minute_from = minute_to - timedelta(hours=24)
    five_from = rollups.floor_to(first, 300)
    five_to = rollups.floor_to(last, 300) + timedelta(seconds=300)
    return [
        Case(
            "a_one_series_24h_1m",
            "/api/v1/metrics",
            {
                "name": NAME,
                "label.host": "h17",
                "from": _rfc3339(minute_from),
                "to": _rfc3339(minute_to),
                "interval": "1m",
            },
            """
            select date_bin('60 seconds', time, timestamptz '1970-01-01Z') as bucket, avg(value)
            from samples
            where series_id = %(series)s and time >= %(from)s and time < %(to)s
            group by bucket order by bucket
            """,
            {"series": host_id, "from": minute_from, "to": minute_to},
        ),
        Case(
            "b_all_series_28h_5m",
            "/api/v1/metrics",
            {"name": NAME, "from": _rfc3339(five_from), "to": _rfc3339(five_to), "interval": "5m"},
            """
            select date_bin('300 seconds', p.time, timestamptz '1970-01-01Z') as bucket,
                   avg(p.value)
            from samples p join series s on s.id = p.series_id
            where s.name = %(name)s and s.deleted_at is null
              and p.time >= %(from)s and p.time < %(to)s
            group by bucket order by bucket
            """,
            {"name": NAME, "from": five_from, "to": five_to},
        ),
        Case(
            "c_latest_all",
            "/api/v1/metrics/latest",
            {"name": NAME, "limit": "1000"},
            """
            select s.id, l.time, l.value
            from series s
            cross join lateral (
                select time, value from samples where series_id = s.id
                order by time desc limit 1
            ) l
            where s.name = %(name)s and s.deleted_at is null
            order by s.id
            """,
            {"name": NAME},
        ),
    ]


@dataclass
class Timing:
    runs: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        ordered = sorted(self.runs)
        p95 = ordered[min(len(ordered) - 1, max(0, math.ceil(0.95 * len(ordered)) - 1))]
        return {
            "median_ms": round(statistics.median(ordered) * 1000, 2),
            "p95_ms": round(p95 * 1000, 2),
            "runs": len(ordered),
        }


async def time_calls(
    call: Callable[[], Any], warmups: int, runs: int, budget: float
) -> tuple[Timing, Any]:
    """`warmups` untimed calls, then up to `runs` timed ones (at least 5, within `budget` s).

    A call slower than a second is warmed up once only.
    """
    answer = None
    for _ in range(warmups):
        began = time.perf_counter()
        answer = await call()
        if time.perf_counter() - began > 1.0:
            break
    timing = Timing()
    started = time.perf_counter()
    for number in range(runs):
        if number >= 5 and time.perf_counter() - started > budget:
            break
        began = time.perf_counter()
        answer = await call()
        timing.runs.append(time.perf_counter() - began)
    return timing, answer


def compare_buckets(
    label: str, api_points: Sequence[Sequence[float]], raw_rows: Sequence[tuple[Any, ...]]
) -> bool:
    api = {int(bucket): float(value) for bucket, value in api_points}
    raw = {int(bucket.timestamp()): float(value) for bucket, value in raw_rows}
    missing = sorted(set(raw) - set(api))
    extra = sorted(set(api) - set(raw))
    worst, worst_at = 0.0, None
    for bucket in set(api) & set(raw):
        scale = max(abs(api[bucket]), abs(raw[bucket]), 1e-300)
        error = abs(api[bucket] - raw[bucket]) / scale
        if error > worst:
            worst, worst_at = error, bucket
    agree = not missing and not extra and worst <= TOLERANCE
    say(
        f"agreement {label}: {'OK' if agree else 'MISMATCH'} — {len(api)} API buckets, "
        f"{len(raw)} raw buckets, missing {len(missing)}, extra {len(extra)}, "
        f"worst relative difference {worst:.2e}"
        + (f" at {datetime.fromtimestamp(worst_at, UTC):%H:%M}" if worst_at else "")
    )
    if missing or extra:
        say(f"  first missing {missing[:3]}, first extra {extra[:3]}")
    return agree


def compare_latest(api: Sequence[dict[str, Any]], raw_rows: Sequence[tuple[Any, ...]]) -> bool:
    api_values = {int(item["series_id"]): float(item["value"]) for item in api}
    raw_values = {int(series_id): float(value) for series_id, _, value in raw_rows}
    agree = api_values == raw_values
    say(
        f"agreement c_latest_all: {'OK' if agree else 'MISMATCH'} — "
        f"{len(api_values)} API series, {len(raw_values)} raw series"
    )
    return agree


# --- capturing the service's SQL -------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    query: Any
    params: Any


class RecordingConnection:
    """A real connection that also records every statement executed through it."""

    def __init__(self, connection: psycopg.Connection[Any], log: list[Statement]) -> None:
        self._connection = connection
        self._log = log

    def execute(self, query: Any, params: Any = None) -> Any:
        self._log.append(Statement(query, params))
        return self._connection.execute(query, params)


class RecordingGateway:
    def __init__(self, url: str) -> None:
        self.url = url
        self.log: list[Statement] = []

    async def run(self, work: Any, *, autocommit: bool = False) -> Any:
        def in_thread() -> Any:
            with psycopg.connect(self.url, options="-c TimeZone=UTC") as connection:
                return work(RecordingConnection(connection, self.log))

        return await trio.to_thread.run_sync(in_thread)


def series_query(case: Case) -> metric_query.SeriesQuery:
    """The SeriesQuery the /api/v1/metrics route builds for `case`."""
    return metric_query.SeriesQuery(
        name=NAME,
        matchers=tuple(
            LabelMatcher(key[len("label.") :], value, True)
            for key, value in sorted(case.params.items())
            if key.startswith("label.")
        ),
        time_from=datetime.fromisoformat(case.params["from"]),
        time_to=datetime.fromisoformat(case.params["to"]),
        interval=parse_interval(case.params["interval"]),
        aggregation="avg",
        group_by=(),
    )


async def service_statements(url: str, case_list: Sequence[Case]) -> list[tuple[str, Statement]]:
    """(case, statement) for every statement the service's storage functions run."""
    out: list[tuple[str, Statement]] = []
    for case in case_list:
        gateway = RecordingGateway(url)
        if case.path.endswith("/latest"):
            await metric_query.latest_values(
                gateway,
                name=NAME,
                source=None,
                matchers=(),
                limit=int(case.params["limit"]),
            )
        else:
            await metric_query.query_series(gateway, series_query(case))
        out.extend((case.name, statement) for statement in gateway.log)
    return out


_EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")


def explain_all(url: str, labelled: Sequence[tuple[str, Statement]]) -> dict[str, float]:
    times: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True, options="-c TimeZone=UTC") as connection:
        for number, (label, statement) in enumerate(labelled):
            query = statement.query
            query = query if isinstance(query, sql.Composable) else sql.SQL(query)
            connection.execute(query, statement.params).fetchall()  # warm the cache
            rows = connection.execute(
                sql.SQL("explain (analyze, buffers) ") + query, statement.params
            ).fetchall()
            plan = "\n".join(str(row[0]) for row in rows)
            found = _EXECUTION.search(plan)
            key = f"{label}#{number}"
            times[key] = float(found[1]) if found else float("nan")
            text = query.as_string(connection)
            say(f"\n=== {key} {'=' * 70}\n{text.strip()}\n-- params: {statement.params}\n\n{plan}")
    return times


# --- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=10_000, help="samples per series")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per measurement")
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--budget", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE on stderr")
    args = parser.parse_args()
    if not (
        18 <= args.series <= 10_000
        and 10 <= args.points <= 60_000
        and 5 <= args.runs <= 1000
        and 0 <= args.warmups <= 100
        and 0 < args.budget <= 600
    ):
        parser.error(
            "need 18 <= series <= 10000, 10 <= points <= 60000 (<= 7 days at 10 s), "
            "5 <= runs <= 1000, 0 <= warmups <= 100, 0 < budget <= 600"
        )
    return args


def main() -> None:
    args = parse_args()
    on_throwaway_database(
        "bench_mquery", with_service_settings(lambda url, settings: run(url, settings, args))
    )


def run(url: str, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    apply_migrations(url)
    ids = create_series(url, args.series)
    now = datetime.now(UTC).replace(microsecond=0)
    first = now - (args.points - 1) * STEP
    days = sorted({DayPartition.containing(first + n * STEP) for n in range(args.points)})
    create_tables(url, days)
    say(
        f"loading {args.series} series x {args.points} points ({args.series * args.points:,} rows) "
        f"from {first:%Y-%m-%d %H:%M:%S} to {now:%Y-%m-%d %H:%M:%S} into {len(days)} days ..."
    )
    began = time.perf_counter()
    loaded = load(url, ids, first, args.points)
    copy_seconds = time.perf_counter() - began
    total = sum(loaded.values())
    say(f"copied {total:,} rows in {copy_seconds:.1f} s ({total / copy_seconds:,.0f} rows/s)")
    began = time.perf_counter()
    attach_tables(url, days)
    attach_seconds = time.perf_counter() - began
    say(f"attached (index builds) and analyzed in {attach_seconds:.1f} s")
    with psycopg.connect(url, autocommit=True) as connection:
        sizes = connection.execute(
            "select pg_size_pretty(sum(pg_table_size(inhrelid))), "
            "pg_size_pretty(sum(pg_indexes_size(inhrelid))) "
            "from pg_inherits where inhparent = 'samples'::regclass"
        ).fetchone()
    say(f"samples: heap {sizes[0] if sizes else '?'}, index {sizes[1] if sizes else '?'}")

    say("rolling up ...")
    began = time.perf_counter()
    calls, mark = trio.run(roll_up_all, url)
    rollup_seconds = time.perf_counter() - began
    say(f"rollups done in {calls} calls, {rollup_seconds:.1f} s; watermark {mark}")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("analyze rollups")
        connection.execute("analyze name_rollups")

    case_list = cases(ids[17], first, now, datetime.now(UTC))
    results, agreement = trio.run(query_phase, url, settings, case_list, args)
    summary: dict[str, Any] = {}
    for case in case_list:
        for side in ("api", "sql"):
            timing = results[f"{case.name}_{side}"]
            summary[f"{case.name}_{side}_median_ms"] = timing["median_ms"]
            summary[f"{case.name}_{side}_p95_ms"] = timing["p95_ms"]
    summary.update(
        {
            "agree": agreement,
            "api_targets_met": {
                case.name: results[f"{case.name}_api"]["median_ms"] < TARGETS_MS[case.name]
                for case in case_list
            },
            # Diagnostics: the storage function alone (SQL + psycopg + its Python,
            # no HTTP), and the HTTP floor (GET /health through the same client).
            "storage_median_ms": {
                case.name: results[f"{case.name}_storage"]["median_ms"] for case in case_list
            },
            "health_median_ms": results["health_api"]["median_ms"],
            "runs": {key: timing["runs"] for key, timing in results.items()},
            "rows": total,
            "series": args.series,
            "points": args.points,
            "load_rows_per_s": round(total / copy_seconds),
            "attach_seconds": round(attach_seconds, 1),
            "rollup_seconds": round(rollup_seconds, 1),
            "rollup_calls": calls,
        }
    )
    if args.explain:
        statements = trio.run(service_statements, url, case_list)
        raw = [(f"{case.name}_raw", Statement(case.raw_sql, case.raw_params)) for case in case_list]
        summary["explain_ms"] = explain_all(url, [*statements, *raw])
    return summary


async def query_phase(
    url: str, settings: Settings, case_list: Sequence[Case], args: argparse.Namespace
) -> tuple[dict[str, dict[str, float | int]], dict[str, bool]]:
    async with open_gateway(
        url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        _, token = await key_store.create_key(
            gateway,
            name="bench",
            role=Role.READ,
            rate_limit=0,
            expires_at=None,
            by=Attribution(Actor.system("bench")),
        )
    results: dict[str, dict[str, float | int]] = {}
    answers: dict[str, tuple[Any, Any]] = {}

    async def measure(key: str, call: Callable[[], Any]) -> Any:
        say(f"{key} ...")
        timing, answer = await time_calls(call, args.warmups, args.runs, args.budget)
        results[key] = timing.summary()
        say(f"  {results[key]}")
        return answer

    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        with trio.fail_after(60):
            running: service.Running = await nursery.start(
                functools.partial(service.run, settings, stop=stop, handle_signals=False)
            )
        try:
            with trio.fail_after(900):
                async with (
                    httpx.AsyncClient(
                        base_url=f"http://127.0.0.1:{running.port}",
                        headers={"X-API-Key": token},
                        timeout=httpx.Timeout(60),
                    ) as client,
                    open_gateway(
                        url,
                        pool_size=settings.db_pool_size,
                        statement_timeout=settings.db_statement_timeout,
                        acquire_timeout=settings.db_acquire_timeout,
                        connect_timeout=settings.db_connect_timeout,
                    ) as storage,
                ):
                    await measure("health_api", functools.partial(_health, client))
                    raw = psycopg.connect(url, autocommit=True, options="-c TimeZone=UTC")
                    try:
                        for case in case_list:
                            api = await measure(
                                f"{case.name}_api", functools.partial(_get, client, case)
                            )
                            await measure(
                                f"{case.name}_storage", functools.partial(_storage, storage, case)
                            )
                            sql_rows = await measure(
                                f"{case.name}_sql", functools.partial(_raw, raw, case)
                            )
                            answers[case.name] = (api, sql_rows)
                    finally:
                        raw.close()
        finally:
            stop.set()
    agreement: dict[str, bool] = {}
    for case in case_list:
        api_body, raw_rows = answers[case.name]
        document = json.loads(api_body)
        if case.path.endswith("/latest"):
            agreement[case.name] = compare_latest(document["series"], raw_rows)
        else:
            groups = document["series"]
            points = groups[0]["points"] if len(groups) == 1 else []
            if len(groups) != 1:
                say(f"{case.name}: expected one group, got {len(groups)}")
            agreement[case.name] = compare_buckets(case.name, points, raw_rows)
    return results, agreement


async def _health(client: httpx.AsyncClient) -> bytes:
    response = await client.get("/health")
    response.raise_for_status()
    return response.content


async def _storage(gateway: Gateway, case: Case) -> Any:
    """The storage function the route calls, as the route calls it (no HTTP, no JSON)."""
    if case.path.endswith("/latest"):
        return await metric_query.latest_values(
            gateway, name=NAME, source=None, matchers=(), limit=int(case.params["limit"])
        )
    return await metric_query.query_series(gateway, series_query(case))


async def _get(client: httpx.AsyncClient, case: Case) -> bytes:
    response = await client.get(case.path, params=case.params)
    if response.status_code != 200:
        raise RuntimeError(f"{case.name}: {response.status_code} {response.text[:300]}")
    return response.content


async def _raw(connection: psycopg.Connection[Any], case: Case) -> list[tuple[Any, ...]]:
    def fetch() -> list[tuple[Any, ...]]:
        return connection.execute(case.raw_sql, case.raw_params).fetchall()

    return await trio.to_thread.run_sync(fetch)


if __name__ == "__main__":
    main()
