"""Bulk event ingest through the real service, against a raw binary COPY baseline.

    python bench/ingest_events.py [--seconds 10] [--clients 8] [--batch 1000] [--gzip]

What it does, in one run, on a throw-away database `bench_events_<random>`
(dropped at the end, also on error or Ctrl-C):

1. HTTP phase: starts the real service in this process (port 0, as
   tests/conftest.py does), makes a write key, and has `--clients` httpx
   clients POST pre-built `/api/v1/events/bulk` bodies of `--batch` events for
   `--seconds` (and at most `--max-requests` requests). Only 201 answers count
   as acknowledged events. Then the service is stopped and the stored row
   count is checked against the acknowledged count.
2. Baseline: binary COPY of equivalent rows (the same bodies turned into rows
   by the service's own `prepare_rows`, with their real group ids) into the
   same `events` table, from `settings.ingest_workers` threads with one
   connection each, `--batch` rows per transaction, for `--seconds` each, in
   two forms; the faster one is the baseline:
   - `copy_rows`: psycopg `write_row` with `set_types(COPY_TYPES)`, exactly
     how the ingest actor writes (pre-built tuples, cycled when exhausted, so
     ids repeat after the first pass; `id` has no unique constraint);
   - `copy_bytes`: whole COPY payloads pre-encoded to bytes, with fresh
     uuid7 ids patched in per transaction — PostgreSQL's own limit for these
     rows, indexes and connections, with next to no client work.
   `events` is truncated (partitions and indexes stay) and a CHECKPOINT taken
   before every phase, so each starts from the same empty table.

The last line on stdout is one JSON object; progress goes to stderr.
`MONITOR_INGEST_WORKERS` and the other MONITOR_* settings are taken from the
environment (the baseline follows `ingest_workers`); `--no-errors` sends the
error/critical events as warnings, so nothing is grouped — a diagnostic that
isolates the cost of the event_groups upserts.

Caveats (read them before quoting a number):
- The machine has 2 cores and the load generator competes for them. Worse,
  the httpx clients run in the same process and the same Trio loop as the
  service (as the brief asks), so their CPU comes straight out of the
  service's one Python thread (GIL); PostgreSQL takes the other core. The
  client work per request is small next to the server's (sending a pre-built
  body, reading a ~40 KB answer without parsing it), but it is not zero.
  The baseline threads likewise share the machine with PostgreSQL.
- The PostgreSQL server is shared: anything else running on it (tests)
  disturbs these figures.
- Event bodies are pre-built (`--bodies` distinct ones, cycled), so neither
  JSON encoding nor gzip compression on the client side is measured.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import trio
from psycopg import sql
from psycopg.types.json import set_json_dumps

import synthetic
from common import (
    SERVER_URL,
    on_throwaway_database,
    percentile,
    say,
    with_service_settings,
)
from load import CopyResult, HttpResult, post_bodies, run_copy, serving
from monitor.config import Settings
from monitor.storage.events import COPY_COLUMNS, COPY_TYPES
from monitor.web.api.events.rows import EventRules, prepare_rows
from monitor.web.api.events.schemas import EventIn

COPY_STATEMENT = sql.SQL("copy events ({}) from stdin (format binary)").format(
    sql.SQL(", ").join(sql.Identifier(column) for column in COPY_COLUMNS)
)


def reset_events(url: str) -> None:
    """Empty `events` (partitions and indexes stay) and checkpoint, so phases start alike."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("truncate events")
        connection.execute("checkpoint")


