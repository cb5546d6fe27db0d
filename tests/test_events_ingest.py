"""Event ingest over HTTP: acknowledged after commit, all-or-nothing, limits, backpressure."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import trio
import trio.testing

from conftest import MakeKey, StartService
from events_helpers import ingest, tag
from monitor.config import Settings

PROBLEM = "application/problem+json"


def count_events(database_url: str, source: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "select count(*) from events where source = %s", (source,)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_one_event_is_stored_and_returned(
    client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    _, token = await make_key("write")
    source = tag()
    sent = {
        "type": "deploy",
        "level": "warning",
        "source": source,
        "message": "rolled out v1.2.3",
        "time": "2026-11-27T10:00:00.123456+01:00",
        "attributes": {"version": "1.2.3", "canary": True, "replicas": 3, "tags": ["a", "b"]},
        "trace_id": "abc123",
    }
    response = await client.post("/api/v1/events", headers={"X-API-Key": token}, json=sent)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["time"] == "2026-11-27T09:00:00.123456Z"
    fetched = (
        await client.get(f"/api/v1/events/{created['id']}", headers={"X-API-Key": token})
    ).json()
    assert fetched == created
    for field in ("type", "level", "source", "message", "attributes", "trace_id"):
        assert fetched[field] == sent[field]


async def test_defaults(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    _, token = await make_key("write")
    before = datetime.now(UTC)
    created = (
        await client.post("/api/v1/events", headers={"X-API-Key": token}, json={"type": "ping"})
    ).json()
    assert created["level"] == "info" and created["source"] == "" and created["attributes"] == {}
    assert datetime.fromisoformat(created["time"]) >= before - timedelta(seconds=1)


@pytest.mark.parametrize("envelope", [False, True])
async def test_bulk_returns_ids_in_input_order(
    client: httpx.AsyncClient, make_key: MakeKey, envelope: bool
) -> None:
    _, token = await make_key("write")
    source = tag()
    events = [{"type": "job", "source": source, "message": f"job {i}"} for i in range(50)]
    body: Any = {"events": events} if envelope else events
    response = await client.post("/api/v1/events/bulk", headers={"X-API-Key": token}, json=body)
    assert response.status_code == 201
    result = response.json()
    assert result["accepted"] == 50
    for index in (0, 17, 49):
        got = await client.get(
            f"/api/v1/events/{result['ids'][index]}", headers={"X-API-Key": token}
        )
        assert got.json()["message"] == f"job {index}"


async def test_a_bulk_with_bad_items_names_each_and_stores_nothing(
    client: httpx.AsyncClient, make_key: MakeKey, database_url: str
) -> None:
    _, token = await make_key("write")
    source = tag()
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = [{"type": "ok", "source": source} for _ in range(6)]
    events[1]["level"] = "fatal"
    events[2]["time"] = (now + timedelta(days=1)).isoformat()
    events[3]["time"] = (now - timedelta(days=400)).isoformat()
    events[4]["message"] = "nul \u0000 inside"
    events[5]["surprise"] = 1
    response = await client.post("/api/v1/events/bulk", headers={"X-API-Key": token}, json=events)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    errors = response.json()["errors"]
    assert {(e["index"], e["field"]) for e in errors} >= {
        (1, "level"),
        (2, "time"),
        (3, "time"),
        (4, "message"),
    }
    assert any(e["index"] == 5 for e in errors)
    assert 0 not in {e["index"] for e in errors}
    assert count_events(database_url, source) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[1, 2]",
        b'{"type": "x"}',
        b'{"events": "no"}',
        b'{"events": [], "extra": 1}',
        b"null",
    ],
)
async def test_malformed_bulk_bodies_are_400(
    client: httpx.AsyncClient, admin_token: str, body: bytes
) -> None:
    response = await client.post(
        "/api/v1/events/bulk",
        headers={"X-API-Key": admin_token, "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_reading_keys_cannot_ingest(client: httpx.AsyncClient, make_key: MakeKey) -> None:
    _, token = await make_key("read")
    response = await client.post("/api/v1/events", headers={"X-API-Key": token}, json={"type": "x"})
    assert response.status_code == 403


async def test_too_many_items_is_413(
    start_service: StartService, settings: Settings, admin_token: str
) -> None:
    service = await start_service(settings.replace(max_batch_items=5))
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        response = await client.post(
            "/api/v1/events/bulk", headers={"X-API-Key": admin_token}, json=[{"type": "x"}] * 6
        )
    assert response.status_code == 413
    assert "5" in response.json()["detail"]


async def test_gzip_bodies_are_accepted_and_capped(
    start_service: StartService, settings: Settings, admin_token: str, database_url: str
) -> None:
    service = await start_service(settings.replace(max_decompressed_bytes=64 * 1024))
    source = tag()
    headers = {
        "X-API-Key": admin_token,
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        body = gzip.compress(json.dumps([{"type": "gz", "source": source}] * 20).encode())
        assert (
            await client.post("/api/v1/events/bulk", headers=headers, content=body)
        ).status_code == 201
        # A small body that inflates past the cap (a "zip bomb") is refused.
        bomb = gzip.compress(b"[" + b" " * (1024 * 1024) + b"]")
        assert len(bomb) < 4096
        refused = await client.post("/api/v1/events/bulk", headers=headers, content=bomb)
        assert refused.status_code == 413
        broken = await client.post("/api/v1/events/bulk", headers=headers, content=b"not gzip")
        assert broken.status_code == 400
        other = await client.post(
            "/api/v1/events/bulk", headers={**headers, "Content-Encoding": "br"}, content=b"[]"
        )
        assert other.status_code == 415
    assert count_events(database_url, source) == 20


async def test_concurrent_bulk_requests_every_acknowledged_id_is_stored(
    client: httpx.AsyncClient, admin_token: str, database_url: str
) -> None:
    source = tag()
    acknowledged: list[str] = []

    async def push(client_number: int) -> None:
        for batch in range(5):
            events = [
                {"type": "load", "source": source, "message": f"{client_number}/{batch}/{i}"}
                for i in range(40)
            ]
            acknowledged.extend(await ingest(client, admin_token, events))

    async with trio.open_nursery() as nursery:
        for number in range(10):
            nursery.start_soon(push, number)
    assert len(acknowledged) == 10 * 5 * 40
    with psycopg.connect(database_url) as connection:
        stored = {
            str(row[0])
            for row in connection.execute("select id from events where source = %s", (source,))
        }
    assert stored == set(acknowledged)


def hold_events_lock(database_url: str) -> psycopg.Connection[Any]:
    """A transaction that blocks every insert into events until it ends."""
    connection = psycopg.connect(database_url)
    connection.execute("lock table events in access exclusive mode")
    return connection


async def wait_for_blocked_insert(database_url: str) -> None:
    """Return once the ingest actor's COPY into events waits for a lock.

    Only that statement: the service's other actors may read events too, and
    wait on the same lock before the request under test has even connected."""
    with trio.fail_after(10):
        while True:
            with psycopg.connect(database_url) as connection:
                row = connection.execute(
                    "select count(*) from pg_locks l join pg_stat_activity a on a.pid = l.pid "
                    "where not l.granted and a.datname = current_database() "
                    "and a.query ilike 'copy events %'"
                ).fetchone()
            if row and row[0]:
                return
            await trio.sleep(0.05)


async def test_a_full_ingest_queue_answers_503_quickly(
    start_service: StartService, settings: Settings, admin_token: str, empty_database_url: str
) -> None:
    service = await start_service(
        settings.replace(database_url=empty_database_url, ingest_queue_size=1, ingest_workers=1)
    )
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        token = await _admin_token_for(empty_database_url)
        lock = hold_events_lock(empty_database_url)
        statuses: list[int] = []
        try:
            async with trio.open_nursery() as nursery:

                async def post() -> None:
                    response = await client.post(
                        "/api/v1/events", headers={"X-API-Key": token}, json={"type": "q"}
                    )
                    statuses.append(response.status_code)

                nursery.start_soon(post)  # taken by the worker, which blocks on the lock
                await wait_for_blocked_insert(empty_database_url)
                nursery.start_soon(post)  # waits in the queue (size 1)
                await trio.testing.wait_all_tasks_blocked(0.05)
                with trio.fail_after(2):
                    full = await client.post(
                        "/api/v1/events", headers={"X-API-Key": token}, json={"type": "q"}
                    )
                assert full.status_code == 503
                assert full.headers["retry-after"] == "1"
                lock.rollback()
        finally:
            lock.close()
    assert sorted(statuses) == [201, 201]


async def _admin_token_for(database_url: str) -> str:
    from monitor.domain.audit import Actor, Attribution
    from monitor.domain.keys import Role
    from monitor.storage import keys as key_store
    from monitor.storage.gateway import open_gateway

    async with open_gateway(
        database_url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        _, token = await key_store.create_key(
            gateway,
            name="t",
            role=Role.ADMIN,
            rate_limit=None,
            expires_at=None,
            by=Attribution(Actor.system("tests")),
        )
    return token


async def test_a_client_that_disconnects_still_gets_its_events_committed(
    client: httpx.AsyncClient, admin_token: str, database_url: str, running: Any
) -> None:
    source = tag()
    lock = hold_events_lock(database_url)
    try:
        with trio.move_on_after(10):
            async with trio.open_nursery() as nursery:

                async def doomed_request() -> None:
                    await ingest(client, admin_token, [{"type": "gone", "source": source}])

                nursery.start_soon(doomed_request)
                await wait_for_blocked_insert(database_url)
                nursery.cancel_scope.cancel()  # the client hangs up mid-request
        lock.rollback()
    finally:
        lock.close()
    # The service is unharmed, and the abandoned request's event is stored.
    await ingest(client, admin_token, [{"type": "after", "source": source}])
    assert count_events(database_url, source) == 2


async def test_database_outage_gives_503_not_a_hang(
    start_service: StartService, settings: Settings, empty_database_url: str
) -> None:
    from conftest import set_connections_allowed

    service = await start_service(
        settings.replace(database_url=empty_database_url, key_cache_ttl=timedelta(minutes=1))
    )
    token = await _admin_token_for(empty_database_url)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30) as client:
        await ingest(client, token, [{"type": "before"}])  # warms the key cache
        set_connections_allowed(empty_database_url, allowed=False)
        try:
            with trio.fail_after(10):
                response = await client.post(
                    "/api/v1/events", headers={"X-API-Key": token}, json={"type": "during"}
                )
            assert response.status_code == 503
            assert int(response.headers["retry-after"]) >= 1
        finally:
            set_connections_allowed(empty_database_url, allowed=True)
        with trio.fail_after(20):
            while True:
                again = await client.post(
                    "/api/v1/events", headers={"X-API-Key": token}, json={"type": "after"}
                )
                if again.status_code == 201:
                    break
                assert again.status_code == 503
                await trio.sleep(0.2)


async def test_committed_events_reach_the_publish_hook(
    client: httpx.AsyncClient, admin_token: str, running: Any
) -> None:
    listener = running.running.committed.listen(100)
    source = tag()
    ids = await ingest(client, admin_token, [{"type": "pub", "source": source}] * 3)
    with trio.fail_after(5):
        batch = await listener.receive()
    assert [str(row.id) for row in batch.rows] == ids


@pytest.mark.slow
async def test_sigterm_during_a_bulk_request_still_answers_201_with_rows_stored(
    empty_database_url: str,
) -> None:
    import signal

    from processes import clean_environment, serving

    env = clean_environment(DATABASE_URL=empty_database_url)
    source = tag()
    async with serving(env=env) as serve:
        token = await _admin_token_for(empty_database_url)
        lock = hold_events_lock(empty_database_url)
        result: list[httpx.Response] = []
        try:
            async with (
                httpx.AsyncClient(base_url=serve.base_url, timeout=30) as client,
                trio.open_nursery() as nursery,
            ):

                async def bulk() -> None:
                    events = [{"type": "drain", "source": source}] * 500
                    result.append(
                        await client.post(
                            "/api/v1/events/bulk", headers={"X-API-Key": token}, json=events
                        )
                    )

                nursery.start_soon(bulk)
                await wait_for_blocked_insert(empty_database_url)
                serve.signal(signal.SIGTERM)
                with trio.fail_after(10):  # the service has begun to stop...
                    while not any(line.get("msg") == "stopping" for line in serve.log_lines()):
                        await trio.sleep(0.02)
                assert not result  # ...while the request still waits for its commit
                lock.rollback()
        finally:
            lock.close()
        assert await serve.wait() == 0
    assert result[0].status_code == 201, result[0].text
    assert result[0].json()["accepted"] == 500
    assert count_events(empty_database_url, source) == 500


async def test_concatenated_gzip_members_are_all_read(
    client: httpx.AsyncClient, admin_token: str, database_url: str
) -> None:
    source = tag()
    text = json.dumps([{"type": "gz", "source": source}] * 4).encode()
    body = gzip.compress(text[:10]) + gzip.compress(text[10:])
    response = await client.post(
        "/api/v1/events/bulk",
        headers={
            "X-API-Key": admin_token,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        content=body,
    )
    assert response.status_code == 201, response.text
    assert count_events(database_url, source) == 4
    trailing = gzip.compress(text) + b"garbage"
    refused = await client.post(
        "/api/v1/events/bulk",
        headers={
            "X-API-Key": admin_token,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
        content=trailing,
    )
    assert refused.status_code == 400


async def test_a_large_bulk_is_decoded_off_the_event_loop_and_stored(
    client: httpx.AsyncClient, admin_token: str, database_url: str
) -> None:
    source = tag()
    events = [{"type": "big", "source": source, "message": "x" * 200} for _ in range(3000)]
    ids = await ingest(client, admin_token, events)
    assert len(ids) == 3000
    assert count_events(database_url, source) == 3000


def _subclasses(cls: type) -> int:
    return sum(1 + _subclasses(sub) for sub in cls.__subclasses__())


async def test_ingest_makes_no_new_adapter_classes_per_commit(
    client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    """Each commit once built a new JSON dumper class (~7 KB a request, never freed)."""
    from psycopg.types.json import JsonbBinaryDumper

    token = (await make_key("write"))[1]
    headers = {"X-API-Key": token}
    event = {"type": "t", "message": "m", "attributes": {"a": 1}}
    assert (await client.post("/api/v1/events", json=event, headers=headers)).status_code == 201
    before = _subclasses(JsonbBinaryDumper)
    for _ in range(20):
        response = await client.post("/api/v1/events", json=event, headers=headers)
        assert response.status_code == 201
    assert _subclasses(JsonbBinaryDumper) == before
