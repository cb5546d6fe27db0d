"""Dashboard read routes on 10M samples and 1M events over 7 days: computed, shared, 200 viewers.

    python bench/dashboard.py [--rebuild] [--runs 30] [--viewers 200] [--seconds 60]
                              [--phases computed,shared,viewers] [--no-feed]
                              [--cases overview_24h,heatmap_metric_24h,...]

In one run:

1. The data set (`dashboard_data.py`): the database `bench_dashboard`, built
   once (about 10 minutes) and reused, topped up to the current minute, its
   rollups and event counts caught up through the storage functions.
2. Capture: the service runs in this process once, with the gateway
   recording (`dashboard_sql.py`); each measured request is made once and the
   SQL it ran is kept. A route that answers 404 is "not measured: route
   missing"; any other refusal is reported with its problem document.
3. Computed: `monitor serve` in its own process with
   MONITOR_DASHBOARD_CACHE_BYTES=0, so that every request computes its
   answer (single flight aside, which sequential requests never meet); the
   /stats `dashboard_cache.computations` counter before and after confirms
   it (`computations_per_request`). Each case's relative range (`range=24h`)
   is then the one real viewers ask for, and its window the same
   tick-aligned one they get. Each run times the route over HTTP, then the
   baseline: the captured SQL replayed on a plain psycopg connection (rows
   fetched). `--warmups` untimed runs first; at most `--runs` timed runs, and
   at least 5, within `--budget` seconds. The service's own duration of each
   request (its access log) and each case's slowest statements are reported
   too.
4. Shared: `monitor serve` again, with the result cache on (its default
   size, no Redis). `--warmups` untimed requests, then a first request
   computes (unless shared already); then batches of identical requests are
   timed, and a batch counts only if /stats shows no
   computation during it (the tick did not end inside it).
5. Viewers (`dashboard_viewers.py`): the default dashboard's widgets, from
   GET /api/v1/dashboards and the default's GET /api/v1/dashboards/{id};
   `--viewers` tasks, each on its own loopback address, fetch every widget
   every `--period` s for `--seconds` s, re-polling with If-None-Match.
   Latency p50/p99 at the client and in the service, statuses, the client's
   own event-loop lag, and /stats `dashboard_cache` before and after:
   computations must stay within one per (distinct widget request, tick
   seen). Then the same viewers fetch GET /health as often: the HTTP floor
   of the machine at that moment.

While the service runs, `dashboard_feed.py` ingests at the data set's own
rates (about 100 events and 1,000 samples a minute) unless `--no-feed`.
Before measuring, each service start waits (bounded, polling) until the
rollup watermark reaches the last complete minute and the event counts
have counted every transaction that ended before the wait began. The
service logs to a file, read afterwards: a pipe would make it wait whenever
the bench fell behind reading its access lines.

Settings: retention 8 days for events and samples (the data set's 7 days
and the top-ups; older days are dropped by the service's maintenance), no
per-key rate limit for the bench's keys (rate_limit 0), everything else the
defaults. Aims (issue 14): overview p95 < 100 ms computed and < 5 ms
shared; timeseries of events by level over 7 days, of a metric over 24 h,
top/errors, both heatmaps: p95 < 150 ms computed; viewers p99 < 50 ms with
computations within one per (widget, tick).

Caveats: 2 shared cores run PostgreSQL, the service, the clients and the
feed; the machine also runs other work. Route and baseline are timed
alternately, so both see the same disturbances; compare their ratio more
than absolute times. The baseline replays units one after the other, where
the route may run them concurrently.

The last line on stdout is one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import trio

import dashboard_data
import dashboard_feed
import dashboard_sql
import dashboard_viewers
from common import CpuMeter, percentile, say
from monitor import logs, service
from monitor.config import load_settings
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.storage import rollups
from monitor.storage.gateway import open_gateway
from server_process import ServerProcess, start_server

API = "/api/v1/dashboard"
METRIC = "http_request_duration_seconds"  # 120 series: the data set's largest metric
SHARED_BATCH = 10  # identical requests timed together in the shared phase
READY_TIMEOUT = 300.0  # seconds a started service may take to catch up
STATEMENT_TIMEOUT = 30.0  # the service's default, for the baseline's connection too
RETENTION = "8d"
LOG_TIMEOUT = 10.0  # seconds the service's access log may lag behind its answers
PHASES = ("computed", "shared", "viewers")
BENCH_ADDRESS = "127.0.0.1"  # the measuring client's; the viewers use 127.0.1.x


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    params: tuple[tuple[str, str], ...]
    computed_aim_ms: float | None = None  # p95, computed
    shared_aim_ms: float | None = None  # p95, shared

    @property
    def label(self) -> str:
        return self.path + "?" + "&".join(f"{k}={v}" for k, v in self.params)


CASES = (
    Case("overview_24h", f"{API}/overview", (("range", "24h"),), 100.0, 5.0),
    Case(
        "timeseries_events_by_level_7d",
        f"{API}/timeseries",
        (("kind", "events"), ("group_by", "level"), ("range", "7d")),
        150.0,
    ),
    Case(
        "timeseries_metric_24h",
        f"{API}/timeseries",
        (("kind", "metric"), ("name", METRIC), ("aggregation", "avg"), ("range", "24h")),
        150.0,
    ),
    Case("top_errors_24h", f"{API}/top/errors", (("range", "24h"),), 150.0),
    Case("heatmap_events_7d", f"{API}/heatmap", (("kind", "events"), ("range", "7d")), 150.0),
    Case(
        "heatmap_metric_24h",
        f"{API}/heatmap",
        (("kind", "metric"), ("name", METRIC), ("range", "24h")),
        150.0,
    ),
    # Without an aim of their own: the default dashboard's charts, and the other lists.
    Case(
        "timeseries_events_by_level_24h",
        f"{API}/timeseries",
        (("kind", "events"), ("group_by", "level"), ("range", "24h")),
    ),
    Case(
        "timeseries_errors_24h",
        f"{API}/timeseries",
        (("kind", "events"), ("level", "error"), ("level", "critical"), ("range", "24h")),
    ),
    Case("top_errors_7d", f"{API}/top/errors", (("range", "7d"),)),
    Case("top_sources_24h", f"{API}/top/sources", (("range", "24h"),)),
    Case("top_types_24h", f"{API}/top/types", (("range", "24h"),)),
    Case("top_metrics_24h", f"{API}/top/metrics", (("range", "24h"),)),
    Case("top_slow_requests_24h", f"{API}/top/slow-requests", (("range", "24h"),)),
    Case("overview_7d", f"{API}/overview", (("range", "7d"),)),
)


@dataclass
class Captured:
    status: int
    detail: str  # why it is not measured, when it is not
    units: list[dashboard_sql.Unit] = field(default_factory=list)

    @property
    def measurable(self) -> bool:
        return self.status == 200 and bool(self.units)


# --- helpers -----------------------------------------------------------------------------------


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def timing_summary(runs: Sequence[float]) -> dict[str, float | int]:
    ordered = sorted(runs)
    p95 = ordered[min(len(ordered) - 1, max(0, math.ceil(0.95 * len(ordered)) - 1))]
    return {
        "median_ms": _ms(statistics.median(ordered)),
        "p95_ms": _ms(p95),
        "max_ms": _ms(ordered[-1]),
        "runs": len(ordered),
    }


async def get(client: httpx.AsyncClient, case: Case) -> httpx.Response:
    response = await client.get(case.path, params=case.params)
    if response.status_code != 200:
        raise RuntimeError(f"{case.name}: {response.status_code} {response.text[:300]}")
    return response


async def cache_figures(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/stats")
    response.raise_for_status()
    figures: dict[str, Any] = response.json()["dashboard_cache"]
    return figures


async def make_keys(url: str) -> tuple[str, str]:
    """An admin key for the readers and an ingest key for the feed, without rate limits."""
    async with open_gateway(
        url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        tokens = []
        for role in (Role.ADMIN, Role.INGEST):
            _, token = await key_store.create_key(
                gateway,
                name=f"bench dashboard {role.label}",
                role=role,
                rate_limit=0,
                expires_at=None,
                by=Attribution(Actor.system("bench")),
            )
            tokens.append(token)
    return tokens[0], tokens[1]


# --- capture -----------------------------------------------------------------------------------


async def capture_phase(url: str, token: str, data_dir: str) -> dict[str, Captured]:
    """Each case requested once from an in-process service whose gateway records the SQL."""
    settings = load_settings(
        {
            **{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
            "MONITOR_DATABASE_URL": url,
            "MONITOR_HOST": "127.0.0.1",
            "MONITOR_PORT": "0",
            "MONITOR_DATA_DIR": data_dir,
            "MONITOR_LOG_LEVEL": "warning",
            "MONITOR_KEY_USAGE_FLUSH_INTERVAL": "3600",
            "MONITOR_EVENTS_RETENTION": RETENTION,
            "MONITOR_METRICS_RETENTION": RETENTION,
        }
    )
    logs.configure(settings.log_level_number)
    capture = dashboard_sql.Capture()
    found: dict[str, Captured] = {}
    stop = trio.Event()
    with capture.installed():
        async with trio.open_nursery() as nursery:
            with trio.fail_after(60):
                running: service.Running = await nursery.start(
                    functools.partial(service.run, settings, stop=stop, handle_signals=False)
                )
            try:
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{running.port}",
                    headers={"X-API-Key": token},
                    timeout=httpx.Timeout(120),
                ) as client:
                    await client.get("/stats")  # the key lookup, cached from here on
                    for case in CASES:
                        done = capture.take(case.path)
                        response = await client.get(case.path, params=case.params)
                        units = done()
                        found[case.name] = _captured(case, response, units)
                        say(f"  {case.name}: {found[case.name].detail}")
            finally:
                stop.set()
    return found


def _captured(case: Case, response: httpx.Response, units: list[dashboard_sql.Unit]) -> Captured:
    status = response.status_code
    if status == 404:
        return Captured(status, f"not measured: route missing (404 {response.text[:200]})")
    if status != 200:
        return Captured(status, f"not measured: HTTP {status} {response.text[:400]}")
    statements = sum(len(unit.statements) for unit in units)
    if not units:
        return Captured(status, "not measured: no SQL captured")
    return Captured(status, f"{len(units)} transactions, {statements} statements", units)


# --- the service in its own process ------------------------------------------------------------


class RequestLog:
    """The service's log file: its access lines give (client address, path and query,
    status, duration in ms) of every request, as the service measured it (from arrival
    to its answer being ready)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return os.path.getsize(self.path)

    async def _lines(self, since: int) -> list[bytes]:
        async with await trio.open_file(self.path, "rb") as log:
            await log.seek(since)
            *complete, _ = (await log.read()).split(b"\n")
        return complete

    async def durations(
        self, since: int, match: Callable[[str, str], bool], expected: int
    ) -> list[float]:
        """Durations (s) of the matching requests logged since `since` (a mark), once
        `expected` of them are in, or after LOG_TIMEOUT."""
        found: list[float] = []
        with trio.move_on_after(LOG_TIMEOUT):
            while True:
                found = []
                for line in await self._lines(since):
                    if b'"msg": "request"' not in line:
                        continue
                    record = msgspec.json.decode(line)
                    if match(str(record.get("remote")), str(record.get("path"))):
                        found.append(float(record["duration_ms"]) / 1000)
                if len(found) >= expected:
                    break
                await trio.sleep(0.1)  # a file gives no readiness signal
        return found

    async def errors(self) -> list[str]:
        return [
            line.decode(errors="replace")[:300]
            for line in await self._lines(0)
            if b'"level": "error"' in line or b'"level": "critical"' in line
        ]


