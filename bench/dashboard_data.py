"""The dashboard benchmark's data set: 7 days of events and metrics, built once and kept.

It lives in the database `bench_dashboard` on the benchmark server (not a
throw-away one: building it takes minutes on the 2-core machine), with a row
in `bench_dashboard_marker` saying what it holds. A run reuses it when the
marker's layout matches and its data ends less than `max_gap` ago, and tops
it up to the current minute; otherwise (or with `--rebuild`) it is dropped
and built again.

What it holds, over the 7 days before the build:

- 1,000,000 events, more by day than by night and fewer at weekends: levels
  skewed to info (about 2 % error and critical), 20 types and 50 sources with
  Zipf-like skew, and 300 recurring error signatures (Zipf-like; a fifth of
  them first appear during the week, a few incidents multiply one of them
  for half an hour). Their groups are in `event_groups` (some resolved or
  ignored), with counts and first/last seen as the service keeps them.
  HTTP events carry `route`, `method`, `status` and a numeric `duration_ms`
  (what `top/slow-requests` ranks), database and job events `duration_ms`.
- 1,000 series over 20 metric names (gauges, counters, histograms) with
  realistic labels, one sample every 60 s each: 10,080,000 samples.

It is loaded straight into the service's tables, as the migrations and
`monitor.storage.partitions` make them: binary COPY into each day's table
before it is attached (attaching then builds every index in one pass). The
rollups come from `monitor.storage.rollups.roll_up` and the event counts from
`monitor.storage.event_counts.count_new_events`, both called until caught up
(each timed): the service's own actors would do the same work, more slowly.
Events loaded by COPY get their `ingest_xid` from the column default, like
events ingested through the API.
"""

from __future__ import annotations

import bisect
import math
import queue
import random
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import trio
from psycopg import sql
from psycopg.types.json import set_json_dumps

import metric_data
import synthetic
from common import SERVER_URL, create_database, database_url_for, drop_database, say
from monitor.domain.events import derive_fingerprint
from monitor.domain.ids import RANDOM_BYTES, uuid7
from monitor.domain.partitions import DayPartition, partitions_spanning
from monitor.storage import event_counts, rollups
from monitor.storage import partitions as partition_store
from monitor.storage.events import COPY_COLUMNS, COPY_TYPES
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations

DATABASE = "bench_dashboard"
# Bump when what the data set holds changes: a data set of another layout is rebuilt.
LAYOUT = 1
DAYS = 7
EVENTS = 1_000_000
STEP = timedelta(seconds=60)  # between two samples of a series
LOADERS = 2
EVENT_CHUNK = 10_000  # events per COPY transaction
SAMPLE_CHUNK_STEPS = 60  # timesteps per COPY transaction
CATCH_UP_TIMEOUT = 900.0  # seconds the rollups or the event counts may take to catch up
EXPECTED_COPY_COLUMNS = (
    "id",
    "time",
    "received_at",
    "type",
    "level",
    "source",
    "message",
    "attributes",
    "fingerprint",
    "trace_id",
    "group_id",
)
MARKER = "bench_dashboard_marker"


# --- metrics -----------------------------------------------------------------------------------

# (name, type, label names, series). 1,000 series in all.
METRICS = (
    ("http_request_duration_seconds", "histogram", ("route", "method"), 120),
    ("http_requests_total", "counter", ("route", "status"), 100),
    ("node_cpu_usage_ratio", "gauge", ("host", "cpu"), 100),
    ("node_memory_used_bytes", "gauge", ("host",), 64),
    ("node_disk_used_ratio", "gauge", ("host", "disk"), 64),
    ("node_network_received_bytes_total", "counter", ("host", "interface"), 64),
    ("node_load1", "gauge", ("host",), 64),
    ("process_resident_memory_bytes", "gauge", ("host", "service"), 60),
    ("process_open_fds", "gauge", ("host", "service"), 40),
    ("queue_depth", "gauge", ("queue", "region"), 30),
    ("queue_messages_published_total", "counter", ("queue", "region"), 30),
    ("jobs_processed_total", "counter", ("worker", "job", "outcome"), 60),
    ("job_duration_seconds", "histogram", ("job",), 6),
    ("db_query_duration_seconds", "histogram", ("table", "operation"), 40),
    ("db_connections_in_use", "gauge", ("pool",), 8),
    ("cache_hits_total", "counter", ("cache", "region"), 20),
    ("cache_misses_total", "counter", ("cache", "region"), 20),
    ("payment_amount_eur", "histogram", ("provider",), 5),
    ("websocket_connections", "gauge", ("host",), 64),
    ("build_info", "gauge", ("service", "version"), 41),
)
POOLS = {
    **metric_data.POOLS,
    "disk": ("sda", "sdb", "nvme0n1", "nvme1n1"),
    "interface": ("eth0", "eth1", "lo"),
    "table": ("orders", "users", "carts", "invoices", "payments", "sessions", "events", "jobs"),
    "operation": ("select", "insert", "update", "delete", "copy"),
    "pool": ("primary", "replica", "analytics", "jobs"),
    "cache": ("sessions", "pages", "products", "prices"),
    "provider": ("stripe", "adyen", "paypal", "klarna", "sepa"),
    "version": ("1.41.0", "1.41.1", "1.42.0", "1.42.1", "1.43.0", "1.43.1", "1.44.0"),
}


