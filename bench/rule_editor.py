"""The rule editor's preview and backtest: their time against the API answers inside them.

    PYTHONPATH=src python bench/rule_editor.py [--hosts 20] [--rounds 10]

A service of its own (the browser tests' harness: its own thread, a throw-away
database) with six hours of one gauge from `--hosts` hosts, one sample a
minute each. Signed in as a browser, it alternates, `--rounds` times each:

- the live preview (`POST /ui/alerts/rules/new/preview`, the last 3 h: up to
  120 steps of the rule's window, plus `test`) against its baseline in the same
  run, `POST /api/v1/alerts/test` (one evaluation, the same rule);
- the backtest region (`POST /ui/alerts/rules/new/backtest`, 6 h at 1 min:
  360 evaluations, plus 120 steps for its chart) against
  `POST /api/v1/alerts/backtest` over the same range.

Times are the client's (request to full answer) on the same machine. The last
line on stdout is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_harness import ui_service  # noqa: E402
from conftest import create_database, drop_database  # noqa: E402
from monitor.storage.migrate import apply_migrations  # noqa: E402

RULE: dict[str, Any] = {
    "name": "bench rule",
    "kind": "metric_threshold",
    "selector": {"name": "bench_latency", "labels": {}},
    "aggregation": "p95",
    "window": "5m",
    "group_by": ["host"],
    "comparator": ">",
    "threshold": 0.9,
    "interval": "1m",
    "for": "2m",
    "offset": "0s",
    "annotations": {"summary": "p95 {{ value | round(3) }} on {{ labels.host }}"},
}
FORM = {
    "name": "bench rule",
    "kind": "metric_threshold",
    "enabled": "on",
    "metric": "bench_latency",
    "aggregation": "p95",
    "window": "5m",
    "group_by": "host",
    "comparator": ">",
    "threshold": "0.9",
    "interval": "1m",
    "for": "2m",
    "offset": "0s",
    "annotations": "summary=p95 {{ value | round(3) }} on {{ labels.host }}",
    "preview_range": "3h",
}


def seed(client: httpx.Client, token: str, hosts: int) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for host in range(hosts):
        rows = [
            {
                "name": "bench_latency",
                "type": "gauge",
                "labels": {"host": f"h{host:02d}"},
                "value": 0.5 + 0.5 * ((minute * (host + 3)) % 17) / 16,
                "time": (now - timedelta(minutes=minute)).isoformat(),
            }
            for minute in range(1, 361)
        ]
        answer = client.post("/api/v1/metrics/bulk", json=rows, headers={"X-API-Key": token})
        answer.raise_for_status()


def timed(call: Any) -> float:
    started = time.perf_counter()
    answer = call()
    elapsed = time.perf_counter() - started
    if answer.status_code != 200:
        raise SystemExit(f"{answer.request.url}: {answer.status_code} {answer.text[:300]}")
    return elapsed


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def measure(base_url: str, token: str, hosts: int, rounds: int) -> dict[str, Any]:
    with httpx.Client(base_url=base_url, timeout=120) as client:
        seed(client, token, hosts)
        signed = client.post("/ui/sign-in", data={"key": token}, headers={"Origin": base_url})
        assert signed.status_code == 303, signed.text
        page = client.get("/ui/alerts/rules/new")
        found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
        assert found
        browser = {"Origin": base_url, "HX-Request": "true", "X-CSRF-Token": found[1]}
        key = {"X-API-Key": token}
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        span = {"from": (end - timedelta(hours=6)), "to": end}
        form_span = {name: moment.strftime("%Y-%m-%dT%H:%M") for name, moment in span.items()}
        api_span = {name: moment.isoformat() for name, moment in span.items()}
        times: dict[str, list[float]] = {
            "preview": [],
            "api_test": [],
            "backtest": [],
            "api_backtest": [],
        }
        for _ in range(rounds):
            times["preview"].append(
                timed(
                    lambda: client.post("/ui/alerts/rules/new/preview", data=FORM, headers=browser)
                )
            )
            times["api_test"].append(
                timed(lambda: client.post("/api/v1/alerts/test", json=RULE, headers=key))
            )
            times["backtest"].append(
                timed(
                    lambda: client.post(
                        "/ui/alerts/rules/new/backtest", data={**FORM, **form_span}, headers=browser
                    )
                )
            )
            times["api_backtest"].append(
                timed(
                    lambda: client.post(
                        "/api/v1/alerts/backtest", json={"rule": RULE, **api_span}, headers=key
                    )
                )
            )
    return {"hosts": hosts, "rounds": rounds, **{k: summary_ms(v) for k, v in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    name = f"monitor_bench_editor_{uuid.uuid4().hex[:8]}"
    database_url = create_database(name)
    try:
        apply_migrations(database_url)
        with (
            tempfile.TemporaryDirectory() as data_dir,
            ui_service(database_url, Path(data_dir)) as site,
        ):
            result = measure(site.base_url, site.admin_token, args.hosts, args.rounds)
    finally:
        drop_database(name)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