async def with_server(
    url: str,
    data_dir: str,
    settings: dict[str, str],
    body: Callable[[ServerProcess, RequestLog], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    log = RequestLog(Path(data_dir) / f"serve-{secrets.token_hex(4)}.log")
    async with trio.open_nursery() as nursery:
        server = await start_server(
            url,
            nursery,
            {
                "MONITOR_DATA_DIR": data_dir,
                "MONITOR_EVENTS_RETENTION": RETENTION,
                "MONITOR_METRICS_RETENTION": RETENTION,
                **settings,
            },
            log_to=log.path,
        )
        try:
            result = await body(server, log)
        finally:
            server.process.send_signal(signal.SIGTERM)
            with trio.move_on_after(15):
                await server.process.wait()
            nursery.cancel_scope.cancel()
    result["server_errors"] = (await log.errors())[:5]
    return result


def _progress(url: str) -> tuple[datetime | None, int, int]:
    """(minute rollup watermark, event counts' counted_below, the server's xid horizon)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
        marks = connection.execute(
            "select done_until from rollup_watermarks where resolution_s = 60"
        ).fetchone()
        counted = connection.execute("select counted_below from event_count_progress").fetchone()
        horizon = connection.execute(
            "select pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
        ).fetchone()
    assert counted is not None and horizon is not None
    return (marks[0] if marks else None), int(counted[0]), int(horizon[0])


async def wait_ready(url: str) -> dict[str, Any]:
    """Poll until the service's actors caught up with what was there when the wait began."""
    began = time.monotonic()
    _, _, target_xid = await trio.to_thread.run_sync(_progress, url)
    # The rollup actor rolls complete minutes older than 30 s, every 10 s.
    target_minute = rollups.floor_to(datetime.now(UTC) - timedelta(seconds=45), 60)
    ready = False
    with trio.move_on_after(READY_TIMEOUT):
        while True:
            watermark, counted, _ = await trio.to_thread.run_sync(_progress, url)
            if watermark is not None and watermark >= target_minute and counted >= target_xid:
                ready = True
                break
            await trio.sleep(0.5)
    waited = round(time.monotonic() - began, 1)
    if not ready:
        say(f"  NOT caught up after {waited} s: measuring anyway (see 'ready' in the output)")
    return {"ready": ready, "waited_s": waited}


async def feeding(
    server: ServerProcess,
    ingest_token: str,
    maker: dashboard_data.EventMaker | None,
    body: Callable[[], Awaitable[dict[str, Any]]],
    deadline: float,
) -> dict[str, Any]:
    """Run `body` with the live feed posting to `server` meanwhile (unless `maker` is None)."""
    if maker is None:
        return {**await body(), "feed": None}
    stop = trio.Event()
    fed = dashboard_feed.Feed()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            dashboard_feed.feed, server.url, ingest_token, maker, stop, deadline, fed
        )
        try:
            result = await body()
        finally:
            stop.set()
    return {**result, "feed": dashboard_feed.as_figures(fed), "feed_stopped": fed.stopped}


# --- computed ----------------------------------------------------------------------------------


async def computed_phase(
    server: ServerProcess,
    log: RequestLog,
    token: str,
    url: str,
    captured: dict[str, Captured],
    args: argparse.Namespace,
) -> dict[str, Any]:
    ready = await wait_ready(url)
    out: dict[str, Any] = {"ready": ready, "cases": {}}
    cpu = CpuMeter()
    connection = dashboard_sql.open_replay_connection(url, STATEMENT_TIMEOUT)
    try:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"X-API-Key": token}, timeout=httpx.Timeout(60)
        ) as client:
            for case in CASES:
                capture = captured[case.name]
                if not capture.measurable:
                    continue
                say(f"computed {case.name} ...")
                out["cases"][case.name] = await computed_case(
                    client, log, connection, case, capture, args
                )
                say(f"  {out['cases'][case.name]}")
    finally:
        connection.close()
    out["machine_busy"] = cpu.stop()["machine_busy"]
    return out


