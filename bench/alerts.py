"""Alert evaluation benchmark: reading what 1,000 metric rules compare, per cycle.

The data: 10,000 series, 100 metric names of 100 hosts each, one sample
every 10 s over the last 20 minutes (1.2M samples), in a throw-away database.
The rules: 100 distinct selectors (one per metric name, grouped by host),
10 rules on each with different thresholds and windows of 1 to 15 minutes,
1,000 rules and 100,000 (rule, host) instances in all.

A cycle reads every rule's value per group, as the evaluator does, two ways
in the same run, alternating:

- grouped: one statement per selector, every window its rules ask for
  answered at once (storage/alert_values.py `selector_values`);
- per rule: one statement per rule (the baseline).

Both read in one transaction on one connection. Prints one JSON line:
cycle times (median, max) of each, statements per cycle, and the ratio.
The issue's aim: a cycle under 1 s here.

    python bench/alerts.py [--cycles 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import trio

from common import CpuMeter, on_throwaway_database, say
from monitor.domain.metrics import LabelMatcher
from monitor.domain.partitions import partitions_spanning
from monitor.storage import partitions as partition_store
from monitor.storage.alert_values import SelectorQuery, WindowAggregate, read_selector
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations

METRICS = 100
HOSTS = 100
RULES_PER_SELECTOR = 10
STEP_S = 10
SPAN = timedelta(minutes=20)
WINDOWS_MIN = (1, 2, 3, 5, 7, 10, 12, 15, 15, 4)  # one per rule of a selector
AGGREGATIONS = ("avg", "max", "p95", "rate", "last")
OFFSET = timedelta(seconds=30)


def _name(metric: int) -> str:
    return f"bench_alert_{metric:03d}"


def load(url: str, now: datetime) -> int:
    apply_migrations(url)

    async def partitions() -> None:
        async with open_gateway(
            url, pool_size=1, statement_timeout=60, acquire_timeout=10, connect_timeout=10
        ) as gateway:
            for table in ("samples",):
                await partition_store.create_partitions(
                    gateway, table, partitions_spanning(now - SPAN, now + timedelta(minutes=1))
                )

    trio.run(partitions)
    steps = int(SPAN.total_seconds() // STEP_S)
    start = now - SPAN
    rows = 0
    with psycopg.connect(url) as connection:
        for metric in range(METRICS):
            kind = "counter" if AGGREGATIONS[metric % len(AGGREGATIONS)] == "rate" else "gauge"
            connection.execute(
                "insert into metrics (name, type) values (%s, %s)", (_name(metric), kind)
            )
            ids = [
                row[0]
                for row in connection.execute(
                    "insert into series (name, labels) "
                    "select %s, jsonb_build_object('host', 'h' || n, 'service', %s::text) "
                    "from generate_series(0, %s) n returning id",
                    (_name(metric), f"s{metric % 5}", HOSTS - 1),
                ).fetchall()
            ]
            text = io.StringIO()
            for step in range(steps):
                moment = (start + timedelta(seconds=step * STEP_S)).isoformat()
                for number, series_id in enumerate(ids):
                    value = (
                        step * 3 + number
                        if kind == "counter"
                        else (step * 7 + number * 13) % 100 + 0.5
                    )
                    text.write(f"{series_id}\t{moment}\t{value}\n")
            with connection.cursor().copy(
                "copy samples (series_id, time, value) from stdin"
            ) as copy:
                copy.write(text.getvalue())
            rows += steps * len(ids)
        connection.commit()
        connection.execute("analyze samples")
        connection.execute("analyze series")
        connection.commit()
    return rows


def rules() -> list[tuple[int, WindowAggregate]]:
    """(selector, what it asks) for each of the 1,000 rules."""
    return [
        (
            metric,
            WindowAggregate(
                AGGREGATIONS[metric % len(AGGREGATIONS)],
                timedelta(minutes=WINDOWS_MIN[rule]),
            ),
        )
        for metric in range(METRICS)
        for rule in range(RULES_PER_SELECTOR)
    ]


def _query(metric: int, asks: tuple[WindowAggregate, ...], end: datetime) -> SelectorQuery:
    return SelectorQuery(
        name=_name(metric),
        matchers=(LabelMatcher("service", f"s{metric % 5}", True),),
        group_by=("host",),
        asks=asks,
        end=end,
    )


def grouped_cycle(connection: psycopg.Connection[Any], end: datetime) -> tuple[int, int]:
    by_selector: dict[int, list[WindowAggregate]] = {}
    for metric, ask in rules():
        asked = by_selector.setdefault(metric, [])
        if ask not in asked:
            asked.append(ask)
    groups = 0
    for metric, asks in by_selector.items():
        groups += len(read_selector(connection, _query(metric, tuple(asks), end)))
    return len(by_selector), groups


def per_rule_cycle(connection: psycopg.Connection[Any], end: datetime) -> tuple[int, int]:
    groups = 0
    every = rules()
    for metric, ask in every:
        groups += len(read_selector(connection, _query(metric, (ask,), end)))
    return len(every), groups


def run(url: str, cycles: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    began = time.perf_counter()
    rows = load(url, now)
    say(f"loaded {rows} samples in {time.perf_counter() - began:.1f} s")
    times: dict[str, list[float]] = {"grouped": [], "per_rule": []}
    statements: dict[str, int] = {}
    meter = CpuMeter()
    with psycopg.connect(url) as connection:
        for cycle in range(cycles):
            end = now - OFFSET
            for label, read in (("grouped", grouped_cycle), ("per_rule", per_rule_cycle)):
                began = time.perf_counter()
                statements[label], groups = read(connection, end)
                connection.rollback()
                times[label].append(time.perf_counter() - began)
                say(f"cycle {cycle} {label}: {times[label][-1]:.3f} s, {groups} group answers")
    figures = meter.stop()
    grouped, baseline = statistics.median(times["grouped"]), statistics.median(times["per_rule"])
    return {
        "rules": METRICS * RULES_PER_SELECTOR,
        "series": METRICS * HOSTS,
        "samples": rows,
        "cycle_s": round(grouped, 3),
        "cycle_max_s": round(max(times["grouped"]), 3),
        "statements": statements["grouped"],
        "baseline_cycle_s": round(baseline, 3),
        "baseline_statements": statements["per_rule"],
        "ratio": round(baseline / grouped, 2),
        **figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=5)
    arguments = parser.parse_args()
    on_throwaway_database("bench_alerts", lambda url: run(url, min(arguments.cycles, 50)))


if __name__ == "__main__":
    main()