@dataclass(frozen=True)
class SeriesSpec:
    name: str
    type: str
    labels: dict[str, str]


def series_specs() -> list[SeriesSpec]:
    """The 1,000 series: each metric's label combinations, from its pools in order."""
    out = []
    for name, kind, label_names, count in METRICS:
        seen = set()
        for number in range(count):
            labels = {}
            rest = number
            for position, label in enumerate(label_names):
                pool = POOLS[label]
                if position == len(label_names) - 1 and rest >= len(pool):
                    labels[label] = f"{pool[rest % len(pool)]}-{rest // len(pool)}"
                else:
                    labels[label] = pool[rest % len(pool)]
                rest //= len(pool)
            key = tuple(sorted(labels.items()))
            assert key not in seen
            seen.add(key)
            out.append(SeriesSpec(name, kind, labels))
    assert len(out) == 1000
    return out


class SampleValues:
    """Values for every series at one timestep: gauges wave daily, counters grow, histogram
    observations are log-normal. Deterministic for a seed; counters start at `start_step`."""

    def __init__(self, specs: Sequence[SeriesSpec], seed: int, start_step: int) -> None:
        rng = random.Random(seed)
        self._rng = rng
        count = len(specs)
        self._gauges = [n for n, s in enumerate(specs) if s.type == "gauge"]
        self._counters = [n for n, s in enumerate(specs) if s.type == "counter"]
        self._histograms = [n for n, s in enumerate(specs) if s.type == "histogram"]
        self._base = [self._gauge_level(spec, rng) for spec in specs]
        self._phase = [rng.uniform(0, 2 * math.pi) for _ in range(count)]
        self._rate = [rng.lognormvariate(2, 1) for _ in range(count)]  # counter per second
        self._total = [self._rate[n] * 60 * start_step for n in range(count)]
        self._mu = [math.log(0.03) + rng.gauss(0, 0.8) for _ in range(count)]
        self._values = [0.0] * count

    @staticmethod
    def _gauge_level(spec: SeriesSpec, rng: random.Random) -> float:
        if spec.name.endswith("_ratio"):
            return rng.uniform(0.2, 0.6)
        if spec.name.endswith("_bytes"):
            return rng.uniform(2e8, 8e9)
        return rng.uniform(5, 200)

    def at(self, moment: datetime) -> list[float]:
        values = self._values
        gauss = self._rng.gauss
        day_angle = 2 * math.pi * (moment.timestamp() % 86_400) / 86_400
        sin = math.sin
        for n in self._gauges:
            base = self._base[n]
            value = base * (1 + 0.3 * sin(day_angle + self._phase[n]) + 0.03 * gauss(0, 1))
            values[n] = min(value, 1.0) if base < 1 else value
        load = 1 + 0.5 * sin(day_angle)
        for n in self._counters:
            self._total[n] += self._rate[n] * 60 * load * (0.9 + 0.2 * self._rng.random())
            values[n] = float(int(self._total[n]))
        for n in self._histograms:
            values[n] = math.exp(self._mu[n] + 0.9 * gauss(0, 1))
        return values


def sample_payloads(
    series_ids: Sequence[int], values: SampleValues, first: datetime, steps: int
) -> Iterator[tuple[DayPartition, int, bytes]]:
    """(day, rows, binary COPY payload) of SAMPLE_CHUNK_STEPS timesteps at most, never across
    days; timestep k is at `first + k * STEP`, one sample per series, in time order."""
    count = len(series_ids)
    prefixes = [struct.pack("!hiii", 3, 4, series_id, 8) for series_id in series_ids]
    pack_values = struct.Struct(f"!{count}d").pack
    step = 0
    while step < steps:
        day = DayPartition.containing(first + step * STEP)
        parts = [synthetic.COPY_SIGNATURE]
        rows = 0
        while step < steps and rows < SAMPLE_CHUNK_STEPS * count:
            moment = first + step * STEP
            if DayPartition.containing(moment) != day:
                break
            middle = struct.pack("!qi", metric_data.microseconds(moment), 8)
            packed = pack_values(*values.at(moment))
            parts.extend(
                [prefix + middle + packed[8 * n : 8 * n + 8] for n, prefix in enumerate(prefixes)]
            )
            rows += count
            step += 1
        parts.append(synthetic.COPY_TRAILER)
        yield day, rows, b"".join(parts)