async def computed_case(
    client: httpx.AsyncClient,
    log: RequestLog,
    connection: psycopg.Connection[Any],
    case: Case,
    capture: Captured,
    args: argparse.Namespace,
) -> dict[str, Any]:
    before = (await cache_figures(client))["computations"]
    requests = 0
    for _ in range(args.warmups):
        await get(client, case)
        await dashboard_sql.replay_async(connection, capture.units)
        requests += 1
    route: list[float] = []
    baseline: list[float] = []
    statement_times: list[list[float]] = [[] for unit in capture.units for _ in unit.statements]
    rows = 0
    mark = log.mark()
    started = time.monotonic()
    for run in range(args.runs):
        if run >= 5 and time.monotonic() - started > args.budget:
            break
        began = time.perf_counter()
        await get(client, case)
        route.append(time.perf_counter() - began)
        requests += 1
        began = time.perf_counter()
        rows = await dashboard_sql.replay_async(connection, capture.units, statement_times)
        baseline.append(time.perf_counter() - began)
    after = (await cache_figures(client))["computations"]
    in_service = await log.durations(
        mark,
        lambda remote, path: remote == BENCH_ADDRESS and path.startswith(case.path + "?"),
        len(route),
    )
    route_figures = timing_summary(route)
    base_figures = timing_summary(baseline)
    result: dict[str, Any] = {
        "route": route_figures,
        # The service's own measure of the same requests (no client, no network).
        "route_in_service": timing_summary(in_service) if in_service else None,
        "baseline_sql": base_figures,
        "ratio_p95": round(route_figures["p95_ms"] / base_figures["p95_ms"], 2),
        "ratio_median": round(route_figures["median_ms"] / base_figures["median_ms"], 2),
        "computations_per_request": round((after - before) / requests, 2),
        "sql": {
            "transactions": len(capture.units),
            "statements": sum(len(unit.statements) for unit in capture.units),
            "rows": rows,
            "slowest": dashboard_sql.slowest(connection, capture.units, statement_times),
        },
    }
    if case.computed_aim_ms is not None:
        result["aim_p95_ms"] = case.computed_aim_ms
        result["aim_met"] = route_figures["p95_ms"] < case.computed_aim_ms
    return result


