"""Connections that should end, clients that never finish a request, and edge headers.

Raw sockets against a real server: what an HTTP library would smooth over
(a socket the server leaves open, a head sent one byte at a time) is the
thing under test. Sleeping between sent bytes simulates a slow client; every
wait for the server is a read inside `trio.fail_after`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import trio

from conftest import RunningService, StartService
from monitor.config import Settings

HEALTH = b"GET /health HTTP/1.1\r\nHost: monitor.test\r\n\r\n"
SERVER_CLOSE_WITHIN = 2.0


async def connect(service: RunningService) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", service.running.port)


async def maybe_response(stream: trio.SocketStream) -> tuple[int, dict[str, str], bytes] | None:
    """One response: status, headers (lower-case names), body (by Content-Length).

    None when the server closed the connection without sending anything.
    """
    buffer = b""
    with trio.fail_after(5):
        while b"\r\n\r\n" not in buffer:
            try:
                chunk = await stream.receive_some()
            except trio.BrokenResourceError:
                chunk = b""
            if not chunk and not buffer:
                return None
            assert chunk, f"the server closed before a whole response: {buffer!r}"
            buffer += chunk
        head, _, body = buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        while len(body) < int(headers.get("content-length", "0")):
            chunk = await stream.receive_some()
            assert chunk, "the server closed inside a response body"
            body += chunk
    return int(status_line.split()[1]), headers, body


async def read_response(stream: trio.SocketStream) -> tuple[int, dict[str, str], bytes]:
    response = await maybe_response(stream)
    assert response is not None, "the server closed the connection without answering"
    return response


async def closed_by_server(stream: trio.SocketStream, within: float) -> float:
    """Seconds until the server ends the connection (a read returns b"", or a reset)."""
    started = time.monotonic()
    with trio.fail_after(within):
        while True:
            try:
                if not await stream.receive_some():
                    break
            except trio.BrokenResourceError:
                break
    return time.monotonic() - started


async def drip(stream: trio.SocketStream, data: bytes, interval: float) -> None:
    """Send one byte every `interval` seconds until the server closes."""
    for byte in data:
        try:
            await stream.send_all(bytes([byte]))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        await trio.sleep(interval)


async def test_http_1_0_and_connection_close_end_the_connection_at_once(
    running: RunningService,
) -> None:
    for request in (
        b"GET /health HTTP/1.0\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: monitor.test\r\nConnection: close\r\n\r\n",
        b"GET /nothing-here HTTP/1.1\r\nHost: monitor.test\r\nConnection: close\r\n\r\n",
    ):
        async with await connect(running) as stream:
            await stream.send_all(request)
            status, headers, _ = await read_response(stream)
            assert status in (200, 404), request
            assert headers["connection"] == "close"
            await closed_by_server(stream, SERVER_CLOSE_WITHIN)


async def test_a_request_right_after_a_closing_response_is_no_server_error(
    running: RunningService, caplog: pytest.LogCaptureFixture
) -> None:
    # The server closes from two tasks at once here (the one answering and
    # the one reading the next request); that used to raise into the app.
    caplog.set_level(logging.ERROR)
    for _ in range(20):
        async with await connect(running) as stream:
            await stream.send_all(HEALTH[:-2] + b"Connection: close\r\n\r\n")
            assert (await read_response(stream))[0] == 200
            with contextlib.suppress(trio.BrokenResourceError):
                await stream.send_all(HEALTH)
            await closed_by_server(stream, SERVER_CLOSE_WITHIN)
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []


async def test_a_head_sent_one_byte_at_a_time_is_cut_off_at_the_header_timeout(
    start_service: StartService, settings: Settings
) -> None:
    service = await start_service(
        settings.replace(
            header_timeout=timedelta(seconds=1.5), keepalive_timeout=timedelta(seconds=60)
        )
    )
    slow_head = b"GET /health HTTP/1.1\r\nHost: monitor.test\r\nX-Padding: " + b"a" * 40
    async with await connect(service) as stream, trio.open_nursery() as nursery:
        nursery.start_soon(drip, stream, slow_head, 0.5)
        waited = await closed_by_server(stream, 1.5 + SERVER_CLOSE_WITHIN)
    assert waited >= 1.4  # the deadline, not something sooner, ended it


async def test_the_header_timeout_starts_again_with_the_next_request_on_a_kept_connection(
    start_service: StartService, settings: Settings
) -> None:
    service = await start_service(
        settings.replace(
            header_timeout=timedelta(seconds=1.5), keepalive_timeout=timedelta(seconds=60)
        )
    )
    async with await connect(service) as stream:
        await stream.send_all(HEALTH)
        assert (await read_response(stream))[0] == 200
        # Idle for longer than the header timeout is fine (keep-alive)...
        await trio.sleep(2.0)
        await stream.send_all(HEALTH)
        assert (await read_response(stream))[0] == 200
        # ...but once a request has started, its head must be complete in time.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drip, stream, HEALTH[:-2] + b"X-Padding: " + b"a" * 40, 0.5)
            waited = await closed_by_server(stream, 1.5 + SERVER_CLOSE_WITHIN)
    assert waited >= 1.4


async def test_an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout(
    start_service: StartService, settings: Settings
) -> None:
    service = await start_service(
        settings.replace(
            keepalive_timeout=timedelta(seconds=1.0), header_timeout=timedelta(seconds=60)
        )
    )
    async with await connect(service) as stream:
        for _ in range(2):  # the timer restarts after every response
            await stream.send_all(HEALTH)
            status, headers, _ = await read_response(stream)
            assert status == 200 and headers.get("connection") != "close"
        waited = await closed_by_server(stream, 1.0 + SERVER_CLOSE_WITHIN)
    assert waited >= 0.9


async def stats_when(
    service: RunningService, token: str, wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Poll /stats until it is `wanted` (its figures count the asking request too).

    A poll may be refused while the address is at its limit; it is retried.
    """
    with trio.fail_after(5):
        while True:
            async with await connect(service) as stream:
                await stream.send_all(
                    b"GET /stats HTTP/1.1\r\nHost: monitor.test\r\nConnection: close\r\n"
                    b"X-API-Key: " + token.encode() + b"\r\n\r\n"
                )
                response = await maybe_response(stream)
            if response is not None:
                status, _, body = response
                assert status == 200, body
                stats: dict[str, Any] = json.loads(body)
                if wanted(stats):
                    return stats
            await trio.sleep(0.05)


