"""The overview page on the dashboard benchmark's data: its server time, and live-update latency.

    python bench/ui_pages.py [--seconds 30] [--computed-runs 8] [--live-samples 5]

Needs the database `bench_dashboard` (1M events, 10M samples over 7 days,
built by bench/dashboard.py; this script never builds it). In one run:

1. Shared (the service's defaults): `monitor serve` in its own process,
   signed in with a session like a browser. For `--seconds`, sequential
   requests alternate between the page (`GET /`, the last 24 h, gzip
   accepted) and the baseline in the same run: the API answer the page is
   built around (`GET /api/v1/dashboard/overview?range=24h`, by key). Server
   time is the service's own (its access log: from arrival to the answer
   being ready), client time includes the transfer. Requests that had to
   compute (a tick ended) are among them, as real viewers meet them; /stats
   `dashboard_cache.computations` says how many.
2. Computed: the service again with MONITOR_DASHBOARD_CACHE_BYTES=0, so every
   request computes everything: the page (overview, events by level,
   top errors, latest critical) against the overview API alone.
3. Live: Chromium (Playwright) signed in on the page of phase 1's service
   (again with the cache); a critical event is posted through the API and
   the time until its message is in the page's DOM is measured, without a
   reload. Each event is posted at a random moment of the 10 s tick: the
   overview's numbers move once per tick, so this is mostly the wait for the
   tick to end: expect 0.3 to 10.5 s, about 5.5 s on average.

Caveats: 2 shared cores run PostgreSQL, the service and the clients; other
work runs on the machine too. Route and baseline alternate, so both see the
same disturbances. The last line on stdout is one JSON object; progress goes
to stderr.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import trio

from common import database_url_for, percentile, say
from dashboard import RequestLog, make_keys, wait_ready
from dashboard_data import DATABASE
from server_process import ServerProcess, start_server

PAGE = "/"
BASELINE = "/api/v1/dashboard/overview"
RANGE = {"range": "24h"}
BUILD_DONE = Path("/tmp/bench/build.done")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
LIVE_TIMEOUT_MS = 40_000
TICK_S = 10.0  # the overview's tick


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def summary_ms(seconds: list[float]) -> dict[str, float | int]:
    if not seconds:
        return {"n": 0}
    ordered = sorted(value * 1000 for value in seconds)
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "p95": round(percentile(ordered, 0.95), 2),
        "p99": round(percentile(ordered, 0.99), 2),
        "max": round(ordered[-1], 2),
    }


async def sign_in(client: httpx.AsyncClient, server: ServerProcess, admin: str) -> None:
    """The session cookie, as a browser gets it: the form post from the service's own origin."""
    response = await client.post("/ui/sign-in", data={"key": admin}, headers={"Origin": server.url})
    if response.status_code != 303:
        raise RuntimeError(f"sign-in: {response.status_code} {response.text[:300]}")


async def computations(client: httpx.AsyncClient, admin: str) -> int:
    stats = await client.get("/stats", headers={"X-API-Key": admin})
    stats.raise_for_status()
    counted: int = stats.json()["dashboard_cache"]["computations"]
    return counted