# --- shared ------------------------------------------------------------------------------------


async def shared_case(
    client: httpx.AsyncClient, case: Case, args: argparse.Namespace
) -> dict[str, Any]:
    """Identical requests within one tick: batches during which nothing was computed,
    after `--warmups` untimed ones (as for the computed runs)."""
    for _ in range(args.warmups):
        await get(client, case)
    times: list[float] = []
    discarded = 0
    started = time.monotonic()
    for _ in range(max(1, args.runs)):  # batches, bounded
        if len(times) >= args.runs or (times and time.monotonic() - started > args.budget):
            break
        first = await get(client, case)  # computes, unless already shared
        max_age = dashboard_viewers._max_age(first)
        if max_age is not None and max_age < 1:
            await trio.sleep(max_age + 1.1)  # too close to the tick's end: take the next tick
            continue
        before = (await cache_figures(client))["computations"]
        batch = []
        for _ in range(SHARED_BATCH):
            began = time.perf_counter()
            await get(client, case)
            batch.append(time.perf_counter() - began)
        after = (await cache_figures(client))["computations"]
        if after == before:
            times.extend(batch)
        else:
            discarded += 1
    if not times:
        return {"not_measured": "every batch met a computation"}
    figures = timing_summary(times)
    result: dict[str, Any] = {**figures, "batches_discarded": discarded}
    if case.shared_aim_ms is not None:
        result["aim_p95_ms"] = case.shared_aim_ms
        result["aim_met"] = figures["p95_ms"] < case.shared_aim_ms
    return result


