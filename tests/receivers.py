"""Local HTTP receivers for outbound tests: a Trio socket server speaking h11.

`start_receiver(nursery, handler)` listens on 127.0.0.1 (port 0) and gives
every request it reads whole to `handler`, which answers a `Reply`. Every
request is also kept in `receiver.requests`, so a test asserts what arrived.
A reply can stall (`delay`) or stream a body without end (`endless`), to
drive the client's timeouts and size cap.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h11
import trio


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # before the status line
    endless: bool = False  # stream 64 KiB chunks until the client hangs up


Handler = Callable[[Received], Awaitable[Reply]]


async def ok(_: Received) -> Reply:
    return Reply()


@dataclass
class Receiver:
    port: int
    host: str = "127.0.0.1"
    requests: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


async def _serve_one(stream: trio.SocketStream, handler: Handler, receiver: Receiver) -> None:
    connection = h11.Connection(h11.SERVER)
    try:
        while True:
            request: h11.Request | None = None
            body = bytearray()
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    connection.receive_data(data)
                    continue
                if isinstance(event, h11.Request):
                    request = event
                elif isinstance(event, h11.Data):
                    body.extend(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    return
            assert request is not None
            received = Received(
                request.method.decode(),
                request.target.decode(),
                {name.decode().lower(): value.decode() for name, value in request.headers},
                bytes(body),
            )
            receiver.requests.append(received)
            reply = await handler(received)
            if reply.delay:
                await trio.sleep(reply.delay)
            headers = [(name.encode(), value.encode()) for name, value in reply.headers]
            if reply.endless:
                await stream.send_all(
                    connection.send(h11.Response(status_code=reply.status, headers=headers)) or b""
                )
                chunk = b"x" * 65536
                while True:
                    await stream.send_all(connection.send(h11.Data(data=chunk)) or b"")
            headers.append((b"content-length", str(len(reply.body)).encode()))
            await stream.send_all(
                connection.send(h11.Response(status_code=reply.status, headers=headers)) or b""
            )
            await stream.send_all(connection.send(h11.Data(data=reply.body)) or b"")
            await stream.send_all(connection.send(h11.EndOfMessage()) or b"")
            if connection.our_state is h11.MUST_CLOSE:
                return
            connection.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        return
    finally:
        await stream.aclose()


async def start_receiver(
    nursery: trio.Nursery, handler: Handler = ok, *, host: str = "127.0.0.1"
) -> Receiver:
    listeners = await trio.open_tcp_listeners(0, host=host)
    port = listeners[0].socket.getsockname()[1]
    receiver = Receiver(port, host)

    async def serve(stream: trio.SocketStream) -> None:
        await _serve_one(stream, handler, receiver)

    nursery.start_soon(trio.serve_listeners, serve, listeners)
    return receiver
