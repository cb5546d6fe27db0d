"""Live streaming over websockets: real trio-websocket clients against the real service."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed

from conftest import MakeKey, RunningService, StartService, Transport
from monitor.config import Settings
from monitor.logs import JsonFormatter
from monitor.messages import AlertTransitions
from ws_helpers import (
    barrier,
    connect,
    items_until,
    receive,
    receive_until,
    send,
    subscribe,
)


@pytest.fixture
async def read_token(make_key: MakeKey) -> str:
    return (await make_key("read"))[1]


@pytest.fixture
async def write_token(make_key: MakeKey) -> str:
    return (await make_key("write"))[1]


async def post(base_url: str, token: str, path: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        response = await http.post(path, json=body, headers={"X-API-Key": token})
    assert response.status_code == 201, response.text
    return response


async def closed_with(connection: Any) -> tuple[int, str]:
    with trio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
        while True:
            await connection.get_message()
    return closed.value.reason.code, closed.value.reason.reason


async def test_an_ingested_event_reaches_a_subscriber_as_the_rest_api_shows_it(
    running: RunningService, read_token: str, write_token: str, transport: Transport
) -> None:
    async with connect(running.base_url, read_token) as ws:
        await subscribe(ws, "events:realtime")
        created = await post(
            running.base_url,
            write_token,
            "/api/v1/events",
            {
                "type": "deploy",
                "source": "api",
                "level": "error",
                "message": "boom 42",
                "attributes": {"version": "1.2", "n": 3},
            },
        )
        message = await receive(ws)
    assert message["type"] == "data" and message["channel"] == "events:realtime"
    assert message["items"] == [created.json()]
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        stored = await http.get(
            f"/api/v1/events/{created.json()['id']}", headers={"X-API-Key": read_token}
        )
    assert message["items"] == [stored.json()]


async def test_a_bulk_request_arrives_batched_in_few_frames(
    running: RunningService, read_token: str, write_token: str, transport: Transport
) -> None:
    events = [{"type": "t", "source": "s", "message": f"m{i}"} for i in range(300)]
    async with connect(running.base_url, read_token) as ws:
        await subscribe(ws, "events:realtime")
        ids = (await post(running.base_url, write_token, "/api/v1/events/bulk", events)).json()[
            "ids"
        ]
        frames = 0
        received: list[str] = []
        while len(received) < len(ids):
            message = await receive(ws)
            frames += 1
            received.extend(item["id"] for item in message["items"])
    assert received == ids
    assert frames == 1


async def test_samples_stream_with_name_and_label_filters(
    running: RunningService, read_token: str, write_token: str, transport: Transport
) -> None:
    async with connect(running.base_url, read_token) as ws:
        await subscribe(
            ws,
            "metrics:realtime",
            {"name": "cpu", "labels": {"host": "a"}, "labels_not": {"env": "test"}},
            name="cpu-a",
        )
        await subscribe(ws, "metrics:realtime", name="all")
        samples = [
            {"name": "cpu", "value": 1.0, "labels": {"host": "a"}},
            {"name": "cpu", "value": 2.0, "labels": {"host": "b"}},
            {"name": "cpu", "value": 3.0, "labels": {"host": "a", "env": "test"}},
            {"name": "mem", "value": 4.0, "labels": {"host": "a"}},
            {"name": "cpu", "value": 5.0, "labels": {"host": "a", "env": "prod"}},
        ]
        await post(running.base_url, write_token, "/api/v1/metrics/bulk", samples)
        items = await items_until(ws, "all", lambda got: len(got) == 5)
        items_tail = await barrier(ws)
    for message in items_tail:
        items.setdefault(message["subscription"], []).extend(message["items"])
    assert sorted(item["value"] for item in items["cpu-a"]) == [1.0, 5.0]
    first = next(item for item in items["cpu-a"] if item["value"] == 1.0)
    assert set(first) == {"series_id", "name", "source", "labels", "time", "value"}
    assert first["labels"] == {"host": "a"} and first["name"] == "cpu"


async def test_the_first_message_can_authenticate(
    running: RunningService, read_token: str, write_token: str, transport: Transport
) -> None:
    async with connect(running.base_url) as ws:
        await send(ws, {"type": "auth", "apiKey": read_token})
        await subscribe(ws, "events:realtime")
        created = await post(
            running.base_url, write_token, "/api/v1/events", {"type": "t", "message": "x"}
        )
        assert (await receive(ws))["items"][0]["id"] == created.json()["id"]


async def test_the_key_in_the_url_works_and_is_never_logged(
    running: RunningService, read_token: str, caplog: pytest.LogCaptureFixture, transport: Transport
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.access")
    async with connect(running.base_url, path=f"/ws/authenticated?apiKey={read_token}") as ws:
        await subscribe(ws, "alerts")
    with trio.fail_after(10):
        await running.running.connections.wait_empty()  # its line is logged on release
    async with connect(running.base_url, path="/ws/authenticated?apiKey=not-a-key&x=1") as ws:
        # a refusal is logged before the close is sent
        assert await closed_with(ws) == (1008, "invalid API key")
    lines = [JsonFormatter().format(record) for record in caplog.records]
    websocket_lines = [json.loads(line) for line in lines if '"msg": "websocket"' in line]
    assert {line["path"] for line in websocket_lines} == {
        "/ws/authenticated?apiKey=%5Bredacted%5D",
        "/ws/authenticated?apiKey=%5Bredacted%5D&x=1",
    }
    assert not [line for line in lines if read_token in line or "not-a-key" in line]
    assert not [r for r in caplog.records if read_token in str(r.__dict__)]


@pytest.mark.parametrize(
    ("path", "first", "reason"),
    [
        ("/ws", {"type": "subscribe", "channel": "alerts"}, "the first message must be"),
        ("/ws", {"type": "auth", "apiKey": "mon_nope"}, "invalid API key"),
        ("/ws/authenticated", {"type": "auth"}, "the first message must be"),
    ],
)
async def test_connections_without_a_valid_key_are_closed_with_1008(
    running: RunningService, path: str, first: dict[str, Any], reason: str
) -> None:
    async with connect(running.base_url, path=path) as ws:
        await send(ws, first)
        code, text = await closed_with(ws)
    assert code == 1008 and text.startswith(reason)


async def test_a_bad_header_key_is_closed_with_1008(running: RunningService) -> None:
    async with connect(running.base_url, "mon_abcdefgh_" + "x" * 40) as ws:
        assert await closed_with(ws) == (1008, "invalid API key")


async def test_bad_messages_get_an_error_and_the_connection_stays_up(
    running: RunningService, read_token: str, transport: Transport
) -> None:
    bad: list[tuple[str | dict[str, Any], str]] = [
        ("not json", "a message must be a JSON object"),
        ({"no": "type"}, 'a message must be a JSON object with a "type"'),
        ({"type": "dance"}, "unknown message type 'dance'"),
        ({"type": "subscribe"}, "subscribe needs a channel"),
        ({"type": "subscribe", "channel": "nope"}, "unknown channel 'nope'"),
        (
            {"type": "subscribe", "channel": "events:realtime", "filter": {"min_level": "loud"}},
            "filter.min_level must be one of",
        ),
        (
            {"type": "subscribe", "channel": "events:realtime", "filter": {"colour": "red"}},
            "unknown filter field 'colour'",
        ),
        (
            {"type": "subscribe", "channel": "metrics:realtime", "filter": {"labels": [1]}},
            "filter.labels must be an object",
        ),
        ({"type": "subscribe", "channel": "stats", "filter": {"a": 1}}, "the stats channel"),
        ({"type": "unsubscribe", "subscription": "never"}, "no such subscription"),
        ({"type": "auth", "apiKey": read_token}, "already authenticated"),
    ]
    async with connect(running.base_url, read_token) as ws:
        for message, reason in bad:
            await ws.send_message(message if isinstance(message, str) else json.dumps(message))
            answer = await receive(ws)
            assert answer["type"] == "error" and answer["reason"].startswith(reason), answer
        await send(ws, {"type": "ping", "id": 7})
        assert await receive(ws) == {"type": "pong", "id": 7}


async def test_unsubscribe_stops_delivery(
    running: RunningService, read_token: str, write_token: str, transport: Transport
) -> None:
    async with connect(running.base_url, read_token) as ws:
        await subscribe(ws, "events:realtime", name="a")
        await subscribe(ws, "events:realtime", {"type": "x"}, name="b")
        await send(ws, {"type": "unsubscribe", "subscription": "a"})
        assert await receive(ws) == {"type": "unsubscribed", "subscription": "a"}
        await post(running.base_url, write_token, "/api/v1/events", {"type": "x", "message": "m"})
        got = await items_until(ws, "b", lambda items: len(items) == 1)
        tail = await barrier(ws)
    assert set(got) == {"b"} and tail == []


async def test_alert_transitions_published_on_the_hook_reach_alerts_subscribers(
    running: RunningService, read_token: str, transport: Transport
) -> None:
    transition = {"rule_id": 3, "state": "firing", "labels": {"host": "a"}}
    async with connect(running.base_url, read_token) as ws:
        await subscribe(ws, "alerts")
        running.running.committed.publish(AlertTransitions([transition]))
        message = await receive(ws)
    assert message == {
        "type": "data",
        "channel": "alerts",
        "subscription": "alerts",
        "items": [transition],
    }


async def test_stats_and_heartbeats_are_pushed(
    start_service: StartService, settings: Settings, read_token: str, transport: Transport
) -> None:
    service = await start_service(
        settings.replace(
            ws_stats_interval=timedelta(seconds=0.1), ws_heartbeat_interval=timedelta(seconds=0.1)
        )
    )
    async with connect(service.base_url, read_token) as ws:
        await subscribe(ws, "stats")
        # Rates need two readings, so they appear from the second push on.
        stats = await receive_until(ws, lambda m: "events_per_s" in m["items"][0])
        with trio.fail_after(5):
            heartbeat = json.loads(await ws.get_message())
            while heartbeat["type"] != "heartbeat":
                heartbeat = json.loads(await ws.get_message())
    figures = stats[-1]["items"][0]
    assert figures["connections"] == 1 and figures["subscriptions"] == 1
    assert figures["events_per_s"] == 0 and figures["samples_per_s"] == 0
    assert figures["frames_dropped"] == 0
    assert "time" in heartbeat


async def test_limits_on_subscriptions_and_connections_per_key(
    start_service: StartService, settings: Settings, read_token: str, transport: Transport
) -> None:
    service = await start_service(
        settings.replace(ws_max_subscriptions=2, ws_max_connections_per_key=1)
    )
    async with connect(service.base_url, read_token) as ws:
        await subscribe(ws, "events:realtime", name="one")
        await subscribe(ws, "events:realtime", name="two")
        await subscribe(ws, "events:realtime", {"type": "x"}, name="two")  # replacing is fine
        await send(ws, {"type": "subscribe", "channel": "alerts"})
        answer = await receive(ws)
        assert answer["type"] == "error" and "at most 2 subscriptions" in answer["reason"]
        async with connect(service.base_url, read_token) as second:
            code, reason = await closed_with(second)
        assert code == 1008 and "1 websocket connections" in reason
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}
    async with connect(service.base_url, read_token) as third:  # the slot was freed
        await subscribe(third, "alerts")


async def test_a_graceful_stop_closes_websockets_with_1001(
    start_service: StartService, settings: Settings, read_token: str, transport: Transport
) -> None:
    service = await start_service(settings)
    async with connect(service.base_url, read_token) as ws:
        await subscribe(ws, "events:realtime")
        service.stop.set()
        code, _ = await closed_with(ws)
    assert code == 1001
    with trio.fail_after(4):  # well inside the 5 s shutdown timeout: nothing waited for it
        await service.finished.wait()


async def test_stats_shows_realtime_figures(
    running: RunningService, client: httpx.AsyncClient, read_token: str, transport: Transport
) -> None:
    async with connect(running.base_url, read_token) as ws:
        await subscribe(ws, "events:realtime")
        response = await client.get("/stats", headers={"X-API-Key": read_token})
    realtime = response.json()["realtime"]
    assert realtime["connections"] == 1 and realtime["subscriptions"] == 1
    assert realtime["bus"] == "memory"
