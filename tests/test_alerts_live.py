"""The `alerts` websocket channel end to end: what the evaluator records, and what
operators do through the API (acknowledge, resolve, delete a rule), reaches a client
subscribed on /ws, each item naming its instance and rule.

Waits are on the websocket's messages, each with a timeout; nothing sleeps to sync.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from alert_helpers import add_instance
from conftest import RUN_ID, RunningService, StartService, make_settings
from monitor.config import Settings
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations
from ws_helpers import Message, connect, receive, send, subscribe

BY = Attribution(Actor.system("tests"))
DISABLED_RULE = {
    "kind": "metric_threshold",
    "enabled": False,
    "selector": {"name": "http_request_seconds", "labels": {"service": "api"}},
    "aggregation": "p95",
    "window": "5m",
    "group_by": ["host"],
    "comparator": ">",
    "threshold": 0.5,
}


@dataclass(frozen=True)
class Site:
    running: RunningService
    database_url: str
    admin: str
    reader: str
    writer: str

    def client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.running.base_url, headers={"X-API-Key": token}, timeout=10
        )


async def _keys(database_url: str) -> dict[str, str]:
    """An admin, a read and a write key (named admin, watcher, on call), by role."""
    tokens = {}
    async with open_gateway(
        database_url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        for role, name in (("admin", "admin"), ("read", "watcher"), ("write", "on call")):
            _, tokens[role] = await key_store.create_key(
                gateway, name=name, role=Role.parse(role), rate_limit=None, expires_at=None, by=BY
            )
    return tokens


def _settings(database_url: str, data_dir: Path, **changes: Any) -> Settings:
    """The evaluator leads and ticks every 0.1 s."""
    return make_settings(
        database_url,
        data_dir,
        alert_leader_poll=timedelta(seconds=0.1),
        alert_evaluator_tick=timedelta(seconds=0.1),
        **changes,
    )


@pytest.fixture
async def site(start_service: StartService, empty_database_url: str, tmp_path: Path) -> Site:
    """A service on a database of its own, with an admin, a read and a write key."""
    apply_migrations(empty_database_url)
    tokens = await _keys(empty_database_url)
    running = await start_service(_settings(empty_database_url, tmp_path))
    return Site(running, empty_database_url, tokens["admin"], tokens["read"], tokens["write"])


class Feed:
    """The items of one connection's `alerts` subscription, in arrival order."""

    def __init__(self, connection: WebSocketConnection) -> None:
        self.connection = connection
        self.held: list[Message] = []

    async def next(self, timeout: float = 30) -> Message:
        with trio.fail_after(timeout):
            while not self.held:
                message = await receive(self.connection, timeout)
                if message["type"] == "data":
                    assert message["channel"] == "alerts"
                    self.held.extend(message["items"])
        return self.held.pop(0)

    async def first(self, wanted: dict[str, Any], timeout: float = 30) -> Message:
        """The first item that has every key and value of `wanted` (earlier ones dropped)."""
        with trio.fail_after(timeout):
            while True:
                item = await self.next(timeout)
                if all(item.get(key) == value for key, value in wanted.items()):
                    return item


async def _rule(site: Site, rule: dict[str, Any]) -> int:
    async with site.client(site.admin) as client:
        made = await client.post("/api/v1/alerts", json=rule)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def test_the_evaluators_transitions_reach_a_subscriber_naming_their_instance(
    site: Site,
) -> None:
    metric = f"cpu_{uuid.uuid4().hex[:8]}"
    rule_id = await _rule(
        site,
        {
            "name": "cpu high",
            "kind": "metric_threshold",
            "selector": {"name": metric},
            "aggregation": "max",
            "window": "1m",
            "group_by": ["host"],
            "comparator": ">",
            "threshold": 90,
            "interval": "5s",
            "offset": "0s",
            "no_data": "ok",
            "annotations": {"summary": "{{ labels.host }} at {{ value }}"},
        },
    )
    async with connect(site.running.base_url, site.reader) as ws:
        await subscribe(ws, "alerts")
        async with site.client(site.writer) as client:
            sample = {
                "name": metric,
                "type": "gauge",
                "labels": {"host": "a"},
                "value": 95,
                "time": datetime.now(UTC).isoformat(),
            }
            posted = await client.post("/api/v1/metrics/bulk", json=[sample])
            assert posted.status_code == 201, posted.text
            opened = await Feed(ws).first({"from": "inactive"})
            listed = await client.get("/api/v1/alerts/instances", params={"rule_id": rule_id})
    assert listed.status_code == 200, listed.text
    [instance] = listed.json()["instances"]
    assert opened["kind"] == "transition"
    assert opened["to"] == "firing"  # no `for`: at once
    assert opened["instance_id"] == instance["id"]
    assert opened["rule_id"] == rule_id
    assert opened["labels"]["host"] == "a"
    assert opened["annotations"]["summary"].startswith("a at 95")
    assert opened["actor"] is None  # the evaluator
    assert opened["value"] == 95