# --- events ------------------------------------------------------------------------------------

ERROR_TEMPLATES = (
    *synthetic.ERROR_MESSAGES,
    "TypeError in handler {n1}: cannot read property 'id' of undefined (request {n2})",
    "timeout after {ms} ms waiting for lock on row {n1} of table orders (attempt {n2})",
    "TLS handshake with upstream 10.{n2}.{n3}.4 failed after {ms} ms: certificate expired",
    "job {n1} failed: S3 PutObject returned 503 SlowDown after {ms} ms (retry {n2} of 5)",
    "invalid JSON in webhook {n1} from partner {n2}: unexpected end of input at byte {n3}",
    "disk usage at {n3} % on volume {n2}; write of {n1} bytes rejected after {ms} ms",
    "cache cluster node {n2} unreachable for {ms} ms; {n1} keys rehashed to node {n3}",
)
SIGNATURES = 300
LATE_SIGNATURES = 60  # first appear during the week
INCIDENTS = 6
INCIDENT_LENGTH = timedelta(minutes=30)
INCIDENT_ERROR_FACTOR = 6.0
ROUTES = POOLS["route"]
TABLES = POOLS["table"]
JOBS = POOLS["job"]
# Share of events at each level (debug .. critical), as synthetic.py.
LEVEL_CUMULATIVE = synthetic._cumulative(synthetic.LEVEL_WEIGHTS)


@dataclass(frozen=True)
class Signature:
    """One recurring error: its type, source and message template, and when it first occurs."""

    type: str
    source: str
    template: str
    born: datetime  # no event of it before this
    status: str


def error_signatures(data_from: datetime) -> list[Signature]:
    rng = random.Random(17)
    seen: set[tuple[str, str, str]] = set()
    out: list[Signature] = []
    while len(out) < SIGNATURES:
        key = (
            rng.choice(synthetic.TYPES[:14]),
            rng.choice(synthetic.SOURCES),
            rng.choice(ERROR_TEMPLATES),
        )
        if key in seen:
            continue
        seen.add(key)
        number = len(out)
        born = (
            data_from + timedelta(days=DAYS) * rng.random()
            if number >= SIGNATURES - LATE_SIGNATURES
            else data_from
        )
        status = "resolved" if number % 9 == 4 else "ignored" if number % 13 == 6 else "open"
        out.append(Signature(*key, born=born, status=status))
    return out


def minute_weight(moment: datetime) -> float:
    """How busy a minute is: a daily wave peaking at 14:00 UTC, quieter weekends."""
    hours = moment.hour + moment.minute / 60
    weekend = 0.7 if moment.weekday() >= 5 else 1.0
    return weekend * (1 + 0.5 * math.sin(2 * math.pi * (hours - 8) / 24))


# A week of minute_weight averages this (weeks repeat): events per minute scale by it.
_WEEK_MEAN = (
    sum(
        minute_weight(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=m))
        for m in range(10_080)
    )
    / 10_080
)
EVENTS_PER_MINUTE = EVENTS / (DAYS * 1440)


@dataclass(frozen=True)
class Incident:
    start: datetime
    signature: int


def incidents(data_from: datetime, signatures: Sequence[Signature]) -> list[Incident]:
    rng = random.Random(23)
    out = []
    for _ in range(INCIDENTS):
        start = data_from + (timedelta(days=DAYS) - INCIDENT_LENGTH) * rng.random()
        eligible = [n for n, s in enumerate(signatures[:40]) if s.born <= start]
        out.append(Incident(start, rng.choice(eligible)))
    return out


