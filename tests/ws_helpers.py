"""Websocket clients (trio-websocket) for the live streaming tests."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio
from trio_websocket import WebSocketConnection, open_websocket_url, wrap_client_stream

Message = dict[str, Any]


def ws_url(base_url: str, path: str = "/ws") -> str:
    return base_url.replace("http://", "ws://", 1) + path


@asynccontextmanager
async def connect(
    base_url: str, token: str | None = None, path: str = "/ws"
) -> AsyncIterator[WebSocketConnection]:
    """A client on `path`, authenticated with the X-API-Key header when a token is given."""
    headers = [(b"X-API-Key", token.encode())] if token else []
    async with open_websocket_url(
        ws_url(base_url, path), extra_headers=headers, connect_timeout=10, disconnect_timeout=5
    ) as connection:
        try:
            yield connection
        finally:
            # After a close started by the server, trio-websocket's aclose()
            # returns before the server's TCP close arrives and its reader is
            # then cancelled with the socket still open (a ResourceWarning).
            await trio.aclose_forcefully(connection._stream)


async def receive(connection: WebSocketConnection, timeout: float = 10) -> Message:
    """The next message that is not a heartbeat."""
    with trio.fail_after(timeout):
        while True:
            message: Message = json.loads(await connection.get_message())
            if message["type"] != "heartbeat":
                return message


async def send(connection: WebSocketConnection, message: Message) -> None:
    await connection.send_message(json.dumps(message))


async def receive_until(
    connection: WebSocketConnection, done: Callable[[Message], bool], timeout: float = 10
) -> list[Message]:
    """Messages up to and including the first for which `done` is true."""
    seen: list[Message] = []
    with trio.fail_after(timeout):
        while True:
            message = await receive(connection, timeout)
            seen.append(message)
            if done(message):
                return seen


async def subscribe(
    connection: WebSocketConnection,
    channel: str,
    filter: Message | None = None,
    name: str | None = None,
) -> None:
    message: Message = {"type": "subscribe", "channel": channel}
    if filter is not None:
        message["filter"] = filter
    if name is not None:
        message["subscription"] = name
    await send(connection, message)
    answer = await receive(connection)
    expected = {"type": "subscribed", "channel": channel, "subscription": name or channel}
    assert answer == expected, answer


async def barrier(connection: WebSocketConnection, tag: str = "barrier") -> list[Message]:
    """Everything queued for the client before a ping, up to its pong."""
    await send(connection, {"type": "ping", "id": tag})
    seen = await receive_until(connection, lambda m: m == {"type": "pong", "id": tag})
    return seen[:-1]


async def items_until(
    connection: WebSocketConnection,
    subscription: str,
    done: Callable[[list[Message]], bool],
    timeout: float = 15,
) -> dict[str, list[Message]]:
    """Data items per subscription, until `done(items of subscription)` holds."""
    items: dict[str, list[Message]] = {}
    with trio.fail_after(timeout):
        while not done(items.get(subscription, [])):
            message = await receive(connection, timeout)
            assert message["type"] == "data", message
            items.setdefault(message["subscription"], []).extend(message["items"])
    return items


@asynccontextmanager
async def connect_with_small_buffer(
    base_url: str, token: str, receive_buffer: int = 4096
) -> AsyncIterator[WebSocketConnection]:
    """A client with a tiny socket receive buffer: it stalls the server once it stops reading."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    with trio.fail_after(10):
        await sock.connect((host, int(port)))
    stream = trio.SocketStream(sock)
    async with trio.open_nursery() as nursery:
        connection = await wrap_client_stream(
            nursery, stream, host, "/ws", extra_headers=[(b"X-API-Key", token.encode())]
        )
        try:
            yield connection
        finally:
            with trio.move_on_after(2):
                await connection.aclose()
            await trio.aclose_forcefully(stream)  # see connect()
            nursery.cancel_scope.cancel()