# --- viewers -----------------------------------------------------------------------------------


async def default_widgets(client: httpx.AsyncClient) -> list[dashboard_viewers.Target] | str:
    """The default dashboard's widgets as requests, or why there are none."""
    listed = await client.get("/api/v1/dashboards")
    if listed.status_code == 404:
        return "not measured: route missing (GET /api/v1/dashboards)"
    listed.raise_for_status()
    body = listed.json()
    boards = body["dashboards"] if isinstance(body, dict) else body
    default = next((board for board in boards if board.get("is_default")), None)
    if default is None:
        return "not measured: no default dashboard"
    detail = await client.get(f"/api/v1/dashboards/{default['id']}")
    detail.raise_for_status()
    widgets = detail.json()["widgets"]
    from monitor.domain.widget_queries import widget_target  # arrives with the dashboards

    targets = []
    for widget in widgets:
        target = widget_target(widget["kind"], widget["query"])
        targets.append(dashboard_viewers.Target(widget["title"], target.path, target.params))
    return targets


async def viewers_phase(
    server: ServerProcess, log: RequestLog, token: str, args: argparse.Namespace
) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-API-Key": token}, timeout=httpx.Timeout(60)
    ) as client:
        targets = await default_widgets(client)
        if isinstance(targets, str):
            return {"not_measured": targets}
        for target in targets:  # the routes must answer before 200 viewers ask
            response = await client.get(target.path, params=target.params)
            if response.status_code == 404:
                return {"not_measured": f"route missing: {target.path}"}
    say(
        f"viewers: {args.viewers} x {len(targets)} widgets every {args.period:g} s "
        f"for {args.seconds:g} s ..."
    )
    figures = await viewers_run(server, log, token, targets, API, args)
    figures["aim_p99_ms"] = 50.0
    within = figures["computations_within"]
    figures["aim_met"] = (figures["p99_ms"] or math.inf) < 50.0 and within
    # The same aim on the service's own durations: what the viewers' client and the
    # machine add is then left out (the /health floor below shows how much that is).
    figures["aim_met_in_service"] = figures["in_service"]["p99_ms"] < 50.0 and within
    # The HTTP floor under the same load: as many GET /health per viewer and period.
    say(f"viewers baseline: the same viewers fetching /health x {len(targets)} ...")
    health = [dashboard_viewers.Target("health", "/health", ())] * len(targets)
    floor = await viewers_run(server, log, token, health, "/health", args)
    figures["baseline_health"] = {
        name: floor[name]
        for name in (
            "requests",
            "statuses",
            "p50_ms",
            "p99_ms",
            "p99_ms_after_first_period",
            "p99_ms_by_period",
            "client_loop_lag_ms",
            "in_service",
            "server_cores",
            "machine_busy",
        )
    }
    if figures["p99_ms"] and floor["p99_ms"]:
        figures["ratio_p99_to_health"] = round(figures["p99_ms"] / floor["p99_ms"], 2)
    return figures


