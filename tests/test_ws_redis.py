"""Live streaming across instances through Redis, and what a Redis outage does."""

from __future__ import annotations

import uuid

import httpx
import trio

import redis_server
from conftest import RUN_ID, MakeKey, StartService, Transport
from monitor.config import Settings
from ws_helpers import connect, items_until, receive, subscribe


def shared_redis(settings: Settings, redis_url: str) -> Settings:
    # Pub/sub ignores database numbers: a prefix of its own keeps this test's
    # channel apart from other runs on the same Redis.
    return settings.replace(
        redis_url=redis_url, redis_prefix=f"test:{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    )


async def test_an_event_ingested_on_one_instance_reaches_clients_of_both(
    start_service: StartService,
    settings: Settings,
    redis_url: str,
    make_key: MakeKey,
    transport: Transport,
) -> None:
    read_token = (await make_key("read"))[1]
    write_token = (await make_key("write"))[1]
    shared = shared_redis(settings, redis_url)
    first = await start_service(shared)
    second = await start_service(shared.replace(data_dir=settings.data_dir / "second"))
    async with (
        connect(first.base_url, read_token) as on_first,
        connect(second.base_url, read_token) as on_second,
        httpx.AsyncClient(base_url=first.base_url, timeout=10) as http,
    ):
        await subscribe(on_first, "events:realtime")
        await subscribe(on_second, "events:realtime", {"source": "a"})
        for service in (first, second):
            ready = (await http.get(f"{service.base_url}/health/ready")).json()
            assert ready["components"]["live_bus"] == {"status": "ok"}
        response = await http.post(
            "/api/v1/events/bulk",
            json=[{"type": "t", "source": s, "message": "m"} for s in "aba"],
            headers={"X-API-Key": write_token},
        )
        ids = response.json()["ids"]
        on_b = await items_until(on_second, "events:realtime", lambda items: len(items) == 2)
        on_a = await items_until(on_first, "events:realtime", lambda items: len(items) == 3)
    assert [item["id"] for item in on_b["events:realtime"]] == [ids[0], ids[2]]
    assert [item["id"] for item in on_a["events:realtime"]] == ids


async def test_without_redis_ingest_still_acknowledges_and_readiness_says_why(
    start_service: StartService, settings: Settings, make_key: MakeKey, transport: Transport
) -> None:
    write_token = (await make_key("write"))[1]
    read_token = (await make_key("read"))[1]
    # Nothing listens on port 1: the bus can never connect.
    service = await start_service(settings.replace(redis_url="redis://127.0.0.1:1"))
    async with (
        httpx.AsyncClient(base_url=service.base_url, timeout=10) as http,
        connect(service.base_url, read_token) as ws,
    ):
        await subscribe(ws, "events:realtime")  # subscriptions still work; data pauses
        for _ in range(3):
            response = await http.post(
                "/api/v1/events",
                json={"type": "t", "message": "m"},
                headers={"X-API-Key": write_token},
            )
            assert response.status_code == 201
        ready = await http.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["components"]["live_bus"]["status"] == "degraded"
        await ws.send_message('{"type":"ping"}')
        assert await receive(ws) == {"type": "pong"}


async def test_a_redis_outage_mid_stream_pauses_streaming_and_it_resumes_by_itself(
    start_service: StartService, settings: Settings, make_key: MakeKey, transport: Transport
) -> None:
    read_token = (await make_key("read"))[1]
    write_token = (await make_key("write"))[1]
    async with redis_server.dedicated_redis() as redis:
        service = await start_service(shared_redis(settings, redis.url))
        async with (
            connect(service.base_url, read_token) as ws,
            httpx.AsyncClient(base_url=service.base_url, timeout=10) as http,
        ):
            await subscribe(ws, "events:realtime")

            async def ingest(message: str) -> str:
                response = await http.post(
                    "/api/v1/events",
                    json={"type": "t", "message": message},
                    headers={"X-API-Key": write_token},
                )
                assert response.status_code == 201  # acknowledged whatever Redis does
                event_id: str = response.json()["id"]
                return event_id

            async def bus_status() -> str:
                ready = (await http.get("/health/ready")).json()
                status: str = ready["components"]["live_bus"]["status"]
                return status

            before = await ingest("before")
            got = await items_until(ws, "events:realtime", lambda items: len(items) == 1)
            assert [item["id"] for item in got["events:realtime"]] == [before]

            await redis.stop()
            with trio.fail_after(15):
                while await bus_status() != "degraded":
                    await trio.sleep(0.05)
            await ingest("during")  # stored; its live item may be lost with the outage

            await redis.start()
            with trio.fail_after(20):
                while await bus_status() != "ok":
                    await trio.sleep(0.05)
            after = await ingest("after")
            got = await items_until(
                ws, "events:realtime", lambda items: any(i["id"] == after for i in items)
            )
            assert after in [item["id"] for item in got["events:realtime"]]