async def figures_when(
    service: RunningService, token: str, wanted: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Poll /stats until its `connections` figures are `wanted`."""
    stats = await stats_when(service, token, lambda stats: wanted(stats["connections"]))
    figures: dict[str, Any] = stats["connections"]
    return figures


async def test_connections_over_the_per_address_limit_are_refused_and_all_are_released(
    start_service: StartService, settings: Settings, admin_token: str
) -> None:
    service = await start_service(
        settings.replace(
            max_connections_per_ip=3,
            header_timeout=timedelta(seconds=1.0),
            keepalive_timeout=timedelta(seconds=2.0),
        )
    )
    held = []
    for _ in range(3):
        stream = await connect(service)
        await stream.send_all(HEALTH)
        assert (await read_response(stream))[0] == 200  # admitted, and kept alive
        held.append(stream)
    refused = await connect(service)
    assert await maybe_response(refused) is None  # closed at accept, nothing read or sent
    await refused.aclose()

    # Every way a connection ends gives its place back.
    await held[0].aclose()  # the client leaves
    figures = await figures_when(service, admin_token, lambda f: f["open"] == 3)
    assert figures["refused_over_limit"] >= 1, figures
    await held[1].send_all(HEALTH[:-2] + b"Connection: close\r\n\r\n")  # the server closes
    assert (await read_response(held[1]))[0] == 200
    await closed_by_server(held[1], SERVER_CLOSE_WITHIN)
    await closed_by_server(held[2], 2.0 + SERVER_CLOSE_WITHIN)  # the keep-alive timer ends it
    silent = await connect(service)
    await closed_by_server(silent, 1.0 + SERVER_CLOSE_WITHIN)  # the header timer ends it
    for stream in (*held, silent):
        await stream.aclose()
    figures = await figures_when(service, admin_token, lambda f: f["open"] == 1)
    assert figures["addresses"] == 1 and figures["max_per_address"] == 3, figures
    assert figures["header_timeouts"] >= 1, figures


async def test_a_connection_the_client_closes_is_released_at_once(
    start_service: StartService, settings: Settings, admin_token: str
) -> None:
    service = await start_service(
        settings.replace(
            keepalive_timeout=timedelta(seconds=60), header_timeout=timedelta(seconds=60)
        )
    )
    for request in (HEALTH, b"GET /he"):  # after a response, and inside a head
        async with await connect(service) as stream:
            await stream.send_all(request)
            if request == HEALTH:
                assert (await read_response(stream))[0] == 200
        # Not held until the keep-alive or header timer fires.
        await figures_when(service, admin_token, lambda f: f["open"] == 1)


BIG = b"GET /static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js HTTP/1.1\r\nHost: x\r\n\r\n"


async def unread_response(service: RunningService) -> trio.SocketStream:
    """A connection whose client asks for 1.4 MB and reads none of it."""
    stream = await connect(service)
    await stream.send_all(BIG)
    return stream


async def test_a_client_that_reads_nothing_is_disconnected_after_the_send_timeout(
    start_service: StartService, settings: Settings, admin_token: str
) -> None:
    service = await start_service(settings.replace(send_timeout=timedelta(seconds=1.0)))
    async with await unread_response(service):
        # Its connection is gone, though the client never closed it.
        await figures_when(
            service, admin_token, lambda f: f["send_timeouts"] == 1 and f["open"] == 1
        )


async def test_a_client_that_reads_nothing_does_not_hold_the_graceful_stop(
    start_service: StartService, settings: Settings, admin_token: str
) -> None:
    service = await start_service(
        settings.replace(
            send_timeout=timedelta(seconds=600), shutdown_timeout=timedelta(seconds=1.0)
        )
    )
    async with await unread_response(service):
        # Its response is being written (besides the /stats request asking).
        await stats_when(service, admin_token, lambda stats: stats["requests"]["in_flight"] == 2)
        service.stop.set()
        with trio.fail_after(1.0 + 5):
            await service.finished.wait()


async def test_a_doubled_slash_is_not_redirected_to_the_host_header(
    running: RunningService,
) -> None:
    # Werkzeug merged `//` into a 308 whose absolute Location was built from
    # Host. Now a doubled slash inside a path is a 404; a leading one is
    # ignored by Werkzeug's matching anyway.
    for target, status in (
        (b"/static//etc/passwd", 404),
        (b"/api//v1/keys", 404),
        (b"//health", 200),
    ):
        async with await connect(running) as stream:
            await stream.send_all(
                b"GET " + target + b" HTTP/1.1\r\nHost: evil.example.com\r\n"
                b"Connection: close\r\n\r\n"
            )
            answered, headers, body = await read_response(stream)
        assert answered == status, (target, answered, headers)
        assert "location" not in headers
        assert b"evil.example.com" not in body


async def test_redirects_are_relative(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"Host": "evil.example.com"})
    assert response.status_code == 303  # signed out: to the sign-in page
    assert response.headers["location"] == "/ui/sign-in"


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff", response.url
    # Pages send a referrer to their own site only (their forms then carry a real
    # Origin); everything else sends none.
    html = headers.get("content-type", "").startswith("text/html")
    assert headers["referrer-policy"] == ("same-origin" if html else "no-referrer"), response.url
    assert "frame-ancestors 'none'" in headers["content-security-policy"], response.url


async def test_every_kind_of_response_carries_security_headers(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert_security_headers(docs)
    # The Swagger UI page still works without inline script: it loads the
    # bundle and its start-up file from this site (served with headers too).
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in docs.headers["content-security-policy"].split(";")
    }
    assert policy["script-src"] == ["'self'"]
    scripts = re.findall(r'<script src="([^"]+)"', docs.text)
    assert "<script>" not in docs.text
    assert any("swagger-ui-bundle" in script for script in scripts), scripts
    for script in scripts:
        loaded = await client.get(script)
        assert loaded.status_code == 200 and "javascript" in loaded.headers["content-type"]
        assert_security_headers(loaded)

    static = await client.get("/static/vendor/versions.json")
    missing = await client.get("/api/v1/nothing-here")
    unauthenticated = await client.get("/api/v1/keys")
    api = await client.get("/api/v1/keys", headers={"X-API-Key": admin_token})
    health = await client.get("/health")
    for response, status in (
        (static, 200),
        (missing, 404),
        (unauthenticated, 401),
        (api, 200),
        (health, 200),
    ):
        assert response.status_code == status, response.url
        assert_security_headers(response)
        # Data may load nothing when opened as a page.
        assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_a_big_body_nobody_reads_is_not_received_the_answer_closes_instead(
    running: RunningService,
) -> None:
    """9 MB announced to a route that takes no body: a 404/405/401 after a small part.

    The server answers once it has drained a bounded part (256 KiB), and closes
    the connection rather than wait for megabytes it would throw away; the
    client here stops sending after 512 KiB, so a server that waited for the
    rest (up to its 2 s drain timeout) would not answer in time.
    """
    part = b"x" * (512 * 1024)
    for request_line in (b"POST /nowhere", b"POST /health", b"POST /api/v1/keys"):
        async with await connect(running) as stream:
            await stream.send_all(
                request_line + b" HTTP/1.1\r\nHost: monitor.test\r\n"
                b"Content-Type: application/json\r\nContent-Length: 9437184\r\n\r\n" + part
            )
            with trio.fail_after(1.5):
                status, headers, _ = await read_response(stream)
            assert status in (404, 405, 401), request_line
            assert headers["connection"] == "close"
            await closed_by_server(stream, SERVER_CLOSE_WITHIN)