async def viewers_run(
    server: ServerProcess,
    log: RequestLog,
    token: str,
    targets: Sequence[dashboard_viewers.Target],
    logged_prefix: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-API-Key": token}, timeout=httpx.Timeout(60)
    ) as client:
        before = await cache_figures(client)
        mark = log.mark()
        cpu = CpuMeter()
        cpu_before = server.cpu_seconds()
        result = await dashboard_viewers.poll(
            server.url,
            token,
            targets,
            viewers=args.viewers,
            period=args.period,
            seconds=args.seconds,
        )
        server_cpu = (server.cpu_seconds() - cpu_before) / args.seconds
        machine = cpu.stop()
        after = await cache_figures(client)
    answered = sum(1 for p in result.polls if p.status.isdigit())
    in_service = sorted(
        await log.durations(
            mark,
            lambda remote, path: remote != BENCH_ADDRESS and path.startswith(logged_prefix),
            answered,
        )
    )
    figures = dashboard_viewers.summary(result, targets, args.period, before, after)
    figures["in_service"] = {
        "requests": len(in_service),
        "p50_ms": round(percentile(in_service, 0.50) * 1000, 2),
        "p99_ms": round(percentile(in_service, 0.99) * 1000, 2),
    }
    figures.update(
        {
            "viewers": args.viewers,
            "period_s": args.period,
            "seconds": args.seconds,
            "widgets": figures.pop("widgets"),
            "server_cores": round(server_cpu, 2),
            "server_rss_mb": round(server.rss_mb()),
            **machine,
        }
    )
    return figures


