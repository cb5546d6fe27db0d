"""Many viewers polling one dashboard: latency, statuses, and how often anything was computed.

Each viewer is a Trio task with its own HTTP client bound to its own loopback
address (127.0.1.<n>: as many browsers on as many machines, so the per-address
limits apply to each alone). Every `period` seconds, from a random phase of
its own, it fetches every widget's answer at once (as a page would), sending
`If-None-Match` with the tag it holds (a browser re-poll), and records the
latency, the status, and the tick end the answer's `Cache-Control: max-age`
announces. The ticks seen per distinct request give the most computations
the cache may have made: one per (request, tick).
"""

from __future__ import annotations

import contextlib
import math
import random
import ssl
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from common import percentile
from monitor.process_settings import tune_for_serving

LAG_PROBE = 0.01  # seconds between probes of the event loop's lag
TICK_TOLERANCE = 1.5  # seconds: max-age is whole seconds, so tick ends estimate within 1 s


@dataclass(frozen=True)
class Target:
    """A widget's request: its route's path and query parameters."""

    title: str
    path: str
    params: tuple[tuple[str, str], ...]

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return (self.path, tuple(sorted(self.params)))


@dataclass
class Poll:
    target: int
    sent: float  # trio clock
    latency: float
    status: str
    tick_end: float | None  # wall-clock seconds, from Cache-Control max-age


@dataclass
class Viewers:
    polls: list[Poll] = field(default_factory=list)
    late: int = 0  # rounds that started late because the previous round outlasted the period
    start: float = 0.0  # trio clock: when the first viewer could start
    lags: list[float] = field(default_factory=list)  # of this process's event loop, seconds


def _max_age(response: httpx.Response) -> float | None:
    for part in response.headers.get("cache-control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "max-age" and value.isdigit():
            return float(value)
    return None


def _client(base_url: str, address: str, token: str, tls: ssl.SSLContext) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        # One TLS context for all (the URL is http://): each client would load the CA
        # certificates otherwise, tens of milliseconds apiece.
        transport=httpx.AsyncHTTPTransport(
            local_address=address, verify=tls, limits=httpx.Limits(max_connections=6)
        ),  # 6: as a browser, per host
        headers={"X-API-Key": token},
        timeout=httpx.Timeout(30),
    )


async def _viewer(
    client: httpx.AsyncClient,
    targets: Sequence[Target],
    first: float,
    period: float,
    end: float,
    result: Viewers,
) -> None:
    tags: dict[int, str] = {}

    async def fetch(number: int) -> None:
        target = targets[number]
        headers = {"If-None-Match": tags[number]} if number in tags else {}
        sent = trio.current_time()
        began = time.perf_counter()
        try:
            response = await client.get(target.path, params=target.params, headers=headers)
        except httpx.HTTPError as failure:
            result.polls.append(
                Poll(number, sent, time.perf_counter() - began, type(failure).__name__, None)
            )
            return
        latency = time.perf_counter() - began
        max_age = _max_age(response)
        if "etag" in response.headers:
            tags[number] = response.headers["etag"]
        result.polls.append(
            Poll(
                number,
                sent,
                latency,
                str(response.status_code),
                None if max_age is None else time.time() + max_age,
            )
        )

    moment = first
    while moment < end:
        await trio.sleep_until(moment)
        async with trio.open_nursery() as nursery:
            for number in range(len(targets)):
                nursery.start_soon(fetch, number)
        moment += period
        if trio.current_time() > moment:
            result.late += 1


