"""What the realtime figures cost on the hot path: each recording call, in nanoseconds.

Times each call `RealtimeCounters` makes per request (an answer counted, an
ingest acknowledged, a committed batch of events counted), with the real
clock, against an in-run baseline: the `RequestCounters.finished` call every
request already made for /stats. Prints one JSON line.

    PYTHONPATH=src python bench/realtime_recording.py
"""

from __future__ import annotations

import json
import statistics
import timeit
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from monitor.messages import CommittedEvents
from monitor.realtime import RealtimeCounters
from monitor.web.deps import RequestCounters

CALLS = 200_000
REPEATS = 7


def nanoseconds_per_call(call: Callable[[], object]) -> float:
    runs = timeit.repeat(call, number=CALLS, repeat=REPEATS)
    return round(statistics.median(runs) / CALLS * 1e9, 1)


def events(count: int) -> CommittedEvents:
    from monitor.domain.rows import EventRow

    now = datetime.now(UTC)
    rows = [
        EventRow(uuid.uuid4(), now, now, "t", n % 5, "", "", b"{}", None, None, False)
        for n in range(count)
    ]
    return CommittedEvents(rows, {})


def main() -> None:
    realtime = RealtimeCounters("bench:0")
    baseline = RequestCounters()
    one_event, hundred_events = events(1), events(100)
    figures = {
        "baseline_request_counters_finished_ns": nanoseconds_per_call(
            lambda: baseline.finished(200)
        ),
        "request_answered_200_ns": nanoseconds_per_call(lambda: realtime.request_answered(200)),
        "request_answered_503_ns": nanoseconds_per_call(lambda: realtime.request_answered(503)),
        "ingest_acknowledged_ns": nanoseconds_per_call(
            lambda: realtime.ingest_acknowledged(0.0042)
        ),
        "websockets_open_ns": nanoseconds_per_call(lambda: realtime.websockets_open(3)),
        "committed_1_event_ns": nanoseconds_per_call(lambda: realtime.committed(one_event)),
        "committed_100_events_ns": nanoseconds_per_call(lambda: realtime.committed(hundred_events)),
        "snapshot_us": round(
            statistics.median(timeit.repeat(realtime.snapshot, number=200, repeat=REPEATS))
            / 200
            * 1e6,
            1,
        ),
    }
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
