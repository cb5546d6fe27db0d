"""The latency the rate limiter adds to a request, in memory and on Redis.

    python bench/ratelimit.py [--requests 3000] [--seconds 30] [--concurrency 1]

What it does, in one run, on a throw-away database `bench_ratelimit_<random>`
(dropped at the end):

1. Starts three services in this process (port 0), on the same database:
   - `off`: no limits at all (`MONITOR_RATE_LIMIT_PER_IP=0` and a key with
     `rate_limit` 0), so the limiter is never asked — the baseline;
   - `memory`: per-address and per-key limits far above the load, no Redis;
   - `redis`: the same limits counted in Redis (`MONITOR_BENCH_REDIS`,
     default redis://127.0.0.1:6379/0, under a random key prefix).
2. Sends `GET /stats` (authenticated, no database work once the key is
   cached) round-robin to the three, so all see the same machine state, for
   at most `--requests` requests each and at most `--seconds` in all; with
   `--concurrency` > 1 that many such loops run at once.
3. Prints each mode's median and p99 latency; the ratio of a mode's median to
   the baseline's is the cost of its limiter (two limiter decisions per
   request: the address's and the key's).

The last line on stdout is one JSON object; progress goes to stderr.

Caveats: the clients share this process and its Trio loop (and the GIL) with
the services; the machine has 2 cores and is shared. Read the figures as
relative to the baseline taken alongside them, not as absolute latencies.
"""

from __future__ import annotations

import argparse
import functools
import os
import secrets
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from common import CpuMeter, on_throwaway_database, percentile, say, with_service_settings
from monitor import service
from monitor.config import Settings
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations

REDIS_URL = os.environ.get("MONITOR_BENCH_REDIS", "redis://127.0.0.1:6379/0")
HIGH_LIMIT = 1_000_000_000  # far above the load: every request is allowed
MODES = ("off", "memory", "redis")
PATH = "/stats"


@dataclass
class Mode:
    name: str
    settings: Settings
    token: str = ""
    base_url: str = ""
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


def mode_settings(base: Settings, name: str) -> Settings:
    if name == "off":
        return base.replace(rate_limit_per_ip=0, rate_limit_per_key=0, redis_url=None)
    limits = base.replace(rate_limit_per_ip=HIGH_LIMIT, rate_limit_per_key=HIGH_LIMIT)
    if name == "memory":
        return limits.replace(redis_url=None)
    return limits.replace(redis_url=REDIS_URL, redis_prefix=f"bench-{secrets.token_hex(4)}:")


async def make_keys(url: str) -> dict[str, str]:
    await trio.to_thread.run_sync(apply_migrations, url)
    async with open_gateway(
        url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        tokens = {}
        for name in MODES:
            _, tokens[name] = await key_store.create_key(
                gateway,
                name=f"bench {name}",
                role=Role.READ,
                rate_limit=0 if name == "off" else HIGH_LIMIT,
                expires_at=None,
                by=Attribution(Actor.system("bench")),
            )
    return tokens


async def measure(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    assert settings.database_url is not None
    # Keys first: with a key present, no bootstrap admin key is printed.
    tokens = await make_keys(settings.database_url)
    modes = [Mode(name, mode_settings(settings, name), tokens[name]) for name in MODES]
    stops = [trio.Event() for _ in modes]
    async with trio.open_nursery() as nursery:
        for mode, stop in zip(modes, stops, strict=True):
            with trio.fail_after(60):
                running: service.Running = await nursery.start(
                    functools.partial(service.run, mode.settings, stop=stop, handle_signals=False)
                )
            mode.base_url = f"http://127.0.0.1:{running.port}"
        try:
            cpu = await load(modes, args)
        finally:
            for stop in stops:
                stop.set()
    return summary(modes, cpu, args)


async def load(modes: list[Mode], args: argparse.Namespace) -> dict[str, float]:
    clients = {
        mode.name: httpx.AsyncClient(
            base_url=mode.base_url, headers={"X-API-Key": mode.token}, timeout=10
        )
        for mode in modes
    }
    try:
        for mode in modes:  # warm-up: connections open, keys cached, Redis script loaded
            for _ in range(20):
                await clients[mode.name].get(PATH)
        say(f"{len(modes)} services up; {args.requests} requests each, ≤ {args.seconds:g} s")
        deadline = trio.current_time() + args.seconds
        meter = CpuMeter()

        async def loop(share: int) -> None:
            for _ in range(share):
                if trio.current_time() > deadline:
                    return
                for mode in modes:
                    started = time.perf_counter()
                    response = await clients[mode.name].get(PATH)
                    mode.latencies.append(time.perf_counter() - started)
                    mode.statuses[response.status_code] = (
                        mode.statuses.get(response.status_code, 0) + 1
                    )

        with trio.fail_after(args.seconds + 60):
            async with trio.open_nursery() as nursery:
                for _ in range(args.concurrency):
                    nursery.start_soon(loop, args.requests // args.concurrency)
        return meter.stop()
    finally:
        for client in clients.values():
            await client.aclose()


def summary(modes: list[Mode], cpu: dict[str, float], args: argparse.Namespace) -> dict[str, Any]:
    medians = {mode.name: statistics.median(mode.latencies) * 1000 for mode in modes}
    for mode in modes:
        ordered = sorted(mode.latencies)
        say(
            f"{mode.name:>6}: {len(ordered)} requests, median {medians[mode.name]:.3f} ms, "
            f"p99 {percentile(ordered, 0.99) * 1000:.3f} ms, statuses {mode.statuses}"
        )
    off = medians["off"]
    return {
        "off_median_ms": round(off, 3),
        "memory_median_ms": round(medians["memory"], 3),
        "redis_median_ms": round(medians["redis"], 3),
        "memory_ratio": round(medians["memory"] / off, 3),
        "redis_ratio": round(medians["redis"] / off, 3),
        "memory_added_ms": round(medians["memory"] - off, 3),
        "redis_added_ms": round(medians["redis"] - off, 3),
        "p99_ms": {m.name: round(percentile(sorted(m.latencies), 0.99) * 1000, 3) for m in modes},
        "requests_per_mode": min(len(m.latencies) for m in modes),
        "all_200": all(set(m.statuses) == {200} for m in modes),
        "concurrency": args.concurrency,
        "cpu": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="most requests per mode")
    parser.add_argument("--seconds", type=float, default=30, help="most time for the load")
    parser.add_argument("--concurrency", type=int, default=1, help="request loops at once")
    args = parser.parse_args()

    def run(url: str, settings: Settings) -> dict[str, Any]:
        return trio.run(measure, settings, args)

    on_throwaway_database("bench_ratelimit", with_service_settings(run))


if __name__ == "__main__":
    main()
