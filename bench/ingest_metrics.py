"""Bulk metric ingest through the real service, against a raw binary COPY baseline.

    python bench/ingest_metrics.py [--seconds 10] [--clients 32] [--batch 1000]
                                   [--series 1000] [--gzip] [--clients-in-process]

What it does, in one run, on a throw-away database `bench_metrics_<random>`
(dropped at the end, also on error or Ctrl-C):

1. HTTP phase: starts the real service in this process (port 0, as
   tests/conftest.py does), makes a write key, and has `--clients` httpx
   clients, in a child process of their own (as real agents would be; with
   `--clients-in-process` in this one), POST pre-built
   `/api/v1/metrics/bulk` bodies of `--batch` samples for `--seconds` (and
   at most `--max-requests` requests). The samples belong to `--series`
   distinct series over five metric names (a histogram, three gauges, a
   counter) with 2-3 labels each (see metric_data.py); body k holds
   the series k*batch, k*batch+1, ... (cycling), as an agent pushing one
   scrape. Every sample carries an explicit `time`: without --gzip each body
   holds a fixed-width placeholder that is replaced by the current time just
   before the request is sent (a bytes.replace, ~0.1 ms), so times are current;
   with --gzip the bodies are compressed once, stamped with the time they were
   built (just before the phase). One untimed warm-up request per client first
   creates the series and opens the connections. Only 201 answers count as
   acknowledged samples. Then the service is stopped and the stored row count
   is checked against the acknowledged count.
2. Baseline: binary COPY of the same (series_id, time, value) rows, the ids
   resolved from the `series` table the HTTP phase filled, into the same
   `samples` table (same partitions, same index), from `settings.ingest_workers`
   threads with one connection each, `--batch` rows per transaction, for
   `--seconds`, in two forms; the faster one is the baseline:
   - `copy_rows`: psycopg `write_row` with `set_types`, exactly how the ingest
     actor writes (storage/metric_ingest.py `_copy_samples`), time = now per
     transaction;
   - `copy_bytes`: pre-encoded binary COPY payloads with the current time
     patched in per transaction: PostgreSQL's own limit for these rows, index
     and connections, with next to no client work.
   `samples` is truncated (partitions and index stay) and a CHECKPOINT taken
   before each baseline form.

The last line on stdout is one JSON object; progress goes to stderr.
MONITOR_* settings are taken from the environment (the baseline follows
`MONITOR_INGEST_WORKERS`).

Caveats (read them before quoting a number):
- 2 cores: the clients' process, the service and PostgreSQL share them (with
  --clients-in-process the clients' CPU comes out of the service's one Python
  thread instead). The baseline threads share the machine with PostgreSQL
  likewise.
- Each request waits for its group commit, so a few clients measure latency
  more than capacity: with 8 clients the service sits at ~0.6 core and
  PostgreSQL is not busy either; 32 keep the commit pipeline full.
- The service's rollup actor runs during the HTTP phase (every
  MONITOR_ROLLUP_INTERVAL seconds, rolling up the finished minutes of what was
  just ingested); the baseline has no such background work.
- Samples are "late" (and make the commit refresh rollups) once the rollup
  watermark, which trails the clock by 30 s to 1.5 min, passes their time. With
  --gzip the stamps age from the moment the bodies are built, so keep --gzip
  runs short (the script warns past 20 s).
- The PostgreSQL server is shared: anything else running on it disturbs the
  figures.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import os
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg
import trio

import metric_data
from common import (
    SERVER_URL,
    CpuMeter,
    on_throwaway_database,
    percentile,
    say,
    with_service_settings,
)
from load import CopyResult, HttpResult, post_bodies, run_copy, serving
from monitor.config import Settings

PATH = "/api/v1/metrics/bulk"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: 27 characters
PLACEHOLDER = b"2000-01-01T00:00:00.000000Z"
COPY_STATEMENT = "copy samples (series_id, time, value) from stdin (format binary)"


# --- request bodies --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bodies:
    wire: list[bytes]  # what is sent (JSON with PLACEHOLDER, or gzip stamped at build)
    rows: list[list[tuple[int, float]]]  # per body: (index into series, value)
    json_bytes: float  # average uncompressed size


def build_bodies(
    series: Sequence[metric_data.Series], count: int, batch: int, seed: int, compress: bool
) -> Bodies:
    rng = random.Random(seed)
    built_at = datetime.now(UTC).strftime(TIME_FORMAT).encode()
    assert len(built_at) == len(PLACEHOLDER)
    wire, rows, sizes = [], [], []
    for number in range(count):
        samples, body_rows = [], []
        for offset in range(batch):
            index = (number * batch + offset) % len(series)
            one = series[index]
            value = metric_data.sample_value(one, rng, number)
            body_rows.append((index, value))
            samples.append(
                {
                    "name": one.name,
                    "type": one.type,
                    "labels": one.labels,
                    "value": value,
                    "time": PLACEHOLDER.decode(),
                }
            )
        raw = msgspec.json.encode(samples)
        sizes.append(len(raw))
        wire.append(
            gzip.compress(raw.replace(PLACEHOLDER, built_at), compresslevel=6) if compress else raw
        )
        rows.append(body_rows)
    return Bodies(wire, rows, sum(sizes) / len(sizes))


# --- HTTP phase ------------------------------------------------------------------------------


async def http_phase(settings: Settings, bodies: Bodies, args: argparse.Namespace) -> HttpResult:
    async with serving(settings) as (base_url, token):
        headers = {"X-API-Key": token, "Content-Type": "application/json"}
        if args.gzip:
            headers["Content-Encoding"] = "gzip"
        with trio.fail_after(args.seconds + 120):
            if args.clients_in_process:
                return await _load(base_url, headers, bodies.wire, args)
            return await _load_in_a_process(base_url, headers, bodies.wire, args)


def _stamped(body: bytes, compressed: bool) -> bytes:
    if compressed:
        return body
    return body.replace(PLACEHOLDER, datetime.now(UTC).strftime(TIME_FORMAT).encode())


async def _load(
    base_url: str, headers: dict[str, str], bodies: Sequence[bytes], args: argparse.Namespace
) -> HttpResult:
    # Warm-up requests create the series (and partitions) and fill the
    # service's series cache.
    return await post_bodies(
        base_url,
        PATH,
        headers,
        bodies,
        clients=args.clients,
        items_per_body=args.batch,
        seconds=args.seconds,
        max_requests=args.max_requests,
        stamp=functools.partial(_stamped, compressed=args.gzip),
    )


async def _load_in_a_process(
    base_url: str, headers: dict[str, str], bodies: Sequence[bytes], args: argparse.Namespace
) -> HttpResult:
    """_load in a child process (as real clients would be), so that the clients'
    CPU is not taken from the service's one Python thread; `result.cpu` then
    says what the service's process used."""
    with tempfile.NamedTemporaryFile(suffix=".msgpack") as bodies_file:
        bodies_file.write(msgspec.msgpack.encode(list(bodies)))
        bodies_file.flush()
        command = [
            sys.executable,
            __file__,
            "--load-only",
            base_url,
            "--bodies-file",
            bodies_file.name,
            "--seconds",
            str(args.seconds),
            "--clients",
            str(args.clients),
            "--batch",
            str(args.batch),
            "--max-requests",
            str(args.max_requests),
            *(["--gzip"] if args.gzip else []),
        ]
        meter = CpuMeter()
        finished = await trio.run_process(
            command,
            capture_stdout=True,
            env={**os.environ, "BENCH_HEADERS": msgspec.json.encode(headers).decode()},
        )
        service_cpu = meter.stop()
    loaded = msgspec.json.decode(finished.stdout.splitlines()[-1])
    return HttpResult(
        elapsed=loaded["elapsed"],
        acked=loaded["acked"],
        warmup_acked=loaded["warmup_acked"],
        latencies=loaded["latencies"],
        statuses=Counter({int(k): v for k, v in loaded["statuses"].items()}),
        first_failure=loaded["first_failure"],
        cpu={**service_cpu, "clients_process_cores": loaded["cpu"]["this_process_cores"]},
    )