class EventMaker:
    """Events as COPY rows (COPY_COLUMNS order), in time order, for a span of minutes."""

    def __init__(
        self,
        signatures: Sequence[Signature],
        group_ids: dict[str, int],
        incident_list: Sequence[Incident],
        seed: int,
    ) -> None:
        self._rng = random.Random(seed)
        self._signatures = signatures
        self._group_ids = group_ids
        self._incidents = incident_list
        self._signature_cumulative = synthetic._cumulative(
            [1 / (rank + 1) ** 1.0 for rank in range(len(signatures))]
        )
        self._type_cumulative = synthetic._cumulative(synthetic._zipf(len(synthetic.TYPES)))
        self._source_cumulative = synthetic._cumulative(
            synthetic._zipf(len(synthetic.SOURCES), 0.8)
        )
        # Groups are created for every signature at build time; a top-up knows only
        # the groups that exist (signatures that never occurred were removed).
        self._grouped = [signature_fingerprint(s) in group_ids for s in signatures]
        self._route_median_ms = {route: 15 * 1.35**n for n, route in enumerate(ROUTES)}
        self._encode = msgspec.json.Encoder().encode

    def rows(self, start: datetime, end: datetime) -> Iterator[tuple[Any, ...]]:
        """Events of the whole minutes in [start, end), their number following minute_weight."""
        rng = self._rng
        carry = rng.random()
        minute = start
        while minute < end:
            carry += EVENTS_PER_MINUTE * minute_weight(minute) / _WEEK_MEAN
            count = int(carry)
            carry -= count
            incident = next(
                (i for i in self._incidents if i.start <= minute < i.start + INCIDENT_LENGTH),
                None,
            )
            offsets = sorted(rng.random() * 60 for _ in range(count))
            for offset in offsets:
                yield self._row(minute + timedelta(seconds=offset), incident)
            minute += timedelta(minutes=1)

    def posted(self, moment: datetime) -> dict[str, Any]:
        """One event at `moment` as a client would POST it (for the live feed)."""
        row = self._row(moment, None)
        body = {
            "type": row[3],
            "level": synthetic.LEVELS[row[4]],
            "source": row[5],
            "message": row[6],
            "attributes": msgspec.json.decode(row[7]),
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        if row[9] is not None:
            body["trace_id"] = row[9]
        return body

    def _row(self, moment: datetime, incident: Incident | None) -> tuple[Any, ...]:
        rng = self._rng
        draw = rng.random
        level = bisect.bisect_left(LEVEL_CUMULATIVE, draw())
        if incident is not None and level < 3 and draw() < 0.02 * INCIDENT_ERROR_FACTOR:
            level = 3
        fill = {
            "n1": 10_000 + int(draw() * 9_990_000),
            "n2": 1 + int(draw() * 999),
            "n3": 1 + int(draw() * 99),
            "ms": 1 + int(draw() * 29_999),
            "method": synthetic.METHODS[int(draw() * len(synthetic.METHODS))],
            "route": ROUTES[int(draw() * len(ROUTES))],
        }
        fingerprint = group_id = None
        if level >= 3:
            signature = self._signature(moment, incident)
            event_type, source, template = signature.type, signature.source, signature.template
            message = template.format(status=500, **fill)
            fingerprint = derive_fingerprint(event_type, source, message)
            group_id = self._group_ids[fingerprint]
            status = 500
        else:
            type_index = bisect.bisect_left(self._type_cumulative, draw())
            event_type = synthetic.TYPES[type_index]
            source = synthetic.SOURCES[bisect.bisect_left(self._source_cumulative, draw())]
            status = synthetic.STATUSES[bisect.bisect_left(synthetic._STATUSES_CUMULATIVE, draw())]
            message = synthetic.MESSAGES[type_index % len(synthetic.MESSAGES)].format(
                status=status, **fill
            )
        attributes = self._attributes(event_type, fill, status, level)
        received_at = moment + timedelta(milliseconds=5 + int(draw() * 1995))
        return (
            uuid7(int(received_at.timestamp() * 1000), rng.randbytes(RANDOM_BYTES)),
            moment,
            received_at,
            event_type,
            level,
            source,
            message,
            self._encode(attributes),
            fingerprint,
            f"{rng.getrandbits(128):032x}" if draw() < 0.3 else None,
            group_id,
        )

    def _signature(self, moment: datetime, incident: Incident | None) -> Signature:
        if incident is not None and self._rng.random() < 0.7:
            return self._signatures[incident.signature]
        for _ in range(20):
            number = bisect.bisect_left(self._signature_cumulative, self._rng.random())
            chosen = self._signatures[number]
            if chosen.born <= moment and self._grouped[number]:
                return chosen
        return self._signatures[0]

    def _attributes(
        self, event_type: str, fill: dict[str, Any], status: int, level: int
    ) -> dict[str, Any]:
        rng = self._rng
        slow = 4.0 if level >= 3 else 1.0
        if event_type.startswith("http."):
            route = fill["route"]
            median = self._route_median_ms[route] * slow
            return {
                "route": route,
                "method": fill["method"],
                "status": status,
                "duration_ms": round(median * rng.lognormvariate(0, 0.6), 2),
            }
        if event_type.startswith("db."):
            median = 40.0 if event_type == "db.slow_query" else 3.0
            return {
                "table": TABLES[int(rng.random() * len(TABLES))],
                "duration_ms": round(median * slow * rng.lognormvariate(0, 0.8), 2),
            }
        if event_type.startswith("job."):
            return {
                "job": JOBS[int(rng.random() * len(JOBS))],
                "duration_ms": round(800 * slow * rng.lognormvariate(0, 1.0), 1),
            }
        attributes: dict[str, Any] = {"status": status}
        if rng.random() < 0.5:
            attributes["region"] = synthetic.REGIONS[int(rng.random() * len(synthetic.REGIONS))]
        if rng.random() < 0.4:
            attributes["user_id"] = 1 + int(rng.random() * 500_000)
        return attributes


def signature_message(signature: Signature) -> str:
    """One of its messages: every one has the same fingerprint (numbers are normalised away)."""
    fill = {"n1": 10_000, "n2": 1, "n3": 1, "ms": 1, "method": "GET", "route": ROUTES[0]}
    return signature.template.format(status=500, **fill)


def signature_fingerprint(signature: Signature) -> str:
    return derive_fingerprint(signature.type, signature.source, signature_message(signature))


# --- loading -----------------------------------------------------------------------------------

EVENTS_COPY = sql.SQL("copy {} ({}) from stdin (format binary)")


class Loaders:
    """COPY jobs run by LOADERS connections in threads while the caller generates the next."""

    def __init__(self, url: str) -> None:
        self._work: queue.Queue[Callable[[psycopg.Connection[Any]], None] | None] = queue.Queue(
            maxsize=LOADERS * 2
        )
        self._errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._run, args=(url,), daemon=True) for _ in range(LOADERS)
        ]

    def __enter__(self) -> Loaders:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join()
        if self._errors:
            raise self._errors[0]

    def submit(self, job: Callable[[psycopg.Connection[Any]], None]) -> None:
        if self._errors:
            raise self._errors[0]
        self._work.put(job)

    def _run(self, url: str) -> None:
        try:
            with psycopg.connect(url) as connection:
                set_json_dumps(lambda value: value, connection)  # attributes are JSON bytes
                connection.execute("set synchronous_commit = off")  # load speed only
                while (job := self._work.get()) is not None:
                    with connection.transaction():
                        job(connection)
        except BaseException as error:
            self._errors.append(error)
            while self._work.get() is not None:  # keep the producer from blocking forever
                pass


