"""End to end: samples cross a threshold and the leading service's evaluator records it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio

from conftest import StartService, make_settings
from monitor.alert_templates import template_problem
from monitor.domain.alert_rules import parse_rule, rule_document
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import alert_rules as rule_store
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations

BY = Attribution(Actor.system("tests"))


@pytest.fixture
def alert_database(empty_database_url: str) -> str:
    apply_migrations(empty_database_url)
    return empty_database_url


async def _setup(url: str, raw_rule: dict[str, Any]) -> tuple[int, str]:
    rule = parse_rule(raw_rule, check_template=template_problem)
    async with open_gateway(
        url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        created = await rule_store.create_rule(
            gateway,
            rule_store.RuleFields(rule.name, rule.kind, rule.enabled, rule_document(rule)),
            by=BY,
        )
        _, token = await key_store.create_key(
            gateway,
            name="evaluation test",
            role=Role.WRITE,
            rate_limit=None,
            expires_at=None,
            by=BY,
        )
    return created.id, token


def _states(url: str, rule_id: int) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as connection:
        return [
            (row[0], row[1], row[2])
            for row in connection.execute(
                "select from_state, to_state, labels ->> 'host' from alert_transitions "
                "where rule_id = %s order by id",
                (rule_id,),
            )
        ]


async def _wait_for(url: str, rule_id: int, count: int) -> list[tuple[str, str, str]]:
    with trio.fail_after(40):
        while len(found := await trio.to_thread.run_sync(_states, url, rule_id)) < count:
            await trio.sleep(0.2)
    return found


async def test_a_metric_crossing_its_threshold_goes_pending_firing_resolved(
    start_service: StartService, alert_database: str, tmp_path: Path
) -> None:
    name = f"cpu_{uuid.uuid4().hex[:8]}"
    rule_id, token = await _setup(
        alert_database,
        {
            "name": "cpu high",
            "kind": "metric_threshold",
            "selector": {"name": name, "labels": {"env": "prod"}},
            "aggregation": "max",
            "window": "10s",
            "group_by": ["host"],
            "comparator": ">",
            "threshold": 90,
            "resolve_threshold": 80,
            "interval": "5s",
            "for": "5s",
            "offset": "0s",
            "no_data": "ok",
            "annotations": {"summary": "{{ labels.host }} at {{ value }}"},
        },
    )
    settings = make_settings(
        alert_database,
        tmp_path,
        alert_leader_poll=timedelta(seconds=0.1),
        alert_evaluator_tick=timedelta(seconds=0.1),
    )
    running = await start_service(settings)
    headers = {"X-API-Key": token}

    async def send(host: str, value: float, env: str = "prod") -> None:
        sample = {
            "name": name,
            "type": "gauge",
            "labels": {"host": host, "env": env},
            "value": value,
            "time": datetime.now(UTC).isoformat(),
        }
        response = await client.post("/api/v1/metrics/bulk", json=[sample])
        assert response.status_code == 201, response.text

    async with httpx.AsyncClient(base_url=running.base_url, headers=headers) as client:
        await send("a", 95)
        await send("b", 50)  # below: no instance
        await send("a", 99, env="dev")  # not selected
        assert await _wait_for(alert_database, rule_id, 1) == [("inactive", "pending", "a")]
        await send("a", 96)
        found = await _wait_for(alert_database, rule_id, 2)
        assert found[1] == ("pending", "firing", "a")
        stats = (await client.get("/stats")).json()["alert_evaluator"]
        assert stats["transitions"] >= 2 and stats["rules"] == 1
        await send("a", 85)  # above the resolve threshold: keeps firing
        await send("a", 70)  # the 10 s window keeps 95 and 96 for a while yet
        found = await _wait_for(alert_database, rule_id, 3)
    assert found == [
        ("inactive", "pending", "a"),
        ("pending", "firing", "a"),
        ("firing", "resolved", "a"),
    ]
    with psycopg.connect(alert_database) as connection:
        row = connection.execute(
            "select annotations ->> 'summary', labels from alert_instances where rule_id = %s",
            (rule_id,),
        ).fetchone()
    assert row is not None
    assert row[0].startswith("a at ")
    assert row[1] == {"host": "a", "rule": "cpu high", "severity": "warning"}
    with psycopg.connect(alert_database) as connection:
        run = connection.execute(
            "select next_due_at - evaluated_at, groups, failed from alert_rule_runs "
            "where rule_id = %s",
            (rule_id,),
        ).fetchone()
    assert run is not None
    # Due every 5 s from its first evaluation (not from each start); b is never selected.
    assert timedelta(seconds=4) < run[0] <= timedelta(seconds=5)
    assert run[1] <= 1 and run[2] is None
