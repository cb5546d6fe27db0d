"""Counters an actor owns and the web edge reads for /stats and /metrics.

Each is written by exactly one actor, on the Trio thread; readers only read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IngestCounters:
    requests: int = 0
    rows: int = 0
    transactions: int = 0
    rejected_requests: int = 0
    unavailable_requests: int = 0
    replies_dropped: int = 0


@dataclass
class MetricIngestCounters:
    requests: int = 0
    samples: int = 0
    transactions: int = 0
    refused_requests: int = 0  # type conflicts and cardinality limits (422)
    unavailable_requests: int = 0
    increments: int = 0
    stale_series_retries: int = 0


@dataclass
class LimiterCounters:
    decisions: int = 0
    refused: int = 0
    redis_decisions: int = 0
    redis_round_trips: int = 0  # pipelines sent; fewer than redis_decisions when batched
    fallback_decisions: int = 0  # decided in memory because Redis was unreachable
    redis_outages: int = 0
    redis_degraded: bool = False  # Redis configured but unreachable right now
    tracked_identities: int = 0
    evicted_identities: int = 0