def load_only(args: argparse.Namespace) -> None:
    """The child side of _load_in_a_process: load, then print one JSON line."""
    with open(args.bodies_file, "rb") as bodies_file:
        bodies = msgspec.msgpack.decode(bodies_file.read(), type=list[bytes])
    headers = msgspec.json.decode(os.environ["BENCH_HEADERS"])
    result = trio.run(_load, args.load_only, headers, bodies, args)
    print(
        msgspec.json.encode(
            {
                "elapsed": result.elapsed,
                "acked": result.acked,
                "warmup_acked": result.warmup_acked,
                "latencies": result.latencies,
                "statuses": {str(k): v for k, v in result.statuses.items()},
                "first_failure": result.first_failure,
                "cpu": result.cpu,
            }
        ).decode()
    )


# --- baseline: raw binary COPY ---------------------------------------------------------------


def series_ids(url: str, series: Sequence[metric_data.Series]) -> list[int]:
    """The id of each series, as the HTTP phase created them."""
    with psycopg.connect(url, autocommit=True) as connection:
        found = {
            (name, source, tuple(sorted(labels.items()))): int(series_id)
            for series_id, name, source, labels in connection.execute(
                "select id, name, source, labels from series where deleted_at is null"
            )
        }
    missing = [s.identity for s in series if s.identity not in found]
    if missing:
        raise RuntimeError(f"{len(missing)} series missing after the HTTP phase: {missing[:3]}")
    return [found[s.identity] for s in series]