# --- the run -----------------------------------------------------------------------------------


async def measure(data: dashboard_data.DataSet, args: argparse.Namespace) -> dict[str, Any]:
    url = data.url
    token, ingest_token = await make_keys(url)
    maker = None
    if not args.no_feed:
        signatures = dashboard_data.error_signatures(data.data_from)
        groups = await trio.to_thread.run_sync(dashboard_data.existing_groups, url)
        maker = dashboard_data.EventMaker(signatures, groups, [], seed=int(time.time()))
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as data_dir:
        say("capturing each route's SQL ...")
        captured = await capture_phase(url, token, data_dir)
        not_measured = {
            name: capture.detail for name, capture in captured.items() if not capture.measurable
        }
        deadline = trio.current_time() + 3600  # the feed's bound, whatever happens

        async def computed(server: ServerProcess, log: RequestLog) -> dict[str, Any]:
            return await feeding(
                server,
                ingest_token,
                maker,
                lambda: computed_phase(server, log, token, url, captured, args),
                deadline,
            )

        computed_result: dict[str, Any] = {}
        if "computed" in args.phases:
            say("computed: the service with MONITOR_DASHBOARD_CACHE_BYTES=0 ...")
            computed_result = await with_server(
                url, data_dir, {"MONITOR_DASHBOARD_CACHE_BYTES": "0"}, computed
            )

        async def shared_and_viewers(server: ServerProcess, log: RequestLog) -> dict[str, Any]:
            async def body() -> dict[str, Any]:
                ready = await wait_ready(url)
                shared: dict[str, Any] = {}
                async with httpx.AsyncClient(
                    base_url=server.url, headers={"X-API-Key": token}, timeout=httpx.Timeout(60)
                ) as client:
                    for case in CASES if "shared" in args.phases else ():
                        if captured[case.name].measurable:
                            say(f"shared {case.name} ...")
                            shared[case.name] = await shared_case(client, case, args)
                            say(f"  {shared[case.name]}")
                viewers: dict[str, Any] = {"not_measured": "not asked for (--phases)"}
                if "viewers" in args.phases:
                    viewers = await viewers_phase(server, log, token, args)
                    say(f"viewers: {viewers}")
                return {"ready": ready, "shared": shared, "viewers": viewers}

            return await feeding(server, ingest_token, maker, body, deadline)

        shared_result: dict[str, Any] = {}
        if {"shared", "viewers"} & set(args.phases):
            say("shared and viewers: the service with its result cache ...")
            shared_result = await with_server(url, data_dir, {}, shared_and_viewers)

    # Whichever phase fed last: without the marker moved, the next top-up would
    # COPY samples again into minutes the service has already rolled up, where no
    # late-sample refresh follows them (rollups and raw samples would differ).
    stopped = [shared_result.pop("feed_stopped", None), computed_result.pop("feed_stopped", None)]
    fed_until = max((moment for moment in stopped if isinstance(moment, datetime)), default=None)
    if fed_until is not None:
        # The feed continued the data set: the next top-up starts where it stopped.
        await trio.to_thread.run_sync(data.marker_update, rollups.floor_to(fed_until, 60))
    return _summary(data, computed_result, shared_result, not_measured)