def _check_columns() -> None:
    if tuple(COPY_COLUMNS) != EXPECTED_COPY_COLUMNS:
        raise RuntimeError(f"events columns are now {COPY_COLUMNS}: update EventMaker._row")


def copy_events(
    table: str, rows: list[tuple[Any, ...]]
) -> Callable[[psycopg.Connection[Any]], None]:
    statement = EVENTS_COPY.format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in COPY_COLUMNS)
    )

    def job(connection: psycopg.Connection[Any]) -> None:
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(list(COPY_TYPES))
            for row in rows:
                copy.write_row(row)

    return job


def copy_samples(table: str, payload: bytes) -> Callable[[psycopg.Connection[Any]], None]:
    statement = sql.SQL("copy {} (series_id, time, value) from stdin (format binary)").format(
        sql.Identifier(table)
    )

    def job(connection: psycopg.Connection[Any]) -> None:
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(payload)

    return job


def load_events(
    url: str,
    maker: EventMaker,
    start: datetime,
    end: datetime,
    table_for: Callable[[DayPartition], str],
) -> int:
    _check_columns()
    loaded = 0
    with Loaders(url) as loaders:
        chunk: list[tuple[Any, ...]] = []
        day: DayPartition | None = None
        for row in maker.rows(start, end):
            row_day = DayPartition.containing(row[1])
            if chunk and (row_day != day or len(chunk) >= EVENT_CHUNK):
                assert day is not None
                loaders.submit(copy_events(table_for(day), chunk))
                loaded += len(chunk)
                chunk = []
            day = row_day
            chunk.append(row)
        if chunk:
            assert day is not None
            loaders.submit(copy_events(table_for(day), chunk))
            loaded += len(chunk)
    return loaded


def load_samples(
    url: str,
    series_ids: Sequence[int],
    values: SampleValues,
    first: datetime,
    steps: int,
    table_for: Callable[[DayPartition], str],
) -> int:
    loaded = 0
    with Loaders(url) as loaders:
        for day, rows, payload in sample_payloads(series_ids, values, first, steps):
            loaders.submit(copy_samples(table_for(day), payload))
            loaded += rows
    return loaded


def create_detached(url: str, table: str, days: Sequence[DayPartition]) -> None:
    """Each day's table as monitor.storage.partitions creates it, not attached yet."""
    with psycopg.connect(url, autocommit=True) as connection:
        for day in days:
            connection.execute(
                sql.SQL(
                    "create table {} (like {} including defaults including constraints)"
                ).format(sql.Identifier(day.name(table)), sql.Identifier(table))
            )


