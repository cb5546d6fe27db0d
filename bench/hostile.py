"""Hostile traffic beside normal traffic: the service's memory and its normal users' latency.

One `monitor serve` process (its own throw-away database) gets a steady,
open-loop stream of normal traffic from 127.0.0.1 for the whole run: small
event batches (POST /api/v1/events/bulk) and queries (GET /api/v1/events,
GET /api/v1/metrics/latest), at a fixed rate so that latency, not
throughput, is what changes. After a warm-up, quiet and hostile windows
alternate (15 s each, 60 s of hostile traffic in all), so both are measured
on the same growing database and the same machine:

- quiet: normal traffic alone (the baseline, in the same run);
- hostile: normal traffic plus, from other loopback addresses (as an
  attacker's would be), big bodies to routes that refuse them (404, 405,
  invalid JSON 400, over-size 413), gzip bombs, slow-header and silent
  connections, and floods of bad keys;
- after: normal traffic alone again at the end (does memory come back?).

The server's RSS is sampled every half second throughout. The last line is
one JSON object: RSS at start, peak and end, the normal traffic's p50/p99 per
phase and the hostile/quiet p99 ratio (aim: RSS growth < 50 MB, ratio < 2),
and what each kind of hostile request got.

Every loop is bounded in time; traffic only goes to loopback addresses.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from common import CpuMeter, on_throwaway_database, percentile, say
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations
from server_process import ServerProcess, start_server

NORMAL_ADDRESS = "127.0.0.1"
HOSTILE_ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
BIG_BODY = b"x" * (9 * 1024 * 1024)


@functools.cache
def TOO_BIG() -> bytes:
    return b"[" + b"0," * (6 * 1024 * 1024) + b"0]"  # over the 10 MiB body limit


@functools.cache
def GZIP_BOMB() -> bytes:
    bomb = gzip.compress(b"[" + b" " * (256 * 1024 * 1024) + b"]", compresslevel=9)
    say(f"gzip bomb: {len(bomb):,} bytes inflating to 256 MiB")
    return bomb


@dataclass(frozen=True)
class Target:
    """Where the hostile traffic goes."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def make_key(url: str) -> str:
    await trio.to_thread.run_sync(apply_migrations, url)
    async with open_gateway(
        url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        _, token = await key_store.create_key(
            gateway,
            name="bench",
            role=Role.WRITE,
            rate_limit=0,
            expires_at=None,
            by=Attribution(Actor.system("bench")),
        )
    return token


def client_from(address: str, base_url: str, **kwargs: Any) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(
        base_url=base_url, transport=transport, timeout=httpx.Timeout(30), **kwargs
    )


def event_batch(size: int) -> bytes:
    now = time.time()
    return json.dumps(
        [
            {
                "type": "bench.hostile",
                "level": "info",
                "source": f"host-{n % 10}",
                "message": f"normal event {n}",
                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + "Z",
                "attributes": {"n": n},
            }
            for n in range(size)
        ]
    ).encode()


@dataclass
class Normal:
    """Latencies of normal requests, by phase."""

    phase: str = "quiet"
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    busy: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))


async def normal_traffic(
    server: ServerProcess, token: str, normal: Normal, rate: float, stop: trio.Event
) -> None:
    """Open loop: one request every 1/rate s, alternating ingest and two queries."""
    body = event_batch(50)
    requests = [
        ("POST", "/api/v1/events/bulk", body),
        ("GET", "/api/v1/events?limit=50", None),
        ("GET", "/api/v1/metrics/latest", None),
    ]
    headers = {"X-API-Key": token, "Content-Type": "application/json"}
    async with client_from(NORMAL_ADDRESS, server.url, headers=headers) as client:

        async def one(method: str, path: str, content: bytes | None) -> None:
            phase = normal.phase
            sent = time.perf_counter()
            try:
                response = await client.request(method, path, content=content)
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            took = time.perf_counter() - sent
            normal.latencies[phase].append(took)
            normal.latencies[f"{phase} {method} {path.split('?')[0]}"].append(took)
            normal.statuses[phase][status] += 1

        async with trio.open_nursery() as nursery:
            turn = 0
            next_at = trio.current_time()
            while not stop.is_set():
                method, path, content = requests[turn % len(requests)]
                turn += 1
                nursery.start_soon(one, method, path, content)
                next_at += 1 / rate
                await trio.sleep_until(next_at)


