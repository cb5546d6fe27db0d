"""A client that stops reading never holds back anyone else, and is closed with 1013."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed

from conftest import MakeKey, StartService, Transport
from monitor.config import Settings
from ws_helpers import connect, connect_with_small_buffer, receive, subscribe

QUEUE = 8
BATCHES = 40
PER_BATCH = 50  # 200 KB: one frame's worth
MESSAGE = (
    "x" * 4000
)  # 40 batches of 50 events of 4 KB: far more than the stalled socket's buffers hold


async def test_a_client_that_stops_reading_does_not_hold_back_a_fast_one(
    start_service: StartService, settings: Settings, make_key: MakeKey, transport: Transport
) -> None:
    read_token = (await make_key("read"))[1]
    write_token = (await make_key("write"))[1]
    service = await start_service(
        settings.replace(
            ws_queue_size=QUEUE,
            ws_stall_timeout=timedelta(seconds=1),
            ws_coalesce_window=timedelta(milliseconds=10),
            ws_stats_interval=timedelta(milliseconds=200),
        )
    )
    async with (
        connect_with_small_buffer(service.base_url, read_token) as slow,
        connect(service.base_url, read_token) as fast,
        httpx.AsyncClient(base_url=service.base_url, timeout=30) as http,
    ):
        await subscribe(slow, "events:realtime")
        await subscribe(fast, "events:realtime")
        # From here on the slow client reads nothing until the end.
        ids: list[str] = []
        received: list[str] = []
        posted = trio.Event()

        async def read_fast() -> None:
            while not posted.is_set() or len(received) < len(ids):
                message = await receive(fast)
                received.extend(item["id"] for item in message["items"])

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_fast)
                for batch in range(BATCHES):
                    events = [
                        {"type": "bulk", "message": f"{batch}:{n} {MESSAGE}"}
                        for n in range(PER_BATCH)
                    ]
                    response = await http.post(
                        "/api/v1/events/bulk", json=events, headers={"X-API-Key": write_token}
                    )
                    assert response.status_code == 201
                    ids.extend(response.json()["ids"])
                posted.set()
        assert received == ids  # every item, in commit order, none dropped

        # The server gives up on the stalled client once its full queue has
        # stayed unread for the stall timeout; the stats channel says when.
        await subscribe(fast, "stats")
        with trio.fail_after(15):
            figures: dict[str, Any] = {}
            while not figures.get("slow_closed"):
                message = await receive(fast)
                figures = message["items"][0]
        assert figures["queue_high_water"] <= QUEUE
        assert figures["frames_dropped"] > 0 and figures["items_dropped"] > 0
        assert figures["items_sent"] >= len(ids)

        # Reading again, the slow client finds the old data it had missed
        # part of, then the close.
        got = 0
        with trio.fail_after(15), pytest.raises(ConnectionClosed) as closed:
            while True:
                got += len(json.loads(await slow.get_message()).get("items", []))
        assert closed.value.reason.code == 1013
        assert got < len(ids)


async def test_a_client_that_never_reads_again_does_not_hold_the_stop(
    start_service: StartService, settings: Settings, make_key: MakeKey, transport: Transport
) -> None:
    read_token = (await make_key("read"))[1]
    write_token = (await make_key("write"))[1]
    service = await start_service(settings.replace(ws_queue_size=QUEUE))
    async with (
        connect_with_small_buffer(service.base_url, read_token) as stalled,
        httpx.AsyncClient(base_url=service.base_url, timeout=30) as http,
    ):
        await subscribe(stalled, "events:realtime")
        for batch in range(BATCHES):
            events = [
                {"type": "bulk", "message": f"{batch}:{n} {MESSAGE}"} for n in range(PER_BATCH)
            ]
            response = await http.post(
                "/api/v1/events/bulk", json=events, headers={"X-API-Key": write_token}
            )
            assert response.status_code == 201
        started = trio.current_time()
        service.stop.set()
        with trio.fail_after(settings.shutdown_timeout.total_seconds() + 5):
            await service.finished.wait()
        # A write to the stalled socket cannot be interrupted; the
        # connection was aborted so the stop did not wait for the client.
        assert trio.current_time() - started < settings.shutdown_timeout.total_seconds()