async def poll(
    base_url: str,
    token: str,
    targets: Sequence[Target],
    *,
    viewers: int,
    period: float,
    seconds: float,
) -> Viewers:
    """`viewers` tasks polling every target every `period` s for `seconds` (bounded).

    Every client is made before the first poll, so that the phases are kept.
    """
    result = Viewers()
    rng = random.Random(9)
    tls = ssl.create_default_context()
    async with contextlib.AsyncExitStack() as clients:
        made = [
            await clients.enter_async_context(
                _client(base_url, f"127.0.{1 + n // 250}.{1 + n % 250}", token, tls)
            )
            for n in range(viewers)
        ]
        # The service's own GC settings here too: the collector's pauses in this
        # process (hundreds of clients) would otherwise count as latency.
        tune_for_serving()
        result.start = start = trio.current_time() + 0.5
        end = start + seconds
        with trio.fail_after(seconds + 120):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_watch_lag, end, result)
                for client in made:
                    first = start + rng.random() * period
                    nursery.start_soon(_viewer, client, targets, first, period, end, result)
    return result


async def _watch_lag(end: float, result: Viewers) -> None:
    """How late this process's event loop wakes a task: when the viewers' own loop is
    slow (starved of CPU, or collecting garbage), their latencies include it."""
    while trio.current_time() < end:
        asked = trio.current_time() + LAG_PROBE
        await trio.sleep_until(asked)
        result.lags.append(trio.current_time() - asked)


def _ticks(ends: Sequence[float]) -> int:
    """Distinct tick ends among estimates that are each within TICK_TOLERANCE of the truth."""
    count = 0
    last = -math.inf
    for end in sorted(ends):
        if end - last > TICK_TOLERANCE:
            count += 1
            last = end
    return count


def summary(
    result: Viewers,
    targets: Sequence[Target],
    period: float,
    before: dict[str, Any],
    after: dict[str, Any],
) -> dict[str, Any]:
    latencies = sorted(p.latency for p in result.polls)
    statuses = Counter(p.status for p in result.polls)
    per_target: dict[int, list[Poll]] = defaultdict(list)
    for p in result.polls:
        per_target[p.target].append(p)
    ticks_per_key: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = defaultdict(list)
    for number, polls in per_target.items():
        ticks_per_key[targets[number].key].extend(p.tick_end for p in polls if p.tick_end)
    most = sum(_ticks(ends) for ends in ticks_per_key.values())
    delta = {
        name: after[name] - before[name]
        for name in ("computations", "hits_local", "hits_redis", "waits", "failures", "abandoned")
    }
    widgets = {}
    for number, target in enumerate(targets):
        ordered = sorted(p.latency for p in per_target.get(number, []))
        widgets[target.title] = {
            "path": target.path,
            "params": "&".join(f"{k}={v}" for k, v in target.params),
            "requests": len(ordered),
            "p50_ms": _ms(percentile(ordered, 0.50)),
            "p99_ms": _ms(percentile(ordered, 0.99)),
            "ticks": _ticks([p.tick_end for p in per_target.get(number, []) if p.tick_end]),
        }
    by_period: dict[int, list[float]] = defaultdict(list)
    for p in result.polls:
        by_period[int((p.sent - result.start) // period)].append(p.latency)
    steady = sorted(latency for n, values in by_period.items() if n >= 1 for latency in values)
    return {
        "requests": len(latencies),
        "statuses": dict(statuses),
        "p50_ms": _ms(percentile(latencies, 0.50)),
        "p99_ms": _ms(percentile(latencies, 0.99)),
        "max_ms": _ms(latencies[-1]) if latencies else None,
        # Once every viewer has its connections open (browsers keep them).
        "p99_ms_after_first_period": _ms(percentile(steady, 0.99)),
        "late_rounds": result.late,
        # Each polling period in turn (the first opens every connection).
        "p99_ms_by_period": [
            _ms(percentile(sorted(by_period[n]), 0.99)) for n in sorted(by_period)
        ],
        "client_loop_lag_ms": {
            "p99": _ms(percentile(sorted(result.lags), 0.99)),
            "max": _ms(max(result.lags, default=math.nan)),
        },
        "cache": delta,
        "most_computations": most,  # one per (distinct request, tick seen)
        "computations_within": delta["computations"] <= most,
        "widgets": widgets,
    }


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 2)
