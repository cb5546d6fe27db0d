"""Notification benchmark: 10,000 alert instances firing at once, through 3 policies.

The service runs as `monitor serve` in a process of its own (it leads alert
evaluation, so its notifier plans; it also sends), against a throw-away
database. The instances are written as the evaluator writes them: 100 rules
of 100 groups each, every instance firing with its transition, in one
transaction (the notifier's outbox). The rules are stored disabled, so the
evaluator leaves these instances alone: what is measured is the notifier.

Three policies, each to a webhook channel of its own local receiver (HTTP
on 127.0.0.1, answering 200 at once), `group_wait` 0 s:

- `severity = critical` (rules 0-19), grouped by `rule`: 20 messages of 100;
- `team = api` (rules 20-59), grouped by `rule` and `zone`: 400 messages of 10;
- the default policy (rules 60-99), grouped by `rule`: 40 messages of 100.

Measured: the time from the transitions' commit to the last delivery
recorded delivered, the messages the receivers got and the alerts they
carried, the service's RSS (before and the peak while draining) and CPU.

The baseline, in the same run on a second database: the same 10,000
instances through the default policy alone with `group_by: ["..."]` (every
instance its own group): one message per instance, as a notifier without
grouping would send.

Prints one JSON line.

    python bench/notifications.py [--instances-per-rule 100]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import trio
from psycopg.types.json import Jsonb

from common import create_database, drop_database, say
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations
from server_process import start_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from receivers import Received, Receiver, Reply, start_receiver

RULES = 100
ZONES = 10
DRAIN_BOUND_S = 300.0
POLL_S = 0.2


def _rule_labels(rule: int) -> dict[str, str]:
    if rule < 20:
        return {"severity": "critical", "team": "db"}
    if rule < 60:
        return {"severity": "warning", "team": "api"}
    return {"severity": "warning", "team": "web"}


def write_firing_instances(url: str, per_rule: int) -> int:
    """100 disabled rules with `per_rule` firing instances each, and their transitions."""
    now = datetime.now(UTC)
    with psycopg.connect(url) as connection:
        for rule in range(RULES):
            name = f"bench notify {rule:03d}"
            labels = _rule_labels(rule)
            row = connection.execute(
                "insert into alert_rules (name, kind, enabled, definition, created_by, "
                "updated_by) values (%s, 'metric_threshold', false, %s, 'bench', 'bench') "
                "returning id",
                (name, Jsonb({"name": name, "kind": "metric_threshold"})),
            ).fetchone()
            assert row is not None
            rule_id = row[0]
            for host in range(per_rule):
                group = {"host": f"h{host}", "zone": f"z{host % ZONES}"}
                instance_labels = {**group, **labels, "rule": name}
                annotations = {"summary": f"{name} on h{host}"}
                made = connection.execute(
                    "insert into alert_instances (rule_id, group_key, sequence, labels, "
                    "annotations, state, since, value, reason, held, opened_at) values "
                    "(%s, %s, 1, %s, %s, 'firing', %s, 99.5, 'threshold', 'firing', %s) "
                    "returning id",
                    (
                        rule_id,
                        json.dumps(group, sort_keys=True, separators=(",", ":")),
                        Jsonb(instance_labels),
                        Jsonb(annotations),
                        now,
                        now,
                    ),
                ).fetchone()
                assert made is not None
                connection.execute(
                    "insert into alert_transitions (instance_id, rule_id, from_state, "
                    "to_state, at, value, reason, labels, annotations) values "
                    "(%s, %s, 'pending', 'firing', %s, 99.5, 'threshold', %s, %s)",
                    (made[0], rule_id, now, Jsonb(instance_labels), Jsonb(annotations)),
                )
        connection.commit()
    return RULES * per_rule


async def admin_token(url: str) -> str:
    async with open_gateway(
        url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        _, token = await key_store.create_key(
            gateway,
            name="bench notifications",
            role=Role.ADMIN,
            rate_limit=0,
            expires_at=None,
            by=Attribution(Actor.system("bench")),
        )
    return token


async def configure(client: httpx.AsyncClient, receivers: list[Receiver], *, grouped: bool) -> None:
    """One webhook channel per receiver; the three policies (or, ungrouped, the default only)."""
    channel_ids = []
    for number, receiver in enumerate(receivers):
        made = await client.post(
            "/api/v1/channels",
            json={
                "name": f"receiver {number}",
                "kind": "webhook",
                "url": f"http://127.0.0.1:{receiver.port}/hook",
                "secret": "bench-hmac-secret-0123456789",  # required: the HMAC key
            },
        )
        made.raise_for_status()
        channel_ids.append(made.json()["id"])
    timing = {"group_wait": "0s", "group_interval": "5m", "repeat_interval": "4h"}
    if grouped:
        for position, (matcher, group_by, channel) in enumerate(
            [
                ({"name": "severity", "op": "=", "value": "critical"}, ["rule"], 0),
                ({"name": "team", "op": "=", "value": "api"}, ["rule", "zone"], 1),
            ]
        ):
            made = await client.post(
                "/api/v1/notification-policies",
                json={
                    "name": f"policy {position}",
                    "position": position,
                    "matchers": [matcher],
                    "channel_ids": [channel_ids[channel]],
                    "group_by": group_by,
                    **timing,
                },
            )
            made.raise_for_status()
    default = await client.get("/api/v1/notification-policies/default")
    default.raise_for_status()
    changed = await client.put(
        "/api/v1/notification-policies/default",
        headers={"If-Match": default.headers["ETag"]},
        json={
            "name": "default",
            "channel_ids": [channel_ids[2 if grouped else 0]],
            "group_by": ["rule"] if grouped else ["..."],
            **timing,
        },
    )
    changed.raise_for_status()


def expected_messages(per_rule: int) -> int:
    """One per group: critical by rule, api by rule and zone, the default by rule."""
    critical = sum(1 for rule in range(RULES) if _rule_labels(rule)["severity"] == "critical")
    api = sum(1 for rule in range(RULES) if _rule_labels(rule)["team"] == "api")
    rest = RULES - critical - api
    return critical + api * min(ZONES, per_rule) + rest


def delivery_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "select status, count(*) from notification_deliveries group by status"
        ).fetchall()
    return {str(status): int(count) for status, count in rows}


async def drain(url: str, per_rule: int, *, grouped: bool) -> dict[str, Any]:
    messages = 0
    alerts = 0

    async def count(request: Received) -> Reply:
        nonlocal messages, alerts
        messages += 1
        alerts += len(request.json().get("alerts", []))
        return Reply(200, b"{}")

    token = await admin_token(url)
    async with trio.open_nursery() as nursery:
        receivers = [await start_receiver(nursery, count) for _ in range(3)]
        # Info level: the "listening" line gives the port (start_server reads it).
        server = await start_server(url, nursery)
        try:
            async with httpx.AsyncClient(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as client:
                await configure(client, receivers, grouped=grouped)
            rss_before = server.rss_mb()
            cpu_before = server.cpu_seconds()
            instances = await trio.to_thread.run_sync(write_firing_instances, url, per_rule)
            began = time.perf_counter()
            expected = expected_messages(per_rule) if grouped else instances
            peak = rss_before
            counts: dict[str, int] = {}
            with trio.move_on_after(DRAIN_BOUND_S):
                while True:
                    counts = await trio.to_thread.run_sync(delivery_counts, url)
                    peak = max(peak, server.rss_mb())
                    if counts.get("delivered", 0) + counts.get("failed", 0) >= expected:
                        break
                    await trio.sleep(POLL_S)  # a benchmark's sampling period
            drained_s = time.perf_counter() - began
            cpu = server.cpu_seconds() - cpu_before
        finally:
            server.process.kill()
            await server.process.wait()
            nursery.cancel_scope.cancel()
    return {
        "instances": instances,
        "expected_deliveries": expected,
        "deliveries": counts,
        "messages_received": messages,
        "alerts_received": alerts,
        "drain_s": round(drained_s, 2),
        "rss_before_mb": round(rss_before, 1),
        "rss_peak_mb": round(peak, 1),
        "cpu_s": round(cpu, 2),
        "errors": server.errors[:5],
    }


def run_phase(per_rule: int, grouped: bool) -> dict[str, Any]:
    name = f"bench_notify_{secrets.token_hex(4)}"
    url = create_database(name)
    try:
        apply_migrations(url)
        return trio.run(lambda: drain(url, per_rule, grouped=grouped))
    finally:
        drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances-per-rule", type=int, default=100)
    per_rule = parser.parse_args().instances_per_rule
    say("grouped: 3 policies")
    grouped = run_phase(per_rule, grouped=True)
    say(json.dumps(grouped))
    say("baseline: every instance its own group")
    ungrouped = run_phase(per_rule, grouped=False)
    say(json.dumps(ungrouped))
    summary = {
        "instances": grouped["instances"],
        "drain_s": grouped["drain_s"],
        "messages": grouped["messages_received"],
        "alerts_carried": grouped["alerts_received"],
        "rss_peak_mb": grouped["rss_peak_mb"],
        "rss_growth_mb": round(grouped["rss_peak_mb"] - grouped["rss_before_mb"], 1),
        "cpu_s": grouped["cpu_s"],
        "baseline_drain_s": ungrouped["drain_s"],
        "baseline_messages": ungrouped["messages_received"],
        "ratio_drain": round(ungrouped["drain_s"] / grouped["drain_s"], 2)
        if grouped["drain_s"]
        else None,
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
