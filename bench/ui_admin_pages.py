"""The admin pages' server time (API keys, System, Audit log) on the dashboard bench data,
each against the API route it is built on, measured in the same run.

    PYTHONPATH=src python bench/ui_admin_pages.py [--runs 200] [--audit-rows 20000]

Uses the database `bench_dashboard` as `bench/dashboard.py` built it (1M
events, 10M samples); it never rebuilds it, and stops when
/tmp/bench/build.done is missing. Its audit log is nearly empty, so
`--audit-rows` rows are added first, marked by their actor name, and
deleted again at the end. `monitor serve` runs in its own process, with
the retention the dashboard bench sets (so its maintenance drops nothing);
a browser session signs in with a fresh admin key. Each case requests the
page and its baseline alternately, so both see the same disturbances; the
server time of each request is the service's own (its access log: arrival
to answer ready), the client time includes HTTP over loopback. Aim
(issue 15): each page's server p95 < 50 ms.

Baselines: /ui/keys ~ GET /api/v1/keys; /ui/system ~ GET /health/ready (the
page also reads the /stats figures, which need no I/O); /ui/audit ~ GET
/api/v1/audit?limit=50 (the page's size), unfiltered and filtered by actor.

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import trio

from common import CpuMeter, database_url_for, percentile, say
from dashboard import RETENTION, RequestLog
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from server_process import start_server

DATABASE = "bench_dashboard"
BUILT = Path("/tmp/bench/build.done")
SEED_ACTOR = "bench ui admin seed"
AIM_MS = 50.0
# What the sign-in's Origin check compares with; the service itself listens on port 0.
PUBLIC_URL = "http://monitor.bench"


@dataclass(frozen=True)
class Case:
    name: str
    page: str
    baseline: str


CASES = (
    Case("keys", "/ui/keys", "/api/v1/keys"),
    Case("system", "/ui/system", "/health/ready"),
    Case("audit", "/ui/audit", "/api/v1/audit?limit=50"),
    Case(
        "audit_by_actor",
        "/ui/audit?actor=bench+ui+admin+seed&resource=api_key",
        "/api/v1/audit?actor=bench+ui+admin+seed&resource=api_key&limit=50",
    ),
)


def seed_audit_rows(url: str, rows: int) -> int:
    """Add `rows` audit rows spread over the last 7 days; return the log's size after."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            """
            insert into audit_log (time, actor_kind, actor_name, actor_prefix, resource,
                                   resource_id, action, before, after, client_address)
            select now() - (n * interval '7 days' / %s), 'system', %s, null,
                   case when n %% 3 = 0 then 'api_key' else 'event_group' end,
                   n::text,
                   case when n %% 3 = 0 then 'revoke' else 'update' end,
                   jsonb_build_object('status', 'open', 'name', 'seeded ' || n),
                   jsonb_build_object('status', 'resolved', 'name', 'seeded ' || n),
                   '10.0.0.1'
            from generate_series(1, %s) as n
            """,
            (rows, SEED_ACTOR, rows),
        )
        # Statistics as a log that grew this big would have: planned for 13 rows, the
        # filtered listing sorts the whole table instead of walking the time index.
        connection.execute("analyze audit_log")
        count = connection.execute("select count(*) from audit_log").fetchone()
    assert count is not None
    return int(count[0])


def remove_seeded(url: str, key_prefix: str | None) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("delete from audit_log where actor_name = %s", (SEED_ACTOR,))
        connection.execute("analyze audit_log")
        if key_prefix is not None:  # the bench's own key, and what creating it wrote
            connection.execute(
                "update api_keys set revoked_at = now() where prefix = %s", (key_prefix,)
            )


async def make_admin(url: str) -> tuple[str, str]:
    async with open_gateway(
        url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        record, token = await key_store.create_key(
            gateway,
            name="bench ui admin",
            role=Role.ADMIN,
            rate_limit=0,
            expires_at=None,
            by=Attribution(Actor.system("bench")),
        )
    return record.prefix, token


def summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 0.5) * 1000, 2),
        "p95_ms": round(percentile(ordered, 0.95) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else float("nan"),
    }


async def measure(
    base_url: str,
    token: str,
    log: RequestLog,
    runs: int,
    warmups: int,
    cases: tuple[Case, ...] = CASES,
    origin: str = PUBLIC_URL,
) -> dict[str, Any]:
    """Each case's page and baseline, alternately (bench/ui.py measures its pages so too)."""
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        signed = await client.post("/ui/sign-in", data={"key": token}, headers={"Origin": origin})
        assert signed.status_code == 303, signed.text
        for case in cases:
            client_times: dict[str, list[float]] = {"page": [], "baseline": []}
            for _ in range(warmups):
                await client.get(case.page)
                await client.get(case.baseline, headers={"X-API-Key": token})
            mark = log.mark()
            for _ in range(runs):
                for kind, path, headers in (
                    ("page", case.page, {}),
                    ("baseline", case.baseline, {"X-API-Key": token}),
                ):
                    started = time.perf_counter()
                    response = await client.get(path, headers=headers)
                    client_times[kind].append(time.perf_counter() - started)
                    assert response.status_code == 200, (path, response.status_code)
            figures: dict[str, Any] = {"page": case.page, "baseline": case.baseline}
            for kind, path in (("page", case.page), ("baseline", case.baseline)):
                served = await log.durations(
                    mark, lambda _remote, logged, path=path: logged == path, runs
                )
                figures[kind + "_server"] = summary(served)
                figures[kind + "_client"] = summary(client_times[kind])
            figures["page_over_baseline_p95"] = round(
                figures["page_server"]["p95_ms"] / max(figures["baseline_server"]["p95_ms"], 0.01),
                2,
            )
            figures["meets_aim"] = figures["page_server"]["p95_ms"] < AIM_MS
            say(
                f"{case.name:15} page server p50 {figures['page_server']['p50_ms']:7.2f} ms "
                f"p95 {figures['page_server']['p95_ms']:7.2f} ms | baseline p50 "
                f"{figures['baseline_server']['p50_ms']:7.2f} p95 "
                f"{figures['baseline_server']['p95_ms']:7.2f} ms"
            )
            results[case.name] = figures
    return results