async def test_an_operators_acknowledge_and_resolve_reach_every_subscriber(site: Site) -> None:
    rule_id = await _rule(site, {**DISABLED_RULE, "name": "latency"})
    instance = add_instance(site.database_url, rule_id, host="web-1")
    async with (
        connect(site.running.base_url, site.reader) as one,
        connect(site.running.base_url, site.writer) as other,
    ):
        await subscribe(one, "alerts")
        await subscribe(other, "alerts")
        async with site.client(site.writer) as client:
            path = f"/api/v1/alerts/instances/{instance}"
            acked = await client.post(f"{path}/acknowledge", json={"comment": "on it"})
            assert acked.status_code == 200, acked.text
            feeds = [Feed(one), Feed(other)]
            for feed in feeds:
                item = await feed.next()
                assert item["instance_id"] == instance
                assert item["kind"] == "acknowledgement"
                assert (item["by"], item["comment"], item["state"]) == (
                    "on call",
                    "on it",
                    "firing",
                )
                assert item["rule_id"] == rule_id and item["labels"]["host"] == "web-1"
                assert item["until"] is None
            resolved = await client.post(f"{path}/resolve")
            assert resolved.status_code == 200, resolved.text
            for feed in feeds:
                item = await feed.next()
                assert item["instance_id"] == instance
                assert item["kind"] == "transition"
                assert (item["from"], item["to"], item["actor"]) == (
                    "firing",
                    "resolved",
                    "on call",
                )
                assert item["reason"] == "resolved by on call"
            # Refused (already resolved): nothing is published; the next item is the ping's
            # answer, not a transition.
            again = await client.post(f"{path}/resolve")
            assert again.status_code == 409, again.text
        await send(one, {"type": "ping", "id": 7})
        assert await receive(one) == {"type": "pong", "id": 7}


async def test_deleting_a_rule_publishes_the_instances_it_closes(site: Site) -> None:
    rule_id = await _rule(site, {**DISABLED_RULE, "name": "going away"})
    first = add_instance(site.database_url, rule_id, host="a")
    second = add_instance(site.database_url, rule_id, host="b", state="pending")
    async with connect(site.running.base_url, site.reader) as ws:
        await subscribe(ws, "alerts")
        async with site.client(site.admin) as client:
            deleted = await client.delete(f"/api/v1/alerts/{rule_id}")
            assert deleted.status_code == 204, deleted.text
        feed = Feed(ws)
        items = [await feed.next(), await feed.next()]
        seen = {item["instance_id"]: item for item in items}
    assert set(seen) == {first, second}
    assert {(item["from"], item["to"]) for item in seen.values()} == {
        ("firing", "resolved"),
        ("pending", "inactive"),  # it never fired
    }
    assert all(item["reason"] == "rule deleted" and item["actor"] for item in seen.values())


async def test_the_alerts_channel_takes_no_filter_and_needs_a_reading_key(site: Site) -> None:
    async with connect(site.running.base_url, site.reader) as ws:
        await send(ws, {"type": "subscribe", "channel": "alerts", "filter": {"rule_id": 1}})
        assert await receive(ws) == {
            "type": "error",
            "reason": "the alerts channel takes no filter",
        }
    async with site.client(site.admin) as client:
        made = await client.post("/api/v1/keys", json={"name": "pusher", "role": "ingest"})
    ingest = made.json()["key"]
    async with connect(site.running.base_url, ingest) as ws:
        with trio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    assert closed.value.reason.code == 1008