@dataclass
class Hostile:
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    slow_header_lifetimes: list[float] = field(default_factory=list)


async def paced(rate: float, stop: trio.Event, action: Any) -> None:
    """Run `action()` at most `rate` times a second, one at a time, until `stop`."""
    next_at = trio.current_time()
    while not stop.is_set():
        with trio.move_on_after(30):
            await action()
        next_at = max(next_at + 1 / rate, trio.current_time())
        await trio.sleep_until(next_at)


async def big_bodies(
    server: Target, token: str, hostile: Hostile, rate: float, stop: trio.Event
) -> None:
    too_big = TOO_BIG()
    targets = [
        ("404", "/nowhere", {}, BIG_BODY),
        ("405", "/health", {}, BIG_BODY),
        ("400", "/api/v1/events/bulk", {"X-API-Key": token}, BIG_BODY),
        ("413", "/api/v1/events/bulk", {"X-API-Key": token}, too_big),
    ]
    async with client_from(HOSTILE_ADDRESSES[0], server.url) as client:
        turn = 0

        async def send() -> None:
            nonlocal turn
            kind, path, headers, body = targets[turn % len(targets)]
            turn += 1
            try:
                response = await client.post(
                    path, content=body, headers={**headers, "Content-Type": "application/json"}
                )
                hostile.statuses[f"big_{kind}"][str(response.status_code)] += 1
            except httpx.HTTPError as failure:
                hostile.statuses[f"big_{kind}"][type(failure).__name__] += 1

        await paced(rate, stop, send)