async def run(runs: int, warmups: int, audit_rows: int) -> dict[str, Any]:
    url = database_url_for(DATABASE)
    prefix = None
    try:
        audit_size = seed_audit_rows(url, audit_rows)
        prefix, token = await make_admin(url)
        with tempfile.TemporaryDirectory() as data_dir:
            log = RequestLog(Path(data_dir) / f"serve-{secrets.token_hex(4)}.log")
            async with trio.open_nursery() as nursery:
                server = await start_server(
                    url,
                    nursery,
                    {
                        "MONITOR_DATA_DIR": data_dir,
                        "MONITOR_PUBLIC_URL": PUBLIC_URL,
                        "MONITOR_EVENTS_RETENTION": RETENTION,
                        "MONITOR_METRICS_RETENTION": RETENTION,
                    },
                    log_to=log.path,
                )
                meter = CpuMeter()
                try:
                    cases = await measure(server.url, token, log, runs, warmups)
                    cpu = meter.stop()
                finally:
                    server.process.send_signal(signal.SIGTERM)
                    with trio.move_on_after(15):
                        await server.process.wait()
                    nursery.cancel_scope.cancel()
            errors = (await log.errors())[:5]
    finally:
        remove_seeded(url, prefix)
    return {
        "bench": "ui_admin_pages",
        "database": DATABASE,
        "audit_rows": audit_size,
        "runs": runs,
        "aim_p95_ms": AIM_MS,
        "cases": cases,
        "all_meet_aim": all(case["meets_aim"] for case in cases.values()),
        "cpu": cpu,
        "server_errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmups", type=int, default=10)
    parser.add_argument("--audit-rows", type=int, default=20_000)
    options = parser.parse_args()
    if not BUILT.exists():
        sys.exit(f"{BUILT} is missing: build the data set with bench/dashboard.py first")
    result = trio.run(run, options.runs, options.warmups, options.audit_rows)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
