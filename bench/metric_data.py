"""Realistic metric series and binary COPY helpers, shared by the metric benchmarks.

Series are spread over a few metric names, each with 2-3 labels whose values
come from realistic pools (hosts, routes, queues ...). Sample values follow the
metric's type: latencies for the histogram, fractions and sizes for gauges,
growing totals for the counter.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import synthetic

# (name, type, label names, share of the series)
METRICS = (
    ("http_request_duration_seconds", "histogram", ("route", "method", "status"), 0.30),
    ("node_cpu_usage_ratio", "gauge", ("host", "cpu"), 0.25),
    ("process_resident_memory_bytes", "gauge", ("host", "service"), 0.15),
    ("queue_depth", "gauge", ("queue", "region"), 0.10),
    ("jobs_processed_total", "counter", ("worker", "job", "outcome"), 0.20),
)
POOLS = {
    "route": tuple(
        f"/api/v1/{resource}{suffix}"
        for resource in ("orders", "users", "cart", "search", "invoices", "payments", "sessions")
        for suffix in ("", "/{id}", "/{id}/items")
    ),
    "method": ("GET", "POST", "PUT", "DELETE"),
    "status": ("2xx", "3xx", "4xx", "5xx"),
    "host": tuple(f"node-{n:03d}" for n in range(1, 65)),
    "cpu": tuple(str(n) for n in range(8)),
    "service": ("api", "worker", "web", "billing", "auth", "search"),
    "queue": ("emails", "webhooks", "exports", "thumbnails", "billing", "search-index"),
    "region": ("eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1"),
    "worker": tuple(f"worker-{n:02d}" for n in range(1, 17)),
    "job": ("send_email", "render_pdf", "sync_crm", "charge_card", "reindex", "cleanup"),
    "outcome": ("ok", "error"),
}


@dataclass(frozen=True)
class Series:
    name: str
    type: str
    labels: dict[str, str]

    @property
    def identity(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        """(name, source, sorted labels): how the service tells series apart."""
        return (self.name, "", tuple(sorted(self.labels.items())))


def make_series(count: int) -> list[Series]:
    """`count` distinct series over METRICS, deterministic, metrics interleaved."""
    shares = [share for *_, share in METRICS]
    per_metric = [int(count * share) for share in shares]
    per_metric[0] += count - sum(per_metric)
    by_metric: list[list[Series]] = []
    for (name, kind, label_names, _), wanted in zip(METRICS, per_metric, strict=True):
        found = []
        for number in range(wanted):
            labels = {}
            rest = number
            for position, label in enumerate(label_names):
                pool = POOLS[label]
                if position == len(label_names) - 1 and rest >= len(pool):
                    # Past every combination of the pools: make the last label unique.
                    labels[label] = f"{pool[rest % len(pool)]}-{rest // len(pool)}"
                else:
                    labels[label] = pool[rest % len(pool)]
                rest //= len(pool)
            found.append(Series(name, kind, labels))
        by_metric.append(found)
    out: list[Series] = []
    for index in range(max(per_metric, default=0)):
        out.extend(found[index] for found in by_metric if index < len(found))
    assert len({s.identity for s in out}) == len(out) == count
    return out


def sample_value(series: Series, rng: random.Random, step: int) -> float:
    """A plausible value for `series` at its `step`-th sample."""
    if series.type == "histogram":
        return round(rng.lognormvariate(-3.5, 1.0), 6)  # seconds, median ~30 ms
    if series.type == "counter":
        return float(step * 7 + int(rng.random() * 7))
    if series.name == "node_cpu_usage_ratio":
        return round(min(1.0, max(0.0, 0.35 + 0.25 * math.sin(step / 30) + rng.gauss(0, 0.05))), 4)
    if series.name == "process_resident_memory_bytes":
        return float(int(2e8 + 5e7 * math.sin(step / 100) + rng.random() * 1e6))
    return float(int(abs(rng.gauss(20, 15))))


# --- binary COPY of samples(series_id int4, time timestamptz, value float8) --------------------

ROW = struct.Struct("!hiiiqid")  # field count, then (length, value) for each of the 3 columns
ROW_SIZE = ROW.size  # 34 bytes
TIME_OFFSET = 2 + 4 + 4 + 4  # within a row: after the count, the id and the time's length


def microseconds(moment: datetime) -> int:
    """PostgreSQL's timestamptz: microseconds since 2000-01-01 UTC."""
    delta = moment - synthetic.PG_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_rows(rows: Sequence[tuple[int, int, float]]) -> bytes:
    """(series id, microseconds since 2000, value) rows as one binary COPY payload."""
    pack = ROW.pack
    return b"".join(
        [
            synthetic.COPY_SIGNATURE,
            *(pack(3, 4, series_id, 8, micros, 8, value) for series_id, micros, value in rows),
            synthetic.COPY_TRAILER,
        ]
    )


def row_count(payload: bytes) -> int:
    framing = len(synthetic.COPY_SIGNATURE) + len(synthetic.COPY_TRAILER)
    return (len(payload) - framing) // ROW_SIZE


def restamp(payload: bytes, micros: int) -> bytearray:
    """`payload` (from encode_rows) with every row's time set to `micros`."""
    out = bytearray(payload)
    stamp = struct.pack("!q", micros)
    start = len(synthetic.COPY_SIGNATURE) + TIME_OFFSET
    end = len(out) - len(synthetic.COPY_TRAILER)
    for offset in range(start, end, ROW_SIZE):
        out[offset : offset + 8] = stamp
    return out