def count_events(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute("select count(*) from events").fetchone()
    assert row is not None
    return int(row[0])


# --- request bodies --------------------------------------------------------------------------


def build_bodies(
    count: int, batch: int, seed: int, no_errors: bool = False
) -> list[list[dict[str, Any]]]:
    """`count` distinct batches of events as clients would send them.

    `no_errors` sends would-be error/critical events as warnings: nothing is
    grouped, so ingest does no event_groups upserts (a diagnostic).
    """
    rng = random.Random(seed)
    now = datetime.now(UTC)
    batches = []
    for _ in range(count):
        events = []
        for _ in range(batch):
            when = now - timedelta(seconds=rng.uniform(0, 120))
            event = synthetic.as_json_dict(synthetic.generate(rng), when)
            if no_errors and event["level"] in ("error", "critical"):
                event["level"] = "warning"
            events.append(event)
        batches.append(events)
    return batches


# --- HTTP phase ------------------------------------------------------------------------------


async def http_phase(
    settings: Settings, bodies: Sequence[bytes], args: argparse.Namespace
) -> HttpResult:
    async with serving(settings) as (base_url, token):
        headers = {"X-API-Key": token, "Content-Type": "application/json"}
        if args.gzip:
            headers["Content-Encoding"] = "gzip"
        with trio.fail_after(args.seconds + 120):
            return await post_bodies(
                base_url,
                "/api/v1/events/bulk",
                headers,
                bodies,
                clients=args.clients,
                items_per_body=args.batch,
                seconds=args.seconds,
                max_requests=args.max_requests,
            )


# --- baseline: raw binary COPY ---------------------------------------------------------------


def baseline_rows(
    url: str, batches: Sequence[bytes], settings: Settings
) -> list[list[tuple[Any, ...]]]:
    """The bodies as COPY rows: the service's own prepare_rows, with real group ids."""
    rules = EventRules(
        retention=settings.events_retention,
        max_future_skew=settings.events_max_future_skew,
    )
    decode = msgspec.json.Decoder(list[EventIn]).decode
    prepared = []
    for body in batches:
        rows, errors = prepare_rows(decode(body), datetime.now(UTC), rules)
        assert not errors, errors[:3]
        prepared.append(rows)
    # Normally the HTTP phase created every group already; add any it did not.
    missing = {
        row.fingerprint: row
        for rows in prepared
        for row in rows
        if row.grouped and row.fingerprint is not None
    }
    with psycopg.connect(url, autocommit=True) as connection:
        for fingerprint, row in missing.items():
            connection.execute(
                "insert into event_groups (fingerprint, type, source, level, message, "
                "first_seen, last_seen, count) values (%s, %s, %s, %s, %s, %s, %s, 1) "
                "on conflict (fingerprint) do nothing",
                (fingerprint, row.type, row.source, row.level, row.message, row.time, row.time),
            )
        group_ids = dict(connection.execute("select fingerprint, id from event_groups").fetchall())
    out = []
    for rows in prepared:
        batch = []
        for row in rows:
            group_id = group_ids.get(row.fingerprint) if row.grouped and row.fingerprint else None
            if row.grouped and row.fingerprint and group_id is None:
                raise RuntimeError(f"no group for fingerprint {row.fingerprint}")
            batch.append((*row[:10], group_id))
        out.append(batch)
    return out


@dataclass(frozen=True)
class EncodedBatch:
    payload: bytes  # signature + rows + trailer
    id_offsets: tuple[int, ...]


def encode_batch(rows: Sequence[tuple[Any, ...]]) -> EncodedBatch:
    parts = [synthetic.COPY_SIGNATURE]
    offsets = []
    position = len(synthetic.COPY_SIGNATURE)
    for row in rows:
        encoded, id_offset = synthetic.encode_event_row(row)
        offsets.append(position + id_offset)
        parts.append(encoded)
        position += len(encoded)
    parts.append(synthetic.COPY_TRAILER)
    return EncodedBatch(b"".join(parts), tuple(offsets))


def fresh_payload(batch: EncodedBatch) -> bytearray:
    """The batch with a new uuid7 (current millisecond, random bits) in every id."""
    payload = bytearray(batch.payload)
    unix_ms = int(time.time() * 1000).to_bytes(6, "big")
    randomness = os.urandom(10 * len(batch.id_offsets))
    for number, offset in enumerate(batch.id_offsets):
        chunk = randomness[number * 10 : number * 10 + 10]
        payload[offset : offset + 6] = unix_ms
        payload[offset + 6] = 0x70 | chunk[0] & 0x0F
        payload[offset + 7] = chunk[1]
        payload[offset + 8] = 0x80 | chunk[2] & 0x3F
        payload[offset + 9 : offset + 16] = chunk[3:10]
    return payload


def copy_batch(write: str, connection: psycopg.Connection[Any], batch: Any) -> int:
    """One baseline transaction's COPY: tuples row by row (as the ingest actor
    writes) for write="rows", an EncodedBatch with fresh ids for "bytes"."""
    with connection.cursor() as cursor, cursor.copy(COPY_STATEMENT) as copy:
        if write == "rows":
            copy.set_types(list(COPY_TYPES))
            for row in batch:
                copy.write_row(row)
            return len(batch)
        copy.write(fresh_payload(batch))
        return len(batch.id_offsets)


def _attributes_as_given(connection: psycopg.Connection[Any]) -> None:
    set_json_dumps(lambda value: value, connection)  # attributes are JSON bytes already


# --- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--batch", type=int, default=1000, help="events per request and COPY")
    parser.add_argument("--gzip", action="store_true", help="send Content-Encoding: gzip")
    parser.add_argument("--max-requests", type=int, default=20_000, help="HTTP request cap")
    parser.add_argument("--bodies", type=int, default=64, help="distinct pre-built bodies")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-errors",
        action="store_true",
        help="send error/critical events as warnings: no event_groups upserts (diagnostic)",
    )
    args = parser.parse_args()
    if not (0 < args.seconds <= 120 and 0 < args.clients <= 256 and 0 < args.batch <= 10_000):
        parser.error("need 0 < seconds <= 120, 0 < clients <= 256, 0 < batch <= 10000")
    return args


