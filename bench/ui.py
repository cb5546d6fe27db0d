"""The events and metrics pages on the dashboard benchmark's data: server time per page
against its API route, and a live events page in Chromium at 200 events/s.

    PYTHONPATH=src python bench/ui.py [--runs 200] [--live-seconds 20] [--rate 200]
        [--cases events_filtered,...]

Needs the database `bench_dashboard` (1M events over 7 days, built by
bench/dashboard.py; never rebuilt here; stops when /tmp/bench/build.done is
missing). One `monitor serve` process, its public URL the address the
browser uses. Two phases:

1. Pages: the events list (default, and filtered by type, source, lowest
   level and an attribute), one event's detail, the Metrics explorer
   (24 h of a metric; 1 h grouped, with a matcher) and the default
   dashboard, each alternating with the API route it is built on (`GET
   /api/v1/events?limit=50` with the same filters, `GET
   /api/v1/events/{id}`, `GET /api/v1/dashboard/timeseries` with the same
   query, `GET /api/v1/dashboards/{id}`), as bench/ui_admin_pages.py does
   (its `measure`): server time from the service's access log, client time
   over loopback. Aim (issue 16): page server p95 < 50 ms.
2. Live: Chromium signed in on `/ui/events?source=<this run's>` with the
   live tail on; for `--live-seconds`, events are posted through the API at
   `--rate` per second (bulk posts of `--batch`, paced). Delivery latency is
   from a post's acknowledgement (its ids) to each event's row being added
   to the table (a MutationObserver, clock: the machine's wall clock on both
   sides). Main-thread busy fraction: Chrome's own `TaskDuration` (DevTools
   Performance metrics) over the window's wall time, and the script, layout
   and style parts of it; also long tasks (> 50 ms) and the longest gap
   between animation frames.

`--cases` measures only the named pages (comma-separated); `--live-seconds 0`
skips the live phase: a quick before/after for one page.

The live events (level info, one source per run) stay in bench_dashboard,
as bench/ui_pages.py's do: 4,000 on top of about a million.
Caveats: 2 shared cores run PostgreSQL, the service, Chromium and this
script. The last line on stdout is one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import trio

from common import CpuMeter, database_url_for, percentile, say
from dashboard import RETENTION, RequestLog
from server_process import start_server
from ui_admin_pages import AIM_MS, Case, make_admin, measure, remove_seeded
from ui_pages import BUILD_DONE, CHROMIUM, CHROMIUM_ARGS, free_port

DATABASE = "bench_dashboard"
FILTER = "type=http.request&source=api-01&min_level=error"
METRIC = "http_request_duration_seconds"  # 120 series: the data set's largest metric
TIMESERIES = "/api/v1/dashboard/timeseries"
SETTLE_TIMEOUT_MS = 15_000  # after the last post, for the last rows to arrive

# In the page (through DevTools, not a <script>: the page's policy refuses inline ones).
OBSERVE = """() => {
  const seen = new Map();
  window.benchSeen = seen;
  new MutationObserver((records) => {
    const now = performance.timeOrigin + performance.now();
    for (const record of records) {
      for (const node of record.addedNodes) {
        const link = node.querySelector && node.querySelector("a");
        if (link) seen.set(link.pathname.split("/").pop(), now);
      }
    }
  }).observe(document.getElementById("event-rows"), { childList: true });
  window.benchLong = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.benchLong.push(entry.duration);
  }).observe({ type: "longtask" });
  window.benchFrames = { last: null, maxGap: 0, count: 0 };
  const frame = (at) => {
    const frames = window.benchFrames;
    if (frames.last !== null) frames.maxGap = Math.max(frames.maxGap, at - frames.last);
    frames.last = at;
    frames.count += 1;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}"""


def detail_id(url: str) -> str:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "select id from events where type = 'http.request' and level >= 3 "
            "order by time desc limit 1"
        ).fetchone()
    assert row is not None
    return str(row[0])


def default_dashboard_id(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("select id from dashboards where is_default").fetchone()
    assert row is not None
    return int(row[0])


def cases(event_id: str, dashboard_id: int) -> tuple[Case, ...]:
    return (
        Case("events_default", "/ui/events", "/api/v1/events?limit=50"),
        Case(
            "events_filtered",
            f"/ui/events?{FILTER}&attr=status%3D500",
            f"/api/v1/events?{FILTER}&attr.status=500&limit=50",
        ),
        Case("event_detail", f"/ui/events/{event_id}", f"/api/v1/events/{event_id}"),
        # The Metrics explorer: the data set's largest metric (120 series), all of them
        # averaged, and grouped by method with a matcher (the page adds its suggestions:
        # names, label names, the values of 5 labels).
        Case(
            "metrics_24h",
            f"/ui/metrics?name={METRIC}&range=24h",
            f"{TIMESERIES}?kind=metric&name={METRIC}&range=24h",
        ),
        Case(
            "metrics_grouped_1h",
            f"/ui/metrics?name={METRIC}&aggregation=p95&group_by=method"
            "&label=method%21%3DDELETE&range=1h",
            f"{TIMESERIES}?kind=metric&name={METRIC}&aggregation=p95&group_by=method"
            "&label.method%21=DELETE&range=1h",
        ),
        # Its widgets' answers are shared per tick: after the first view of a tick the
        # page costs the dashboard's read plus rendering.
        Case(
            "dashboard_default",
            f"/ui/dashboards/{dashboard_id}",
            f"/api/v1/dashboards/{dashboard_id}",
        ),
    )


# Chrome's cumulative main-thread seconds: all tasks, and the parts of them spent so.
BUSY_METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")


def busy_seconds(cdp: Any) -> dict[str, float]:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return {m["name"]: float(m["value"]) for m in metrics if m["name"] in BUSY_METRICS}


def ms_summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 0.5), 1),
        "p99_ms": round(percentile(ordered, 0.99), 1),
        "max_ms": round(ordered[-1], 1) if ordered else float("nan"),
    }


def live_tail(base_url: str, token: str, seconds: float, rate: int, batch: int) -> dict[str, Any]:
    from playwright.sync_api import TimeoutError as PageTimeout
    from playwright.sync_api import sync_playwright

    source = f"bench-ui-live-{uuid.uuid4().hex[:6]}"
    acknowledged: dict[str, float] = {}  # event id → wall time its post was answered
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{base_url}/ui/sign-in")
            page.get_by_label("API key").fill(token)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base_url}/")
            page.goto(f"{base_url}/ui/events?source={source}")
            page.get_by_label("Live tail").check()
            page.locator(".live-state", has_text="live").wait_for()
            page.evaluate(OBSERVE)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            busy_before, began = busy_seconds(cdp), time.monotonic()
            posted = 0
            with httpx.Client(base_url=base_url, timeout=10) as client:
                every = batch / rate
                number = 0
                while time.monotonic() - began < seconds:
                    time.sleep(max(0.0, began + number * every - time.monotonic()))
                    response = client.post(
                        "/api/v1/events/bulk",
                        json=[
                            {
                                "type": "bench",
                                "level": "info",
                                "source": source,
                                "message": f"live {number}.{n}",
                            }
                            for n in range(batch)
                        ],
                        headers={"X-API-Key": token},
                    )
                    answered = time.time() * 1000
                    response.raise_for_status()
                    for event_id in response.json()["ids"]:
                        acknowledged[event_id] = answered
                    posted += batch
                    number += 1
            posting_s = time.monotonic() - began
            busy_after = busy_seconds(cdp)
            wall = time.monotonic() - began
            busy = {name: busy_after[name] - busy_before[name] for name in BUSY_METRICS}
            try:
                page.wait_for_function(
                    "(posted) => window.benchSeen.size >= posted",
                    arg=posted,
                    timeout=SETTLE_TIMEOUT_MS,
                )
            except PageTimeout:  # what arrived is reported; the rest is counted as missing
                say("  live: not every event arrived")
            seen: dict[str, float] = dict(page.evaluate("Array.from(window.benchSeen)"))
            long_tasks: list[float] = page.evaluate("window.benchLong")
            frames: dict[str, Any] = page.evaluate("window.benchFrames")
            rows = page.locator("#event-rows tr").count()
        finally:
            browser.close()
    latencies = [seen[i] - at for i, at in acknowledged.items() if i in seen]
    return {
        "source": source,
        "posted": posted,
        "rate_achieved_per_s": round(posted / posting_s, 1),
        "delivered": len(latencies),
        "rows_kept": rows,
        "latency": ms_summary(latencies),
        "busy_fraction": round(busy["TaskDuration"] / wall, 3),
        "busy_parts": {
            "script": round(busy["ScriptDuration"] / wall, 3),
            "layout": round(busy["LayoutDuration"] / wall, 3),
            "style": round(busy["RecalcStyleDuration"] / wall, 3),
        },
        "long_tasks": {"count": len(long_tasks), "total_ms": round(sum(long_tasks), 1)},
        "frames": {"count": frames["count"], "max_gap_ms": round(frames["maxGap"], 1)},
    }


async def run(options: argparse.Namespace) -> dict[str, Any]:
    url = database_url_for(DATABASE)
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    prefix, token = await make_admin(url)
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            log = RequestLog(Path(data_dir) / "serve.log")
            async with trio.open_nursery() as nursery:
                server = await start_server(
                    url,
                    nursery,
                    {
                        "MONITOR_DATA_DIR": data_dir,
                        "MONITOR_PUBLIC_URL": public_url,
                        "MONITOR_EVENTS_RETENTION": RETENTION,
                        "MONITOR_METRICS_RETENTION": RETENTION,
                    },
                    log_to=log.path,
                    port=port,
                )
                try:
                    meter = CpuMeter()
                    pages = await measure(
                        server.url,
                        token,
                        log,
                        options.runs,
                        options.warmups,
                        chosen(cases(detail_id(url), default_dashboard_id(url)), options.cases),
                        origin=public_url,
                    )
                    cpu = meter.stop()
                    live = None
                    if options.live_seconds > 0:
                        live = await live_phase(public_url, token, options)
                finally:
                    server.process.send_signal(signal.SIGTERM)
                    with trio.move_on_after(15):
                        await server.process.wait()
                    nursery.cancel_scope.cancel()
            errors = (await log.errors())[:5]
    finally:
        remove_seeded(url, prefix)  # revokes the run's key (no audit rows were seeded)
    return {
        "bench": "ui",
        "database": DATABASE,
        "runs": options.runs,
        "aim_p95_ms": AIM_MS,
        "pages": pages,
        "all_meet_aim": all(case["meets_aim"] for case in pages.values()),
        "pages_cpu": cpu,
        "live": live,
        "server_errors": errors,
    }


async def live_phase(public_url: str, token: str, options: argparse.Namespace) -> dict[str, Any]:
    say(f"live tail: {options.rate} events/s for {options.live_seconds} s")
    live: dict[str, Any] = await trio.to_thread.run_sync(
        live_tail, public_url, token, options.live_seconds, options.rate, options.batch
    )
    say(
        f"  delivered {live['delivered']}/{live['posted']}, latency p50 "
        f"{live['latency']['p50_ms']} ms p99 {live['latency']['p99_ms']} ms, "
        f"busy {live['busy_fraction']:.1%}"
    )
    return live


def chosen(every: tuple[Case, ...], names: str | None) -> tuple[Case, ...]:
    if names is None:
        return every
    wanted = names.split(",")
    unknown = set(wanted) - {case.name for case in every}
    if unknown:
        sys.exit(f"unknown cases {sorted(unknown)}; known: {[case.name for case in every]}")
    return tuple(case for case in every if case.name in wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmups", type=int, default=10)
    parser.add_argument("--live-seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=200, help="events per second")
    parser.add_argument("--batch", type=int, default=10, help="events per post")
    parser.add_argument("--cases", help="only these pages, comma-separated (events_filtered,...)")
    options = parser.parse_args()
    if not BUILD_DONE.exists():
        sys.exit(f"{BUILD_DONE} is missing: build the data set with bench/dashboard.py first")
    result = trio.run(run, options)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