def _rule_runs(database_url: str, rule_id: int) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "select count(*) from alert_rule_runs where rule_id = %s", (rule_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_disabling_a_rule_publishes_the_instances_it_closes(site: Site) -> None:
    # Enabled, due once a day: after its first evaluation the evaluator leaves it alone,
    # so the instance written next is closed by the disabling, not by the evaluator.
    rule = {**DISABLED_RULE, "name": "switched off", "enabled": True, "interval": "1d"}
    rule_id = await _rule(site, rule)
    with trio.fail_after(30):
        while not await trio.to_thread.run_sync(_rule_runs, site.database_url, rule_id):
            await trio.sleep(0.1)
    instance = add_instance(site.database_url, rule_id, host="a")
    async with connect(site.running.base_url, site.reader) as ws:
        await subscribe(ws, "alerts")
        async with site.client(site.admin) as client:
            changed = await client.put(f"/api/v1/alerts/{rule_id}", json={**rule, "enabled": False})
            assert changed.status_code == 200, changed.text
            item = await Feed(ws).next()
            # Changing it again (still disabled) closes nothing more: nothing is published.
            again = await client.put(
                f"/api/v1/alerts/{rule_id}", json={**rule, "enabled": False, "threshold": 0.6}
            )
            assert again.status_code == 200, again.text
        await send(ws, {"type": "ping", "id": "after"})
        assert await receive(ws) == {"type": "pong", "id": "after"}
    assert (item["instance_id"], item["rule_id"]) == (instance, rule_id)
    assert (item["from"], item["to"], item["reason"]) == ("firing", "resolved", "rule disabled")
    assert item["actor"].startswith("admin (")  # as the rule's history names it: the key


async def test_a_resolve_through_one_instance_reaches_a_subscriber_of_another(
    start_service: StartService, empty_database_url: str, tmp_path: Path, redis_url: str
) -> None:
    """Two instances sharing the database and Redis: the action crosses the bus."""
    apply_migrations(empty_database_url)
    tokens = await _keys(empty_database_url)
    shared = _settings(
        empty_database_url,
        tmp_path,
        redis_url=redis_url,
        redis_prefix=f"test:{RUN_ID}:{uuid.uuid4().hex[:8]}:",
    )
    first = await start_service(shared)
    second = await start_service(shared.replace(data_dir=tmp_path / "second"))
    one = Site(first, empty_database_url, tokens["admin"], tokens["read"], tokens["write"])
    rule_id = await _rule(one, {**DISABLED_RULE, "name": "shared"})
    instance = add_instance(empty_database_url, rule_id, host="a")
    async with connect(second.base_url, tokens["read"]) as ws:
        await subscribe(ws, "alerts")
        async with one.client(tokens["write"]) as client:
            resolved = await client.post(f"/api/v1/alerts/instances/{instance}/resolve")
            assert resolved.status_code == 200, resolved.text
        item = await Feed(ws).next()
    assert (item["instance_id"], item["to"], item["actor"]) == (instance, "resolved", "on call")


async def test_silences_and_inhibition_rules_changing_publish_muting_news(site: Site) -> None:
    """Which instances are muted changes with them, so the pages' muted marks must follow."""
    async with connect(site.running.base_url, site.reader) as ws:
        await subscribe(ws, "alerts")
        feed = Feed(ws)
        async with site.client(site.admin) as client:
            silence = await client.post(
                "/api/v1/silences",
                json={
                    "matchers": [{"name": "host", "value": "web-1"}],
                    "ends_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
                    "comment": "maintenance",
                },
            )
            assert silence.status_code == 201, silence.text
            silence_id = silence.json()["id"]
            made = await feed.next()
            assert {k: made[k] for k in ("kind", "what", "id", "change")} == {
                "kind": "muting",
                "what": "silence",
                "id": silence_id,
                "change": "created",
            }
            assert made["actor"] == silence.json()["created_by"]  # the key's name and prefix
            assert made["actor"].startswith("admin (")
            expired = await client.delete(f"/api/v1/silences/{silence_id}")
            assert expired.status_code == 200, expired.text
            assert (await feed.next())["change"] == "expired"
            # Refused (already expired): nothing is published.
            again = await client.delete(f"/api/v1/silences/{silence_id}")
            assert again.status_code == 409, again.text

            rule = {
                "name": "critical mutes warning",
                "source_matchers": [{"name": "severity", "value": "critical"}],
                "target_matchers": [{"name": "severity", "value": "warning"}],
                "equal": ["host"],
            }
            created = await client.post("/api/v1/inhibition-rules", json=rule)
            assert created.status_code == 201, created.text
            rule_id = created.json()["id"]
            changed = await client.put(
                f"/api/v1/inhibition-rules/{rule_id}", json={**rule, "equal": ["zone"]}
            )
            assert changed.status_code == 200, changed.text
            deleted = await client.delete(f"/api/v1/inhibition-rules/{rule_id}")
            assert deleted.status_code == 204, deleted.text
            changes = [await feed.next() for _ in range(3)]
    assert [(item["what"], item["id"], item["change"]) for item in changes] == [
        ("inhibition_rule", rule_id, "created"),
        ("inhibition_rule", rule_id, "changed"),
        ("inhibition_rule", rule_id, "deleted"),
    ]