def main() -> None:
    args = parse_args()
    on_throwaway_database(
        "bench_events", with_service_settings(lambda url, settings: run(url, settings, args))
    )


def run(url: str, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    say(f"building {args.bodies} bodies of {args.batch} events ...")
    events = build_bodies(args.bodies, args.batch, args.seed, args.no_errors)
    raw_bodies = [msgspec.json.encode(batch) for batch in events]
    bodies = [gzip.compress(b, compresslevel=6) for b in raw_bodies] if args.gzip else raw_bodies
    body_bytes = sum(map(len, bodies)) / len(bodies)
    say(
        f"bodies: {body_bytes / 1024:.0f} KB each on the wire "
        f"(JSON {len(raw_bodies[0]) // 1024} KB)"
    )

    with psycopg.connect(SERVER_URL, autocommit=True) as connection:
        connection.execute("checkpoint")
    say(f"HTTP phase: {args.clients} clients, {args.seconds:g} s ...")
    http = trio.run(http_phase, settings, bodies, args)
    latencies = sorted(http.latencies)
    events_per_s = http.acked / http.elapsed if http.elapsed else 0.0
    stored = count_events(url)
    expected = http.acked + http.warmup_acked
    say(
        f"HTTP: {len(latencies)} requests in {http.elapsed:.2f} s, statuses {dict(http.statuses)}, "
        f"{events_per_s:,.0f} events/s; stored {stored} rows (acknowledged {expected}); "
        f"cpu {http.cpu}"
    )
    if http.first_failure:
        say(f"first non-201 answer: {http.first_failure}")

    say("baseline: preparing rows ...")
    rows = baseline_rows(url, raw_bodies, settings)
    encoded = [encode_batch(batch) for batch in rows]
    workers = settings.ingest_workers
    max_rows = 20_000_000
    copies: dict[str, CopyResult] = {}
    for write, batches in (("rows", rows), ("bytes", encoded)):
        reset_events(url)
        say(f"baseline copy_{write}: {workers} connections, {args.seconds:g} s ...")
        copied = run_copy(
            url,
            workers,
            args.seconds,
            batches,
            functools.partial(copy_batch, write),
            enough=lambda done: done.rows >= max_rows,
            prepare=_attributes_as_given,
        )
        copies[write] = copied
        rate = copied.rows / copied.elapsed
        # (the bytes form patches in fresh ids; the rows form repeats its pool)
        cycled = write == "rows" and copied.transactions > len(batches)
        say(
            f"copy_{write}: {copied.rows} rows in {copied.transactions} transactions, "
            f"{copied.elapsed:.2f} s, {rate:,.0f} rows/s"
            + (" (pool cycled: ids repeat)" if cycled else "")
            + f"; cpu {copied.cpu}"
        )
    rates = {write: c.rows / c.elapsed if c.elapsed else 0.0 for write, c in copies.items()}
    baseline = max(rates.values())
    return {
        "events_per_s": round(events_per_s, 1),
        "baseline_per_s": round(baseline, 1),
        "ratio": round(events_per_s / baseline, 3) if baseline else None,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "requests": len(latencies),
        "clients": args.clients,
        "batch": args.batch,
        "gzip": args.gzip,
        "seconds": args.seconds,
        "no_errors": args.no_errors,
        "statuses": {str(status): count for status, count in sorted(http.statuses.items())},
        "stored_equals_acked": stored == expected,
        "body_kb": round(body_bytes / 1024, 1),
        "ingest_workers": workers,
        "baseline_copy_rows_per_s": round(rates["rows"], 1),
        "baseline_copy_bytes_per_s": round(rates["bytes"], 1),
        "http_cpu": http.cpu,
        "copy_rows_cpu": copies["rows"].cpu,
        "copy_bytes_cpu": copies["bytes"].cpu,
    }


if __name__ == "__main__":
    main()
