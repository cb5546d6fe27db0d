"""The delivery log through HTTP, fed by the service's own sender: retries visible as
attempts, filters, keyset pages, one delivery with its message, hostile parameters and
roles; retention of finished deliveries; the notifier's figures in /stats and its
readiness."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio

from conftest import MakeKey, StartService, make_settings
from monitor import wiring
from monitor.actors import maintenance
from monitor.storage.gateway import Gateway
from notification_helpers import (
    age_deliveries,
    finish_queued,
    finished,
    make_channel,
    queue,
    wait_until,
    webhook_document,
)
from receivers import Received, Reply, start_receiver

LOG = "/api/v1/notifications"


@pytest.fixture(autouse=True)
def nothing_left_queued(database_url: str) -> Any:
    finish_queued(database_url)
    yield
    finish_queued(database_url)


@pytest.fixture
async def service_url(start_service: StartService, database_url: str, tmp_path: Path) -> str:
    settings = make_settings(
        database_url,
        tmp_path,
        notification_poll=timedelta(milliseconds=50),
        notification_retry_initial=timedelta(milliseconds=20),
        notification_retry_cap=timedelta(milliseconds=100),
    )
    return (await start_service(settings)).base_url


@pytest.fixture
async def reader(make_key: MakeKey) -> str:
    return (await make_key("read"))[1]


async def get(url: str, path: str, token: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.get(path, params=params, headers={"X-API-Key": token})


async def test_a_receiver_failing_three_times_gets_one_delivery_and_four_attempts_show(
    service_url: str, reader: str, gateway: Gateway, database_url: str, nursery: trio.Nursery
) -> None:
    answers = iter([500, 503, 429, 200])

    async def flaky(_: Received) -> Reply:
        return Reply(next(answers), b"answer")

    receiver = await start_receiver(nursery, flaky)
    channel = await make_channel(gateway, webhook_document(receiver.url))
    [delivery] = await queue(gateway, channel, host="web-1")
    await wait_until(database_url, [delivery], finished)
    keys = [request.headers["idempotency-key"] for request in receiver.requests]
    assert len(keys) == 4 and len(set(keys)) == 1, "four attempts, one notification"

    one = await get(service_url, f"{LOG}/{delivery}", reader)
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["status"] == "delivered" and body["attempts"] == 4
    assert body["channel_id"] == channel and body["channel_name"].startswith("sender test")
    assert body["group_labels"] == {"host": "web-1"} and body["alert_count"] == 1
    assert body["message"]["alerts"][0]["labels"]["host"] == "web-1"
    assert body["finished_at"] is not None and body["next_attempt_at"] is None
    log = body["attempt_log"]
    assert [(a["attempt"], a["outcome"], a["status_code"]) for a in log] == [
        (1, "retrying", 500),
        (2, "retrying", 503),
        (3, "retrying", 429),
        (4, "delivered", 200),
    ]
    assert all(a["response"] == "answer" and a["duration_ms"] >= 0 for a in log)
    assert log[0]["error_kind"] == "status" and "500" in log[0]["error"]

    listed = await get(service_url, LOG, reader, channel_id=str(channel))
    [item] = listed.json()["deliveries"]
    assert item["id"] == delivery and len(item["attempt_log"]) == 4 and "message" not in item

    # The sender counts an attempt just after its commit: wait for it, boundedly.
    with trio.fail_after(5):
        while True:
            notifier = (await get(service_url, "/stats", reader)).json()["notifier"]
            if notifier["in_flight"] == 0 and notifier["delivered"] >= 1:
                break
            await trio.sleep(0.02)
    assert notifier["retried"] >= 3 and notifier["queued"] is not None


async def test_filters_and_pages(
    service_url: str, reader: str, gateway: Gateway, database_url: str, nursery: trio.Nursery
) -> None:
    async def refuse(_: Received) -> Reply:
        return Reply(404)

    good = await start_receiver(nursery)
    bad = await start_receiver(nursery, refuse)
    good_channel = await make_channel(gateway, webhook_document(good.url))
    bad_channel = await make_channel(gateway, webhook_document(bad.url))
    sent = await queue(gateway, good_channel, 5)
    refused = await queue(gateway, bad_channel, 2)
    await wait_until(database_url, sent + refused, finished)
    both = f"{good_channel},{bad_channel}"

    failed = (await get(service_url, LOG, reader, channel_id=both, status="failed")).json()
    assert [d["id"] for d in failed["deliveries"]] == sorted(refused, reverse=True)
    assert all("refused for good" in d["last_error"] for d in failed["deliveries"])

    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"channel_id": both, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await get(service_url, LOG, reader, **params)).json()
        seen += [d["id"] for d in page["deliveries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(sent + refused, reverse=True), "newest first, each once"

    age_deliveries(database_url, sent[:2], timedelta(days=2))
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    recent = (await get(service_url, LOG, reader, channel_id=both, **{"from": since})).json()
    assert sorted(d["id"] for d in recent["deliveries"]) == sorted(sent[2:] + refused)
    older = (await get(service_url, LOG, reader, channel_id=both, to=since)).json()
    assert sorted(d["id"] for d in older["deliveries"]) == sorted(sent[:2])


async def test_filters_by_the_rules_and_instances_told_of(
    service_url: str, reader: str, gateway: Gateway
) -> None:
    # Ids far from any other test's rules and instances (the database is shared).
    rule, other_rule, instance = 2**62 + 7, 2**62 + 8, 2**62 + 70
    channel = await make_channel(gateway, webhook_document("http://127.0.0.1:9/"))
    both = await queue(gateway, channel, told=((rule, instance), (rule, instance + 1)))
    other = await queue(gateway, channel, told=((other_rule, instance + 10),))
    await queue(gateway, channel)  # an alert with neither (a channel's test message)

    async def ids(**params: Any) -> list[int]:
        response = await get(service_url, LOG, reader, channel_id=channel, **params)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["deliveries"]]

    assert await ids(rule_id=rule) == both
    assert await ids(instance_id=instance + 1) == both
    assert await ids(instance_id=f"{instance + 1},{instance + 10}") == other + both
    assert await ids(rule_id=rule, instance_id=instance + 10) == [], "filters are ANDed"
    assert await ids(rule_id=2**62 + 9) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"rule_id": "abc"}, "rule_id"),
        ({"rule_id": "1.5"}, "rule_id"),
        ({"instance_id": "0"}, "instance_id"),
        ({"instance_id": "-3"}, "instance_id"),
        ({"instance_id": str(2**64)}, "instance_id"),
        ({"instance_id": ",".join(["1"] * 101)}, "instance_id"),
        ({"rule_id": "1' or '1'='1"}, "rule_id"),
        ({"channel_id": "abc"}, "channel_id"),
        ({"channel_id": "0"}, "channel_id"),
        ({"channel_id": str(2**70)}, "channel_id"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"sort": "id"}, "sort"),
        ({"status": "x" * 5000}, "status"),
    ],
)
async def test_bad_parameters_are_named_in_a_400(
    service_url: str, reader: str, params: dict[str, str], field: str
) -> None:
    response = await get(service_url, LOG, reader, **params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in {error["field"] for error in response.json()["errors"]}


async def test_unknown_ids_keys_and_roles(service_url: str, reader: str, make_key: MakeKey) -> None:
    for path in (f"{LOG}/{2**63 - 1}", f"{LOG}/{2**64}"):
        response = await get(service_url, path, reader)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert (await get(service_url, f"{LOG}/-1", reader)).status_code == 404
    async with httpx.AsyncClient(base_url=service_url, timeout=10) as client:
        assert (await client.get(LOG)).status_code == 401
    _, ingest = await make_key("ingest")
    assert (await get(service_url, LOG, ingest)).status_code == 403
    assert (await get(service_url, f"{LOG}/1", ingest)).status_code == 403


async def test_retention_deletes_finished_deliveries_with_their_attempts_never_queued_ones(
    gateway: Gateway, database_url: str, nursery: trio.Nursery, tmp_path: Path
) -> None:
    receiver = await start_receiver(nursery)
    channel = await make_channel(gateway, webhook_document(receiver.url))
    old_done, old_failed, recent_done, old_queued = await queue(gateway, channel, 4)
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "update notification_deliveries set status = 'delivered', finished_at = now(), "
            "attempts = 1 where id = any(%s)",
            ([old_done, recent_done],),
        )
        connection.execute(
            "update notification_deliveries set status = 'failed', finished_at = now() "
            "where id = %s",
            (old_failed,),
        )
        connection.execute(
            "insert into notification_attempts (delivery_id, attempt, started_at, "
            "duration_ms, outcome, sent_by) values (%s, 1, now(), 1, 'delivered', 't')",
            (old_done,),
        )
    age_deliveries(database_url, [old_done, old_failed, old_queued], timedelta(days=31))
    # The table as the service wires it: MONITOR_NOTIFICATION_LOG_RETENTION's default, 30 days.
    [spec] = wiring.maintenance_area(make_settings(database_url, tmp_path), gateway).actors
    assert isinstance(spec.main, functools.partial)
    [table] = [t for t in spec.main.keywords["pruned"] if t.name == "notification_deliveries"]
    assert table.retention == timedelta(days=30)
    await maintenance.prune_once(table, datetime.now(UTC))
    with psycopg.connect(database_url) as connection:
        left = {
            row[0]
            for row in connection.execute(
                "select id from notification_deliveries where id = any(%s)",
                ([old_done, old_failed, recent_done, old_queued],),
            )
        }
        attempts = connection.execute(
            "select count(*) from notification_attempts where delivery_id = %s", (old_done,)
        ).fetchone()
    assert left == {recent_done, old_queued}
    assert attempts == (0,)


async def test_readiness_shows_the_notifier_degraded_when_due_work_waits_too_long(
    start_service: StartService,
    database_url: str,
    tmp_path: Path,
    gateway: Gateway,
    nursery: trio.Nursery,
) -> None:
    # A poll of a minute: the delivery queued after start waits for this test.
    running = await start_service(
        make_settings(database_url, tmp_path, notification_poll=timedelta(minutes=1))
    )
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as client:
        ready = (await client.get("/health/ready")).json()
        assert ready["components"]["notifier"] == {"status": "ok"}
        receiver = await start_receiver(nursery)
        channel = await make_channel(gateway, webhook_document(receiver.url))
        [delivery] = await queue(gateway, channel)
        with psycopg.connect(database_url) as connection:
            connection.execute(
                "update notification_deliveries set next_attempt_at = now() - interval '20 min' "
                "where id = %s",
                (delivery,),
            )
        response = await client.get("/health/ready")
    assert response.status_code == 200
    notifier = response.json()["components"]["notifier"]
    assert notifier["status"] == "degraded" and "waited" in notifier["detail"]


async def test_the_openapi_document_describes_the_log(service_url: str) -> None:
    async with httpx.AsyncClient(base_url=service_url, timeout=10) as client:
        spec = (await client.get("/openapi.json")).json()
    listing = spec["paths"][LOG]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "status",
        "channel_id",
        "rule_id",
        "instance_id",
        "from",
        "to",
        "limit",
        "cursor",
    }
    assert listing["security"]
    one = spec["paths"][f"{LOG}/{{delivery_id}}"]["get"]
    assert one["security"] and "200" in one["responses"]