def reset_samples(url: str) -> None:
    """Empty `samples` (partitions and index stay) and checkpoint, so phases start alike."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("truncate samples")
        connection.execute("checkpoint")


def count_samples(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute("select count(*) from samples").fetchone()
    assert row is not None
    return int(row[0])


def copy_batch(write: str, connection: psycopg.Connection[Any], batch: Any) -> int:
    """One baseline transaction's COPY; the time is now, once per transaction.

    `batch` is a list of (series id, value) for write="rows" (written as the
    ingest actor once did, row by row), an encode_rows payload for "bytes".
    """
    now = datetime.now(UTC)
    with connection.cursor() as cursor, cursor.copy(COPY_STATEMENT) as copy:
        if write == "rows":
            copy.set_types(["int4", "timestamptz", "float8"])
            for series_id, value in batch:
                copy.write_row((series_id, now, value))
            return len(batch)
        copy.write(metric_data.restamp(batch, metric_data.microseconds(now)))
        return metric_data.row_count(batch)


# --- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=32, help="concurrent HTTP clients")
    parser.add_argument("--batch", type=int, default=1000, help="samples per request and COPY")
    parser.add_argument("--series", type=int, default=1000, help="distinct series")
    parser.add_argument("--gzip", action="store_true", help="send Content-Encoding: gzip")
    parser.add_argument("--max-requests", type=int, default=20_000, help="HTTP request cap")
    parser.add_argument("--bodies", type=int, default=64, help="distinct pre-built bodies")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--clients-in-process",
        action="store_true",
        help="run the HTTP clients in the service's process (they then share its CPU)",
    )
    parser.add_argument("--load-only", metavar="BASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--bodies-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (
        0 < args.seconds <= 120
        and 0 < args.clients <= 256
        and 0 < args.batch <= 10_000
        and 0 < args.series <= 10_000
        and 0 < args.bodies <= 1000
        and 0 < args.max_requests <= 1_000_000
    ):
        parser.error(
            "need 0 < seconds <= 120, 0 < clients <= 256, 0 < batch <= 10000, "
            "0 < series <= 10000, 0 < bodies <= 1000, 0 < max-requests <= 1000000"
        )
    return args


def main() -> None:
    args = parse_args()
    if args.load_only:
        load_only(args)
        return
    on_throwaway_database(
        "bench_metrics", with_service_settings(lambda url, settings: run(url, settings, args))
    )


def run(url: str, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    series = metric_data.make_series(args.series)
    say(f"building {args.bodies} bodies of {args.batch} samples over {len(series)} series ...")
    if args.gzip and args.seconds > 20:
        say("warning: --gzip bodies carry their build time; past ~30 s they arrive late")
    bodies = build_bodies(series, args.bodies, args.batch, args.seed, args.gzip)
    wire_bytes = sum(map(len, bodies.wire)) / len(bodies.wire)
    json_kb = bodies.json_bytes / 1024
    say(f"bodies: {wire_bytes / 1024:.0f} KB each on the wire (JSON {json_kb:.0f} KB)")

    with psycopg.connect(SERVER_URL, autocommit=True) as connection:
        connection.execute("checkpoint")
    say(f"HTTP phase: {args.clients} clients, {args.seconds:g} s ...")
    http = trio.run(http_phase, settings, bodies, args)
    latencies = sorted(http.latencies)
    samples_per_s = http.acked / http.elapsed if http.elapsed else 0.0
    stored = count_samples(url)
    expected = http.acked + http.warmup_acked
    say(
        f"HTTP: {len(latencies)} requests in {http.elapsed:.2f} s, statuses {dict(http.statuses)}, "
        f"{samples_per_s:,.0f} samples/s; stored {stored} rows (acknowledged {expected}); "
        f"cpu {http.cpu}"
    )
    if http.first_failure:
        say(f"first non-201 answer: {http.first_failure}")
    if stored != expected:
        say(f"MISMATCH: stored {stored} samples but {expected} were acknowledged")

    ids = series_ids(url, series)
    row_batches = [[(ids[index], value) for index, value in rows] for rows in bodies.rows]
    byte_batches = [
        metric_data.encode_rows([(series_id, 0, value) for series_id, value in rows])
        for rows in row_batches
    ]
    workers = settings.ingest_workers
    copies: dict[str, CopyResult] = {}
    for write, batches in (("rows", row_batches), ("bytes", byte_batches)):
        reset_samples(url)
        say(f"baseline copy_{write}: {workers} connections, {args.seconds:g} s ...")
        copied = run_copy(
            url,
            workers,
            args.seconds,
            batches,
            functools.partial(copy_batch, write),
            enough=lambda done: done.transactions >= args.max_requests,
        )
        copies[write] = copied
        say(
            f"copy_{write}: {copied.rows} rows in {copied.transactions} transactions, "
            f"{copied.elapsed:.2f} s, {copied.rows / copied.elapsed:,.0f} rows/s; cpu {copied.cpu}"
        )
        stored_now = count_samples(url)
        if stored_now != copied.rows:
            say(f"MISMATCH: copy_{write} stored {stored_now} rows, counted {copied.rows}")
    rates = {write: c.rows / c.elapsed if c.elapsed else 0.0 for write, c in copies.items()}
    baseline = max(rates.values())
    return {
        "samples_per_s": round(samples_per_s, 1),
        "baseline_per_s": round(baseline, 1),
        "ratio": round(samples_per_s / baseline, 3) if baseline else None,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "requests": len(latencies),
        "clients": args.clients,
        "batch": args.batch,
        "series": args.series,
        "gzip": args.gzip,
        "seconds": args.seconds,
        "statuses": {str(status): count for status, count in sorted(http.statuses.items())},
        "stored_equals_acked": stored == expected,
        "stored": stored,
        "acked": expected,
        "body_kb": round(wire_bytes / 1024, 1),
        "ingest_workers": workers,
        "baseline_copy_rows_per_s": round(rates["rows"], 1),
        "baseline_copy_bytes_per_s": round(rates["bytes"], 1),
        "http_cpu": http.cpu,
        "copy_rows_cpu": copies["rows"].cpu,
        "copy_bytes_cpu": copies["bytes"].cpu,
    }


if __name__ == "__main__":
    main()
