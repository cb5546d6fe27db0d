"""Frames written below Quart are those wsproto would write; a real server writes that way."""

from __future__ import annotations

import httpx
import trio
from hypothesis import example, given
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol

from conftest import MakeKey, RunningService
from monitor.web.ws.direct import frame_header
from ws_helpers import connect, receive, subscribe

# The direct transport only, by nature: these are about its frames and its
# lock. The other websocket test modules run on both transports (the
# `transport` fixture in conftest.py).

# Lengths around each change of the header's length field (7 bits, 16 bits, 64 bits).
lengths = st.sampled_from([0, 1, 125, 126, 127, 65535, 65536, 70000]) | st.integers(0, 300_000)


@given(length=lengths, text=st.text(max_size=20))
@example(length=125, text="")
@example(length=126, text="")
@example(length=65535, text="")
@example(length=65536, text="")
def test_a_direct_frame_is_the_text_frame_wsproto_would_send(length: int, text: str) -> None:
    message = "a" * length + text
    payload = message.encode()
    # A server never masks; no extension is applied.
    expected = FrameProtocol(client=False, extensions=[]).send_data(message)
    assert frame_header(len(payload)) + payload == expected


async def test_data_frames_of_a_real_server_are_written_straight_to_the_socket(
    running: RunningService, make_key: MakeKey
) -> None:
    read_token = (await make_key("read"))[1]
    write_token = (await make_key("write"))[1]
    async with connect(running.base_url, read_token) as ws:
        await subscribe(ws, "events:realtime")
        async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
            response = await http.post(
                "/api/v1/events/bulk",
                # One frame of about 80 KB: a 64-bit length field.
                json=[{"type": "deploy", "message": f"{n} " + "x" * 4000} for n in range(20)],
                headers={"X-API-Key": write_token},
            )
        assert response.status_code == 201
        message = await receive(ws)
    assert [item["id"] for item in message["items"]] == response.json()["ids"]
    counters = running.running.connections.counters
    assert counters.frames_sent >= 2  # `subscribed`, then the data
    assert counters.asgi_fallbacks == 0


async def test_protocol_pings_answered_by_the_server_never_break_a_busy_stream(
    running: RunningService, make_key: MakeKey
) -> None:
    """Hypercorn writes pongs itself; they must never land inside a data frame."""
    read_token = (await make_key("read"))[1]
    write_token = (await make_key("write"))[1]
    ids: list[str] = []
    received: list[str] = []
    pongs = 0
    posted = trio.Event()
    async with connect(running.base_url, read_token) as ws:
        await subscribe(ws, "events:realtime")

        async def read() -> None:
            while not posted.is_set() or len(received) < len(ids):
                message = await receive(ws)
                received.extend(item["id"] for item in message["items"])

        async def ping() -> None:
            nonlocal pongs
            while not posted.is_set():
                await ws.ping()  # returns once the matching pong has arrived
                pongs += 1

        with trio.fail_after(60):
            async with (
                trio.open_nursery() as nursery,
                httpx.AsyncClient(base_url=running.base_url, timeout=10) as http,
            ):
                nursery.start_soon(read)
                nursery.start_soon(ping)
                for batch in range(30):
                    response = await http.post(
                        "/api/v1/events/bulk",
                        json=[
                            {"type": "busy", "message": f"{batch}:{n} " + "y" * 2000}
                            for n in range(40)
                        ],
                        headers={"X-API-Key": write_token},
                    )
                    assert response.status_code == 201
                    ids.extend(response.json()["ids"])
                posted.set()
    assert received == ids
    assert pongs > 0
