"""Alert evaluation benchmark: 1,000 metric rules over 10,000 series, per cycle.

The data: 10,000 series, 100 metric names of 100 hosts each, one sample
every 10 s over the last 20 minutes (1.2M samples), in a throw-away database,
rolled up as the service's rollup actor does (which also runs during the
cycles, every 10 s as by default).
One host in a hundred runs hot, so about 1 % of groups breach.
The rules: 100 distinct selectors (one per metric name, grouped by host),
10 rules on each with different thresholds and windows of 1 to 15 minutes
(aggregations avg, max, p95, rate and last, one per selector), stored as the
API stores them: 1,000 rules, 100,000 (rule, host) groups.

- cycle: the evaluator actor itself, leading, evaluating every rule each
  10 s interval: the shared reads on two connections, the state machine for
  every group, the recording transaction (fenced) and the annotations
  rendered for every instance that changed. Its own figure (`last_cycle_ms`).
- reads, on one connection, in the same run: every rule's observation read
  grouped (one statement per selector: 100), the same from raw samples only
  (no rollups), and, the baseline, one rule at a time (1,000 statements).

Prints one JSON line. The issue's aim: a cycle under 1 s here.

    python bench/alerts.py [--cycles 5]
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import trio

from common import CpuMeter, on_throwaway_database, say
from monitor.actors import alert_evaluator, rollup
from monitor.alert_observations import RuleToObserve, observe_in
from monitor.alert_templates import template_problem
from monitor.domain.alert_rules import parse_rule, rule_document
from monitor.domain.audit import Actor, Attribution
from monitor.domain.partitions import partitions_spanning
from monitor.evaluator_figures import EvaluatorFigures
from monitor.leadership import Leadership
from monitor.storage import alert_rules as rule_store
from monitor.storage import partitions as partition_store
from monitor.storage import rollups as rollup_store
from monitor.storage.gateway import Gateway, open_gateway
from monitor.storage.leadership import LeaderConnection
from monitor.storage.migrate import apply_migrations
from monitor.web.api.events.query import event_filter_of_pairs
from monitor.wiring import evaluator_deps

METRICS = 100
HOSTS = 100
RULES_PER_SELECTOR = 10
STEP_S = 10
SPAN = timedelta(minutes=20)
WINDOWS_MIN = (1, 2, 3, 5, 7, 10, 12, 15, 15, 4)  # one per rule of a selector
AGGREGATIONS = ("avg", "max", "p95", "rate", "last")
OFFSET = timedelta(seconds=30)
INTERVAL_S = 10
ROLLUP_INTERVAL_S = 10  # the service's default MONITOR_ROLLUP_INTERVAL


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
                    # One host in a hundred runs hot: about 1 % of groups breach.
                    hot = number == 0
                    if kind == "counter":
                        value = step * (30 if hot else 3) + number
                    else:
                        value = (step * 7 + number * 13) % 50 + (50 if hot else 0) + 0.5
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


def rule_documents() -> list[dict[str, Any]]:
    """The 1,000 rules: 10 per selector, different windows and thresholds."""
    documents = []
    for metric in range(METRICS):
        aggregation = AGGREGATIONS[metric % len(AGGREGATIONS)]
        for number in range(RULES_PER_SELECTOR):
            documents.append(
                {
                    "name": f"{_name(metric)} rule {number}",
                    "kind": "metric_threshold",
                    "selector": {"name": _name(metric), "labels": {"service": f"s{metric % 5}"}},
                    "aggregation": aggregation,
                    "window": f"{WINDOWS_MIN[number]}m",
                    "group_by": ["host"],
                    "comparator": ">",
                    "threshold": 1 + number / 10 if aggregation == "rate" else 60 + 3 * number,
                    "interval": f"{INTERVAL_S}s",
                    "offset": f"{int(OFFSET.total_seconds())}s",
                    "annotations": {"summary": "{{ labels.host }}: {{ value | round(2) }}"},
                }
            )
    return documents


async def store_rules(gateway: Gateway) -> list[RuleToObserve]:
    stored = []
    for document in rule_documents():
        rule = parse_rule(document, check_template=template_problem)
        record = await rule_store.create_rule(
            gateway,
            rule_store.RuleFields(rule.name, rule.kind, rule.enabled, rule_document(rule)),
            by=Attribution(Actor.system("bench")),
        )
        stored.append(RuleToObserve(record.id, rule))
    return stored


async def roll_up(url: str, now: datetime) -> float:
    """Roll up the loaded samples as the rollup actor would; the seconds it took."""
    began = time.perf_counter()
    async with open_gateway(
        url, pool_size=1, statement_timeout=120, acquire_timeout=10, connect_timeout=10
    ) as gateway:
        while True:
            mark = await rollup_store.roll_up(gateway, now, rollup.SETTLE)
            if mark is None or mark >= rollup_store.floor_to(now - rollup.SETTLE, 60):
                break
    return time.perf_counter() - began


def timed_reads(url: str, rules: list[RuleToObserve], end: datetime) -> dict[str, float]:
    """One connection: every rule read grouped (one statement per selector), with and
    without rollups, and one by one."""
    with psycopg.connect(url) as connection:
        began = time.perf_counter()
        grouped = observe_in(connection, rules, end, event_filter_of_pairs)
        grouped_s = time.perf_counter() - began
        connection.rollback()
        began = time.perf_counter()
        observe_in(connection, rules, end, event_filter_of_pairs, marks={})
        grouped_raw_s = time.perf_counter() - began
        connection.rollback()
        began = time.perf_counter()
        for rule in rules:
            observe_in(connection, [rule], end, event_filter_of_pairs)
        per_rule_s = time.perf_counter() - began
        connection.rollback()
    groups = sum(len(observations) for observations in grouped.values())
    return {
        "grouped_s": grouped_s,
        "grouped_raw_s": grouped_raw_s,
        "per_rule_s": per_rule_s,
        "groups": groups,
    }


def backend_cpu_s(url: str) -> dict[int, float]:
    """CPU seconds each PostgreSQL backend of this database has used (/proc: same machine).

    With other work on the machine, wall-clock times stretch; CPU time much less."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    with psycopg.connect(url, autocommit=True) as connection:
        pids = connection.execute(
            "select pid from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid()"
        ).fetchall()
    for (pid,) in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # ended meanwhile
        found[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return found


async def evaluator_cycles(url: str, cycles: int) -> tuple[list[float], EvaluatorFigures, float]:
    """The evaluator actor itself, leading, until it has made `cycles` cycles; and the CPU
    seconds per cycle it took (this process and the database's backends, rollups included)."""
    leader = LeaderConnection.open(url, statement_timeout=60)
    epoch = leader.try_lead("bench")
    assert epoch is not None
    leadership = Leadership()
    leadership.take(epoch)
    figures = EvaluatorFigures()
    durations: list[float] = []
    backends_before, process_before = backend_cpu_s(url), time.process_time()
    async with open_gateway(
        url, pool_size=8, statement_timeout=60, acquire_timeout=30, connect_timeout=10
    ) as gateway:
        deps = evaluator_deps(gateway, lambda _: None, concurrency=2)
        retention = {rollup_store.MINUTE: timedelta(days=1), rollup_store.HOUR: timedelta(days=1)}
        with trio.move_on_after(cycles * INTERVAL_S * 3 + 60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(
                    functools.partial(
                        rollup.run,
                        functools.partial(rollup_store.roll_up, gateway),
                        functools.partial(rollup_store.drop_expired, gateway, retention=retention),
                        interval=ROLLUP_INTERVAL_S,
                    )
                )
                nursery.start_soon(
                    functools.partial(alert_evaluator.run, leadership, deps, figures, tick=0.2)
                )
                seen = 0
                while len(durations) < cycles:
                    await trio.sleep(0.05)
                    if figures.cycles > seen:
                        seen = figures.cycles
                        assert figures.last_cycle_ms is not None
                        durations.append(figures.last_cycle_ms / 1000)
                        made = figures.transitions
                        say(f"cycle {seen}: {durations[-1]:.3f} s, {made} transitions")
                nursery.cancel_scope.cancel()
        backends = backend_cpu_s(url)
    spent = time.process_time() - process_before
    spent += sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends.items())
    leader.close()
    return durations, figures, spent / max(1, len(durations))


def run(url: str, cycles: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    began = time.perf_counter()
    rows = load(url, now)
    say(f"loaded {rows} samples in {time.perf_counter() - began:.1f} s")
    say(f"rolled up in {trio.run(roll_up, url, now):.1f} s")

    async def setup() -> list[RuleToObserve]:
        async with open_gateway(
            url, pool_size=1, statement_timeout=60, acquire_timeout=10, connect_timeout=10
        ) as gateway:
            return await store_rules(gateway)

    rules = trio.run(setup)
    load_before = os.getloadavg()[0]
    meter = CpuMeter()
    reads = [timed_reads(url, rules, datetime.now(UTC)) for _ in range(max(1, cycles // 2))]
    durations, figures, cpu_per_cycle = trio.run(evaluator_cycles, url, cycles)
    machine = meter.stop()
    grouped = statistics.median(read["grouped_s"] for read in reads)
    grouped_raw = statistics.median(read["grouped_raw_s"] for read in reads)
    per_rule = statistics.median(read["per_rule_s"] for read in reads)
    return {
        "rules": len(rules),
        "series": METRICS * HOSTS,
        "samples": rows,
        "cycle_s": round(statistics.median(durations), 3),
        "cycle_min_s": round(min(durations), 3),
        "cycle_max_s": round(max(durations), 3),
        "cycles": len(durations),
        "cpu_per_cycle_s": round(cpu_per_cycle, 3),
        "transitions": figures.transitions,
        "statements_per_cycle": METRICS,
        "read_grouped_s": round(grouped, 3),
        "read_grouped_raw_only_s": round(grouped_raw, 3),
        "baseline_read_per_rule_s": round(per_rule, 3),
        "baseline_statements": len(rules),
        "ratio": round(per_rule / grouped, 2),
        # Other work on the machine (1-minute load average, 2 cores here) before and after.
        "load_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        **machine,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=5)
    arguments = parser.parse_args()
    on_throwaway_database("bench_alerts", lambda url: run(url, min(arguments.cycles, 50)))


if __name__ == "__main__":
    main()
