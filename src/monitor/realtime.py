"""This instance's last minute, second by second, for GET /api/v1/dashboard/realtime.

Recorded where things happen, all on the Trio thread, so no lock: the
request log counts every HTTP answer, the committed-batch hook counts events
(per level) and samples as their transaction commits, the ingest routes time
each request from its start to the commit's acknowledgement, and
`LiveConnections` reports the open websockets whenever their number changes.
Nothing is read from the database: each instance answers for itself and
names itself.

Each recording point costs one clock read and a dict update or two
(`bench/realtime_recording.py` measures them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from monitor.domain.events import LEVELS
from monitor.domain.per_second import (
    SecondCounts,
    SecondGauge,
    SecondHistograms,
    merged,
    quantile,
)
from monitor.messages import CommittedEvents, CommittedSamples, Publishable

WINDOW_SECONDS = 60
Clock = Callable[[], float]  # seconds since the Unix epoch

HTTP = "http"
HTTP_4XX = "http_4xx"
HTTP_5XX = "http_5xx"
SAMPLES = "samples"
_EVENT_KEYS = tuple(f"events:{level}" for level in LEVELS)  # by level number


def _milliseconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class RealtimeCounters:
    """The last `WINDOW_SECONDS` seconds of traffic, recorded in process."""

    def __init__(self, instance: str, clock: Clock = time.time) -> None:
        self.instance = instance
        self.clock = clock  # replaceable, so tests decide which second things happen in
        self._counts = SecondCounts(WINDOW_SECONDS)
        self._websockets = SecondGauge(WINDOW_SECONDS)
        self._latency = SecondHistograms(WINDOW_SECONDS)

    def request_answered(self, status: int) -> None:
        """An HTTP request got its answer (the request log calls this for each one)."""
        now = int(self.clock())
        self._counts.add(now, HTTP)
        if status >= 500:
            self._counts.add(now, HTTP_5XX)
        elif status >= 400:
            self._counts.add(now, HTTP_4XX)

    def committed(self, batch: Publishable) -> None:
        """A transaction of events or samples committed (the publish hook's tap)."""
        if isinstance(batch, CommittedEvents):
            per_level = [0] * len(LEVELS)
            for row in batch.rows:  # a list by level number: cheaper than a Counter
                per_level[row.level] += 1
            now = int(self.clock())
            for key, count in zip(_EVENT_KEYS, per_level, strict=True):
                if count:
                    self._counts.add(now, key, count)
        elif isinstance(batch, CommittedSamples):
            samples = sum(len(points) for _, points in batch.batches)
            self._counts.add(int(self.clock()), SAMPLES, samples)

    def ingest_acknowledged(self, seconds: float) -> None:
        """An ingest request's commit was acknowledged `seconds` after the request began."""
        self._latency.add(int(self.clock()), seconds * 1000)

    def websockets_open(self, count: int) -> None:
        """The number of open websockets changed to `count`."""
        self._websockets.set(int(self.clock()), count)

    def snapshot(self) -> dict[str, Any]:
        """The answer of GET /api/v1/dashboard/realtime: each second of the window, oldest
        first."""
        now = self.clock()
        second = int(now)
        counts = self._counts.window(second)
        latency = self._latency.window(second)
        whole = merged(latency)
        return {
            "instance": self.instance,
            "now": round(now, 3),
            "seconds": list(counts.seconds),
            "events_per_s": {
                level: counts.series(key) for level, key in zip(LEVELS, _EVENT_KEYS, strict=True)
            },
            "samples_per_s": counts.series(SAMPLES),
            "http_requests_per_s": counts.series(HTTP),
            "http_4xx_per_s": counts.series(HTTP_4XX),
            "http_5xx_per_s": counts.series(HTTP_5XX),
            "websockets_open": self._websockets.window(second),
            "ingest_latency_ms": {
                "p50": [_milliseconds(quantile(h, 0.5)) for h in latency],
                "p99": [_milliseconds(quantile(h, 0.99)) for h in latency],
                "window": {
                    "requests": sum(whole.values()),
                    "p50": _milliseconds(quantile(whole, 0.5)),
                    "p99": _milliseconds(quantile(whole, 0.99)),
                },
            },
        }