async def alternate(
    server: ServerProcess, log: RequestLog, admin: str, *, seconds: float, runs: int | None
) -> dict[str, Any]:
    """Page and baseline, one after the other, for `seconds` (or `runs` pairs)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        await sign_in(client, server, admin)
        for _ in range(3):  # warm: templates compiled, connections open, answers shared
            (await client.get(PAGE, params=RANGE)).raise_for_status()
            (await client.get(BASELINE, params=RANGE, headers={"X-API-Key": admin}))
        before = await computations(client, admin)
        mark = log.mark()
        client_times: dict[str, list[float]] = {"page": [], "baseline": []}
        sizes: list[int] = []
        ends = time.monotonic() + seconds
        pairs = 0
        while (runs is None and time.monotonic() < ends) or (runs is not None and pairs < runs):
            began = time.perf_counter()
            page = await client.get(PAGE, params=RANGE, headers={"Accept-Encoding": "gzip"})
            client_times["page"].append(time.perf_counter() - began)
            page.raise_for_status()
            sizes.append(len(page.content))
            began = time.perf_counter()
            api = await client.get(BASELINE, params=RANGE, headers={"X-API-Key": admin})
            client_times["baseline"].append(time.perf_counter() - began)
            api.raise_for_status()
            pairs += 1
        after = await computations(client, admin)
    page_server = await log.durations(mark, lambda _, path: path == "/?range=24h", pairs)
    api_server = await log.durations(mark, lambda _, path: path == BASELINE + "?range=24h", pairs)
    return {
        "pairs": pairs,
        "computations": after - before,
        "page_server_ms": summary_ms(page_server),
        "baseline_server_ms": summary_ms(api_server),
        "page_client_ms": summary_ms(client_times["page"]),
        "baseline_client_ms": summary_ms(client_times["baseline"]),
        "page_html_bytes_decoded": round(statistics.median(sizes)) if sizes else None,
    }


def live_latency(base_url: str, admin: str, samples: int) -> dict[str, Any]:
    """Seconds from an event's POST being acknowledged to its message in the page's DOM."""
    from playwright.sync_api import sync_playwright

    latencies: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{base_url}/ui/sign-in")
            page.get_by_label("API key").fill(admin)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base_url}/")
            page.locator(".live-state", has_text="live").wait_for()
            chance = random.Random(47)
            for _ in range(samples):
                # At a random point of the 10 s tick: right after the last one was seen
                # would always be a tick's start, the worst case.
                time.sleep(chance.uniform(0, TICK_S))
                message = f"bench live {uuid.uuid4().hex[:8]}"
                response = httpx.post(
                    f"{base_url}/api/v1/events",
                    json={
                        "type": "bench",
                        "level": "critical",
                        "source": "bench-ui",
                        "message": message,
                        "time": datetime.now(UTC).isoformat(),
                    },
                    headers={"X-API-Key": admin},
                    timeout=10,
                )
                acknowledged = time.perf_counter()
                response.raise_for_status()
                page.get_by_text(message).wait_for(timeout=LIVE_TIMEOUT_MS)
                latencies.append(time.perf_counter() - acknowledged)
                say(f"  live: {latencies[-1]:.2f} s")
        finally:
            browser.close()
    return {"samples_s": [round(value, 2) for value in latencies], **summary_s(latencies)}


def summary_s(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_s": round(statistics.median(ordered), 2),
        "max_s": round(ordered[-1], 2),
        "mean_s": round(statistics.fmean(ordered), 2),
    }


async def with_service(
    url: str,
    data_dir: str,
    settings: dict[str, str],
    body: Callable[[ServerProcess, RequestLog], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    port = free_port()
    log = RequestLog(Path(data_dir) / f"serve-{secrets.token_hex(4)}.log")
    async with trio.open_nursery() as nursery:
        server = await start_server(
            url,
            nursery,
            {
                "MONITOR_DATA_DIR": data_dir,
                "MONITOR_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "MONITOR_EVENTS_RETENTION": "8d",
                "MONITOR_METRICS_RETENTION": "8d",
                **settings,
            },
            log_to=log.path,
            port=port,
        )
        try:
            await wait_ready(url)
            result = await body(server, log)
        finally:
            server.process.send_signal(signal.SIGTERM)
            with trio.move_on_after(15):
                await server.process.wait()
            nursery.cancel_scope.cancel()
    result["server_errors"] = (await log.errors())[:5]
    return result


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    url = database_url_for(DATABASE)
    admin, _ = await make_keys(url)
    result: dict[str, Any] = {"bench": "ui_pages", "at": datetime.now(UTC).isoformat()}
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as data_dir:

        async def shared(server: ServerProcess, log: RequestLog) -> dict[str, Any]:
            say("shared: page and overview API, alternating")
            figures = await alternate(server, log, admin, seconds=args.seconds, runs=None)
            if args.live_samples:
                say("live: an event posted, until it is in the page's DOM")
                figures["live"] = await trio.to_thread.run_sync(
                    live_latency, server.url, admin, args.live_samples
                )
            return figures

        result["shared"] = await with_service(url, data_dir, {}, shared)

        async def computed(server: ServerProcess, log: RequestLog) -> dict[str, Any]:
            say("computed: every request computes (cache off)")
            return await alternate(server, log, admin, seconds=0, runs=args.computed_runs)

        if args.computed_runs:
            result["computed"] = await with_service(
                url, data_dir, {"MONITOR_DASHBOARD_CACHE_BYTES": "0"}, computed
            )
    shared_page = result["shared"]["page_server_ms"]
    result["aim"] = {"page_server_p95_ms": 50, "met": shared_page.get("p95", 1e9) < 50}
    return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--computed-runs", type=int, default=8)
    parser.add_argument("--live-samples", type=int, default=5)
    return parser.parse_args()


def main() -> None:
    if not BUILD_DONE.exists():
        sys.exit(f"{BUILD_DONE} is missing: the data set is not built (bench/dashboard.py)")
    summary = trio.run(measure, parse_args())
    print(json.dumps(summary, default=str), flush=True)


if __name__ == "__main__":
    main()