async def gzip_bombs(server: Target, token: str, hostile: Hostile, rate: float, stop: trio.Event):
    bomb = GZIP_BOMB()
    headers = {"X-API-Key": token, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with client_from(HOSTILE_ADDRESSES[0], server.url, headers=headers) as client:

        async def send() -> None:
            try:
                response = await client.post("/api/v1/events/bulk", content=bomb)
                hostile.statuses["gzip_bomb"][str(response.status_code)] += 1
            except httpx.HTTPError as failure:
                hostile.statuses["gzip_bomb"][type(failure).__name__] += 1

        await paced(rate, stop, send)


async def bad_keys(server: Target, hostile: Hostile, rate: float, stop: trio.Event) -> None:
    async with client_from(HOSTILE_ADDRESSES[1], server.url) as client:
        turn = 0

        async def send() -> None:
            nonlocal turn
            turn += 1
            key = f"mon_{turn:08x}_{'x' * 32}"
            try:
                response = await client.get("/api/v1/events", headers={"X-API-Key": key})
                hostile.statuses["bad_key"][str(response.status_code)] += 1
            except httpx.HTTPError as failure:
                hostile.statuses["bad_key"][type(failure).__name__] += 1

        await paced(rate, stop, send)


async def slow_headers(server: Target, hostile: Hostile, stop: trio.Event, *, silent: bool):
    """Keep one connection open that sends a header byte every 2 s (or nothing)."""
    kind = "silent" if silent else "slow_header"
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
    while not stop.is_set():
        opened = trio.current_time()
        try:
            stream = await trio.open_tcp_stream(
                "127.0.0.1", server.port, local_address=HOSTILE_ADDRESSES[2]
            )
        except OSError as failure:
            hostile.statuses[kind][type(failure).__name__] += 1
            await trio.sleep(1)
            continue
        outcome = "closed by the server"
        async with stream:
            try:
                for byte in head:
                    if not silent:
                        await stream.send_all(bytes([byte]))
                    with trio.move_on_after(2):
                        if await stream.receive_some(65536) != b"":
                            outcome = "answered"
                        break
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        # Reached only when the server ended it; the end of the phase cancels this task.
        hostile.statuses[kind][outcome] += 1
        hostile.slow_header_lifetimes.append(trio.current_time() - opened)


async def attack(
    server: ServerProcess, token: str, hostile: Hostile, args: argparse.Namespace
) -> None:
    """One window of every kind of hostile traffic, sent by a process of its own.

    As a real attacker's would be: sending megabytes and keeping sockets
    busy in this process would also delay the normal requests' client, and
    that would be counted as the service's latency.
    """
    command = [
        sys.executable,
        __file__,
        "--attack-for",
        str(args.window),
        "--port",
        str(server.port),
        "--token",
        token,
        "--big-body-rate",
        str(args.big_body_rate),
        "--bomb-rate",
        str(args.bomb_rate),
        "--bad-key-rate",
        str(args.bad_key_rate),
        "--slow-connections",
        str(args.slow_connections),
    ]
    with trio.fail_after(args.window + 60):
        done = await trio.run_process(command, capture_stdout=True)
    report = json.loads(done.stdout.decode().strip().splitlines()[-1])
    for kind, counts in report["statuses"].items():
        hostile.statuses[kind].update(counts)
    hostile.slow_header_lifetimes.extend(report["lifetimes"])


async def attack_for(args: argparse.Namespace) -> None:
    """The attacker process: every kind at once for `--attack-for` seconds, then a report."""
    target, token, hostile = Target(args.port), args.token, Hostile()
    TOO_BIG(), GZIP_BOMB()  # before the window: compressing takes this process ~1 s
    stop = trio.Event()
    async with trio.open_nursery() as attackers:
        for kind, rate, *extra in (
            (big_bodies, args.big_body_rate, token),
            (gzip_bombs, args.bomb_rate, token),
            (bad_keys, args.bad_key_rate),
        ):
            if rate > 0:  # 0 leaves that kind out, to see what each one costs
                attackers.start_soon(kind, target, *extra, hostile, rate, stop)
        for number in range(args.slow_connections):
            silent = number % 2 == 1
            attackers.start_soon(
                functools.partial(slow_headers, silent=silent), target, hostile, stop
            )
        await trio.sleep(args.attack_for)
        stop.set()
        attackers.cancel_scope.cancel()
    report = {"statuses": hostile.statuses, "lifetimes": hostile.slow_header_lifetimes}
    print(json.dumps(report), flush=True)


async def watch_rss(server: ServerProcess, samples: list[tuple[float, str, float]], normal: Normal):
    """RSS every half second; the server's and the machine's CPU use per phase."""
    started = trio.current_time()
    cpu, machine = server.cpu_seconds(), CpuMeter()
    while True:
        await trio.sleep(0.5)
        samples.append((round(trio.current_time() - started, 1), normal.phase, server.rss_mb()))
        now_cpu, now_machine = server.cpu_seconds(), CpuMeter()
        normal.cpu[normal.phase].append((now_cpu - cpu) / 0.5)
        normal.busy[normal.phase].append(machine.stop()["machine_busy"])
        cpu, machine = now_cpu, now_machine


def phase_figures(normal: Normal, phase: str) -> dict[str, Any]:
    latencies = sorted(normal.latencies[phase])
    by_route = {
        name.split(" ", 1)[1]: round(percentile(sorted(values), 0.99) * 1000, 1)
        for name, values in normal.latencies.items()
        if name.startswith(f"{phase} ")
    }
    return {
        "requests": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "p99_ms_by_route": by_route,
        "server_cores": round(statistics.fmean(normal.cpu[phase] or [0]), 2),
        "machine_busy": round(statistics.fmean(normal.busy[phase] or [0]), 2),
        "statuses": dict(normal.statuses[phase]),
    }


async def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    token = await make_key(url)
    normal = Normal()
    hostile = Hostile()
    rss: list[tuple[float, str, float]] = []
    async with trio.open_nursery() as outer:
        server = await start_server(url, outer)
        say(f"server pid {server.process.pid} on port {server.port}, RSS {server.rss_mb():.0f} MB")
        stop_normal = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_rss, server, rss, normal)
            nursery.start_soon(normal_traffic, server, token, normal, args.rate, stop_normal)
            normal.phase = "warm-up"
            say(f"warm-up: {args.warmup} s")
            await trio.sleep(args.warmup)
            rss_start = server.rss_mb()
            # Quiet and hostile windows alternate, so that both see the same
            # database (its tables grow all along) and the same machine.
            windows = max(1, round(args.hostile / args.window))
            for window in range(windows):
                normal.phase = "quiet"
                say(
                    f"window {window + 1}/{windows}: quiet {args.window} s, hostile {args.window} s"
                )
                await trio.sleep(args.window)
                normal.phase = "hostile"
                await attack(server, token, hostile, args)
            normal.phase = "after"
            say(f"after: {args.after} s")
            await trio.sleep(args.after)
            stop_normal.set()
            nursery.cancel_scope.cancel()
        rss_end = server.rss_mb()
        server.process.terminate()
        with trio.move_on_after(20):
            await server.process.wait()
        outer.cancel_scope.cancel()

    quiet = phase_figures(normal, "quiet")
    under_attack = phase_figures(normal, "hostile")
    after = phase_figures(normal, "after")
    peak = max(value for _, _, value in rss)
    lifetimes = sorted(hostile.slow_header_lifetimes)
    say("RSS (MB) every 5 s:", [round(value) for _, _, value in rss[::10]])
    for line in server.errors[:5]:
        say("server:", line)
    return {
        "rss_start_mb": round(rss_start),
        "rss_peak_mb": round(peak),
        "rss_end_mb": round(rss_end),
        "rss_growth_mb": round(rss_end - rss_start),
        "rss_peak_growth_mb": round(peak - rss_start),
        "quiet": quiet,
        "hostile": under_attack,
        "after": after,
        "p99_ratio": round(under_attack["p99_ms"] / quiet["p99_ms"], 2),
        "hostile_requests": {kind: dict(counts) for kind, counts in hostile.statuses.items()},
        "slow_connection_lifetime_s": {
            "p50": round(percentile(lifetimes, 0.5), 1) if lifetimes else None,
            "max": round(lifetimes[-1], 1) if lifetimes else None,
        },
        "server_errors_logged": len(server.errors),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warmup", type=float, default=10, help="seconds before measuring")
    # The attacker process's own arguments (see attack()).
    parser.add_argument("--attack-for", type=float, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--token", default="", help=argparse.SUPPRESS)
    parser.add_argument("--hostile", type=float, default=60, help="seconds of hostile traffic")
    parser.add_argument(
        "--window", type=float, default=15, help="seconds of each quiet and hostile window"
    )
    parser.add_argument("--after", type=float, default=15, help="seconds of normal traffic after")
    parser.add_argument("--rate", type=float, default=30, help="normal requests per second")
    parser.add_argument("--big-body-rate", type=float, default=2, help="9 MB bodies per second")
    parser.add_argument("--bomb-rate", type=float, default=1, help="gzip bombs per second")
    parser.add_argument("--bad-key-rate", type=float, default=50, help="bad keys per second")
    parser.add_argument("--slow-connections", type=int, default=40, help="slow/silent sockets")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.attack_for:
        trio.run(attack_for, args)
        return
    on_throwaway_database("bench_hostile", lambda url: trio.run(bench, url, args))


if __name__ == "__main__":
    main()
