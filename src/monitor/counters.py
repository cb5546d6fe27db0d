"""Counters an actor owns and the web edge reads for /stats and /metrics.

Each dataclass here is written by exactly one actor, on the Trio thread:
`IngestCounters` by `ingest`, `MetricIngestCounters` by `metric_ingest`,
`LimiterCounters` by `ratelimit` (its decision loop, and the `RedisLimits`
it runs, whose reconnecting `maintain` task is a second task of that actor).
Readers only read. The websocket figures are not here: several tasks act on
a connection, so `LiveCounters` (live_connections.py) is an immutable sum made on
demand by `LiveConnections`, whose methods and its outboxes' are their only
writers.
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