def attach(url: str, table: str, days: Sequence[DayPartition]) -> None:
    """Attach as monitor.storage.partitions does; this builds each partition's indexes."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("set maintenance_work_mem = '256MB'")  # index builds: load speed only
        for day in days:
            connection.execute(
                sql.SQL("alter table {} attach partition {} for values from ({}) to ({})").format(
                    sql.Identifier(table),
                    sql.Identifier(day.name(table)),
                    sql.Literal(day.start),
                    sql.Literal(day.end),
                )
            )


async def _create_partitions(url: str, table: str, days: Sequence[DayPartition]) -> None:
    async with open_gateway(
        url, pool_size=1, statement_timeout=60, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        await partition_store.create_partitions(gateway, table, days)


def create_series(url: str, specs: Sequence[SeriesSpec]) -> list[int]:
    """The metrics and their series; the series ids in `specs` order."""
    with psycopg.connect(url) as connection:
        for name, kind, *_ in METRICS:
            connection.execute(
                "insert into metrics (name, type) values (%s, %s) on conflict do nothing",
                (name, kind),
            )
        ids = []
        for spec in specs:
            row = connection.execute(
                "insert into series (name, source, labels) values (%s, '', %s) returning id",
                (spec.name, psycopg.types.json.Jsonb(spec.labels)),
            ).fetchone()
            assert row is not None
            ids.append(int(row[0]))
    return ids


def existing_series(url: str, specs: Sequence[SeriesSpec]) -> list[int]:
    with psycopg.connect(url) as connection:
        found = {
            (str(name), msgspec.json.encode(dict(sorted(labels.items())))): int(series_id)
            for series_id, name, labels in connection.execute(
                "select id, name, labels from series where deleted_at is null"
            )
        }
    return [found[(s.name, msgspec.json.encode(dict(sorted(s.labels.items()))))] for s in specs]


def create_groups(url: str, signatures: Sequence[Signature]) -> dict[str, int]:
    """One event_groups row per signature; first/last seen and counts come after the load."""
    ids = {}
    with psycopg.connect(url) as connection:
        for signature in signatures:
            fingerprint = signature_fingerprint(signature)
            row = connection.execute(
                "insert into event_groups (fingerprint, type, source, level, message, "
                "first_seen, last_seen, count, status) "
                "values (%s, %s, %s, 3, %s, now(), now(), 0, %s) returning id",
                (
                    fingerprint,
                    signature.type,
                    signature.source,
                    signature_message(signature),
                    signature.status,
                ),
            ).fetchone()
            assert row is not None
            ids[fingerprint] = int(row[0])
    return ids


def existing_groups(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        return {
            str(fingerprint): int(group_id)
            for group_id, fingerprint in connection.execute(
                "select id, fingerprint from event_groups"
            )
        }


def finish_groups(url: str) -> None:
    """Counts, first/last seen and level of each group from its events, as ingest keeps them;
    groups without events (signatures that never occurred) go."""
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
        connection.execute(
            "delete from event_groups g where not exists "
            "(select from events e where e.group_id = g.id)"
        )


# --- catching up -------------------------------------------------------------------------------


async def roll_up_all(url: str, deadline: float) -> int:
    """Call the rollup job until its watermark reaches the current minute; the calls made."""
    async with open_gateway(
        url, pool_size=1, statement_timeout=600, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        calls = 0
        while time.monotonic() < deadline:
            now = datetime.now(UTC)
            mark = await rollups.roll_up(gateway, now, timedelta(0))
            calls += 1
            if calls % 24 == 0:
                say(f"  rollup watermark {mark:%Y-%m-%d %H:%M}")
            if mark is not None and mark >= rollups.floor_to(now, rollups.MINUTE):
                return calls
    raise TimeoutError("rollups did not catch up in time")


async def count_all(url: str, deadline: float) -> int:
    """Call the event-count step until it reports caught up; the steps made."""
    async with open_gateway(
        url, pool_size=1, statement_timeout=600, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        steps = 0
        while time.monotonic() < deadline:
            step = await event_counts.count_new_events(gateway, 50)  # ~500k events a step
            steps += 1
            if step.caught_up:
                return steps
    raise TimeoutError(
        "event counts did not catch up in time (a long transaction elsewhere on the server "
        "holds the horizon back?)"
    )


# --- the data set ------------------------------------------------------------------------------


@dataclass
class DataSet:
    url: str
    data_from: datetime
    data_to: datetime  # data reaches up to here (exclusive), after this run's top-up
    build: dict[str, Any]  # how the data set was built (phases, seconds, rows)
    top_up: dict[str, Any]  # what this run added

    def marker_update(self, data_to: datetime) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f"update {MARKER} set data_to = %s", (data_to,))
        self.data_to = data_to


def read_marker(url: str) -> dict[str, Any] | None:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            row = connection.execute(
                f"select layout, data_from, data_to, build from {MARKER}"
            ).fetchone()
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return None
    if row is None:
        return None
    layout, data_from, data_to, build = row
    return {"layout": layout, "data_from": data_from, "data_to": data_to, "build": build}


def database_exists(name: str) -> bool:
    with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=5) as connection:
        return (
            connection.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
            is not None
        )


def ensure(*, rebuild: bool, max_gap: timedelta) -> DataSet:
    """The data set, built or reused and topped up to the current minute."""
    url = database_url_for(DATABASE)
    marker = read_marker(url) if database_exists(DATABASE) else None
    now = datetime.now(UTC)
    reason = None
    if rebuild:
        reason = "--rebuild"
    elif marker is None:
        reason = "no data set yet"
    elif marker["layout"] != LAYOUT:
        reason = f"layout {marker['layout']} is not {LAYOUT}"
    elif now - marker["data_to"] > max_gap:
        reason = f"its data ends {now - marker['data_to']} ago (more than {max_gap})"
    if reason is not None:
        say(f"building the data set in database {DATABASE} ({reason}) ...")
        build(url)
        marker = read_marker(url)
        assert marker is not None
        top_up_figures: dict[str, Any] = {"events": 0, "samples": 0, "seconds": 0.0}
    else:
        assert marker is not None
        say(
            f"reusing {DATABASE}: data {marker['data_from']:%Y-%m-%d %H:%M} .. "
            f"{marker['data_to']:%Y-%m-%d %H:%M}, built in {marker['build']['total_seconds']} s"
        )
        apply_migrations(url)  # the code under test may have migrations the data set lacks
        top_up_figures = top_up(url, marker["data_from"], marker["data_to"])
        marker = read_marker(url)
        assert marker is not None
    return DataSet(url, marker["data_from"], marker["data_to"], marker["build"], top_up_figures)


def build(url: str) -> None:
    drop_database(DATABASE)
    create_database(DATABASE)
    phases: dict[str, float] = {}
    began_all = time.perf_counter()

    def phase(name: str, began: float) -> None:
        phases[name] = round(time.perf_counter() - began, 1)
        say(f"  {name}: {phases[name]} s")

    began = time.perf_counter()
    apply_migrations(url)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            f"create table {MARKER} (layout int not null, data_from timestamptz not null, "
            "data_to timestamptz not null, build jsonb not null)"
        )
    now = datetime.now(UTC)
    data_to = rollups.floor_to(now, 60)
    data_from = data_to - timedelta(days=DAYS)
    steps = DAYS * 1440
    specs = series_specs()
    series_ids = create_series(url, specs)
    signatures = error_signatures(data_from)
    group_ids = create_groups(url, signatures)
    days = sorted(partitions_spanning(data_from, data_to - timedelta(microseconds=1)))
    create_detached(url, "events", days)
    create_detached(url, "samples", days)
    phase("schema_seconds", began)

    say(f"  events: {EVENTS:,} from {data_from:%Y-%m-%d %H:%M} to {data_to:%Y-%m-%d %H:%M} ...")
    began = time.perf_counter()
    maker = EventMaker(signatures, group_ids, incidents(data_from, signatures), seed=1)
    events = load_events(url, maker, data_from, data_to, lambda day: day.name("events"))
    phase("events_copy_seconds", began)

    say(f"  samples: {len(specs)} series x {steps} steps ...")
    began = time.perf_counter()
    values = SampleValues(specs, seed=2, start_step=0)
    samples = load_samples(
        url, series_ids, values, data_from, steps, lambda day: day.name("samples")
    )
    phase("samples_copy_seconds", began)

    began = time.perf_counter()
    attach(url, "events", days)
    attach(url, "samples", days)
    phase("attach_index_seconds", began)

    began = time.perf_counter()
    finish_groups(url)
    phase("groups_seconds", began)

    began = time.perf_counter()
    rollup_calls = trio.run(roll_up_all, url, time.monotonic() + CATCH_UP_TIMEOUT)
    phase("rollup_seconds", began)

    began = time.perf_counter()
    count_steps = trio.run(count_all, url, time.monotonic() + CATCH_UP_TIMEOUT)
    phase("event_count_seconds", began)

    began = time.perf_counter()
    vacuum_analyze(url)
    phase("vacuum_analyze_seconds", began)

    figures = {
        **phases,
        "total_seconds": round(time.perf_counter() - began_all, 1),
        "events": events,
        "samples": samples,
        "series": len(series_ids),
        "groups": group_count(url),
        "rollup_calls": rollup_calls,
        "event_count_steps": count_steps,
        "built_at": now.isoformat(),
        "sizes": sizes(url),
    }
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            f"insert into {MARKER} (layout, data_from, data_to, build) values (%s, %s, %s, %s)",
            (LAYOUT, data_from, data_to, psycopg.types.json.Jsonb(figures)),
        )
    say(f"built in {figures['total_seconds']} s: {figures}")


def top_up(url: str, data_from: datetime, data_to: datetime) -> dict[str, Any]:
    """Events and samples from the data set's end to the current minute, then rollups and
    counts caught up: so `range=24h` always covers data."""
    now = datetime.now(UTC)
    until = rollups.floor_to(now, 60)
    steps = int((until - data_to) / STEP)
    figures: dict[str, Any] = {"events": 0, "samples": 0}
    began = time.perf_counter()
    if steps > 0:
        say(f"topping up {data_to:%Y-%m-%d %H:%M} .. {until:%Y-%m-%d %H:%M} ...")
        days = sorted(partitions_spanning(data_to, until))
        for table in ("events", "samples"):
            trio.run(_create_partitions, url, table, days)
        specs = series_specs()
        signatures = error_signatures(data_from)
        seed = int(data_to.timestamp())
        maker = EventMaker(signatures, existing_groups(url), [], seed=seed)
        figures["events"] = load_events(url, maker, data_to, until, lambda _: "events")
        values = SampleValues(specs, seed=seed, start_step=int((data_to - data_from) / STEP))
        figures["samples"] = load_samples(
            url, existing_series(url, specs), values, data_to, steps, lambda _: "samples"
        )
        finish_groups(url)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"update {MARKER} set data_to = %s", (until,))
    rollup_began = time.perf_counter()
    figures["rollup_calls"] = trio.run(roll_up_all, url, time.monotonic() + CATCH_UP_TIMEOUT)
    figures["rollup_seconds"] = round(time.perf_counter() - rollup_began, 1)
    count_began = time.perf_counter()
    figures["event_count_steps"] = trio.run(count_all, url, time.monotonic() + CATCH_UP_TIMEOUT)
    figures["event_count_seconds"] = round(time.perf_counter() - count_began, 1)
    if steps > 0:
        with psycopg.connect(url, autocommit=True) as connection:
            for table in ("events", "samples", "event_groups"):
                connection.execute(sql.SQL("analyze {}").format(sql.Identifier(table)))
    figures["seconds"] = round(time.perf_counter() - began, 1)
    say(f"  top-up: {figures}")
    return figures


def vacuum_analyze(url: str) -> None:
    """What autovacuum would do to these insert-only tables: statistics and visibility maps."""
    with psycopg.connect(url, autocommit=True) as connection:
        for table in (
            "events",
            "samples",
            "event_groups",
            "series",
            "rollups",
            "name_rollups",
            "event_counts",
            "event_counts_by_level",
            "event_counts_by_type",
            "event_counts_by_source",
        ):
            connection.execute(sql.SQL("vacuum (analyze) {}").format(sql.Identifier(table)))


def group_count(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("select count(*) from event_groups").fetchone()
    return int(row[0]) if row else 0


def sizes(url: str) -> dict[str, str]:
    """Heap + indexes of the big tables, for the record."""
    with psycopg.connect(url, autocommit=True) as connection:
        return {
            table: str(size)
            for table, size in connection.execute(
                """
                select parent.relname, pg_size_pretty(sum(pg_total_relation_size(child.oid)))
                from pg_inherits
                join pg_class parent on parent.oid = pg_inherits.inhparent
                join pg_class child on child.oid = pg_inherits.inhrelid
                where parent.relname in ('events', 'samples', 'event_counts')
                group by parent.relname
                union all
                select relname, pg_size_pretty(pg_total_relation_size(oid))
                from pg_class where relname in ('rollups', 'name_rollups') and relkind = 'r'
                """
            )
        }


def contents(url: str, now: datetime) -> dict[str, int]:
    """What the last 7 days hold now (top-ups and the service's retention move the window)."""
    since = now - timedelta(days=DAYS)
    with psycopg.connect(url, autocommit=True) as connection:
        events, errors = connection.execute(
            "select count(*), count(*) filter (where level >= 3) from events where time >= %s",
            (since,),
        ).fetchone() or (0, 0)
        (samples,) = connection.execute(
            "select count(*) from samples where time >= %s", (since,)
        ).fetchone() or (0,)
        (series,) = connection.execute(
            "select count(*) from series where deleted_at is null"
        ).fetchone() or (0,)
        (groups,) = connection.execute("select count(*) from event_groups").fetchone() or (0,)
    return {
        "events_7d": int(events),
        "error_events_7d": int(errors),
        "samples_7d": int(samples),
        "series": int(series),
        "groups": int(groups),
    }