def _summary(
    data: dashboard_data.DataSet,
    computed: dict[str, Any],
    shared: dict[str, Any],
    not_measured: dict[str, str],
) -> dict[str, Any]:
    cases = computed.get("cases", {})
    aims: dict[str, bool | str] = {}
    for case in CASES:
        if case.computed_aim_ms is not None:
            aims[f"{case.name}_computed_p95_lt_{case.computed_aim_ms:g}ms"] = (
                cases[case.name]["aim_met"]
                if case.name in cases
                else not_measured.get(case.name, "not measured")
            )
        if case.shared_aim_ms is not None:
            entry = shared.get("shared", {}).get(case.name, {})
            aims[f"{case.name}_shared_p95_lt_{case.shared_aim_ms:g}ms"] = entry.get(
                "aim_met", entry.get("not_measured", not_measured.get(case.name, "?"))
            )
    viewers = shared.get("viewers", {})
    aims["viewers_p99_lt_50ms_and_computations_within_ticks"] = viewers.get(
        "aim_met", viewers.get("not_measured", "?")
    )
    aims["viewers_in_service_p99_lt_50ms_and_computations_within_ticks"] = viewers.get(
        "aim_met_in_service", viewers.get("not_measured", "?")
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "aims": aims,
        # Route over baseline (the same SQL replayed), p95 and median.
        "ratios": {
            name: {"p95": case["ratio_p95"], "median": case["ratio_median"]}
            for name, case in cases.items()
        },
        "computed": cases,
        "shared": shared.get("shared", {}),
        "viewers": viewers,
        "not_measured": not_measured,
        "ready": {"computed": computed.get("ready"), "shared": shared.get("ready")},
        "machine_busy_computed": computed.get("machine_busy"),
        "feed": {"computed": computed.get("feed"), "shared": shared.get("feed")},
        "server_errors": computed.get("server_errors", []) + shared.get("server_errors", []),
        "data": {
            "build": data.build,
            "top_up": data.top_up,
            "contents": dashboard_data.contents(data.url, datetime.now(UTC)),
        },
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="build the data set afresh")
    parser.add_argument(
        "--max-gap-hours",
        type=float,
        default=48,
        help="rebuild when the kept data set ends longer ago than this (else top it up)",
    )
    parser.add_argument("--runs", type=int, default=30, help="timed runs per measurement")
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per measurement")
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--period", type=float, default=5.0, help="seconds between polls")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the viewers poll")
    parser.add_argument("--no-feed", action="store_true", help="no live ingest meanwhile")
    parser.add_argument(
        "--cases",
        type=lambda text: text.split(","),
        default=[case.name for case in CASES],
        help="which cases to measure, comma-separated names (default all)",
    )
    parser.add_argument(
        "--phases",
        type=lambda text: text.split(","),
        default=list(PHASES),
        help=f"which to run, comma-separated (default {','.join(PHASES)})",
    )
    args = parser.parse_args()
    if not args.phases or set(args.phases) - set(PHASES):
        parser.error(f"--phases: some of {', '.join(PHASES)}")
    if not args.cases or set(args.cases) - {case.name for case in CASES}:
        parser.error(f"--cases: some of {', '.join(case.name for case in CASES)}")
    if not (
        5 <= args.runs <= 1000
        and 0 <= args.warmups <= 100
        and 0 < args.budget <= 600
        and 1 <= args.viewers <= 1000
        and 0.5 <= args.period <= 60
        and 1 <= args.seconds <= 600
        and 1 <= args.max_gap_hours <= 24 * 6
    ):
        parser.error(
            "need 5 <= runs <= 1000, 0 <= warmups <= 100, 0 < budget <= 600, "
            "1 <= viewers <= 1000, 0.5 <= period <= 60, 1 <= seconds <= 600, "
            "1 <= max-gap-hours <= 144"
        )
    return args


def main() -> None:
    global CASES  # every phase measures these: the ones asked for
    args = parse_args()
    CASES = tuple(case for case in CASES if case.name in args.cases)
    data = dashboard_data.ensure(rebuild=args.rebuild, max_gap=timedelta(hours=args.max_gap_hours))
    summary = trio.run(measure, data, args)
    print(json.dumps(summary, default=str), flush=True)


if __name__ == "__main__":
    sys.exit(main())
