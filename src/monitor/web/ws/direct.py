"""Websocket text frames written straight to the client's stream, below Quart and Hypercorn.

Measured reason: a frame sent through `websocket.send` passes Quart (a signal
per frame), an ASGI message, Hypercorn's `WSStream` (wsproto builds the
frame), its HTTP/1.1 wrapper and a shielded `send_all`: about 0.3 ms of the
one event loop per frame, which capped the fan-out near 2,500 frames/s. Here
a frame is a two-to-ten-byte header in front of the payload, written under
Hypercorn's own send lock so it never interleaves with a frame Hypercorn
writes itself (a pong, the close).

Hypercorn's objects are reached through the ASGI `send` callable, which the
`capture_websocket_send` wrapper keeps in the scope: `WSStream.app_send` →
`H11Protocol.stream_send` → `TCPServer.protocol_send`. Each step is checked
against Hypercorn's classes; anything else (another server, HTTP/2, a
Hypercorn that changed) gives no transport and the caller keeps using
`websocket.send`. Only whole, unfragmented, uncompressed frames are written,
which wsproto's state does not track (an uncompressed message stays valid
when permessage-deflate was negotiated).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol, cast

import trio
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope, WebsocketScope
from wsproto.connection import ConnectionState

from monitor.live_connections import MESSAGE_TOO_BIG, NORMAL_CLOSURE, Close

SEND_KEY = "monitor.asgi_send"
TEXT_FIN = 0x81

AsgiApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Coroutine[Any, Any, None]]


def capture_websocket_send(app: AsgiApp) -> AsgiApp:
    """An ASGI wrapper that keeps each websocket's `send` callable in its scope."""

    async def wrapped(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] == "websocket":
            scope = cast(WebsocketScope, {**scope, SEND_KEY: send})
        await app(scope, receive, send)

    return wrapped


class FrameTransport(Protocol):
    """How a connection's writer sends text frames and ends a connection stuck writing."""

    async def send_text(self, payload: bytes) -> bool: ...

    def abort(self) -> bool: ...

    def closed_beneath(self) -> Close | None: ...


def frame_header(length: int) -> bytes:
    """The header of an unmasked, final text frame of `length` payload bytes."""
    if length < 126:
        return bytes((TEXT_FIN, length))
    if length < 65536:
        return struct.pack("!BBH", TEXT_FIN, 126, length)
    return struct.pack("!BBQ", TEXT_FIN, 127, length)


class DirectTransport:
    def __init__(self, server: TCPServer, ws: WSStream, raw_socket: socket.socket) -> None:
        self._server = server
        self._ws = ws
        self._raw_socket = raw_socket  # non-blocking, as Trio set it up

    @classmethod
    def of(cls, scope: Mapping[str, Any]) -> DirectTransport | None:
        """The transport of an accepted websocket, or None where it cannot be reached."""
        ws = getattr(scope.get(SEND_KEY), "__self__", None)
        h11 = getattr(getattr(ws, "send", None), "__self__", None)
        server = getattr(getattr(h11, "send", None), "__self__", None)
        if not (
            isinstance(ws, WSStream)
            and isinstance(h11, H11Protocol)
            and isinstance(server, TCPServer)
            and isinstance(server.stream, trio.SocketStream)
        ):
            return None
        # Trio's socket wraps the standard one; its send() needs no await.
        raw_socket = getattr(server.stream.socket, "_sock", None)
        if not isinstance(raw_socket, socket.socket):
            return None
        return cls(server, ws, raw_socket)

    def _open(self) -> bool:
        ws = self._ws
        return (
            not ws.closed
            and ws.state == ASGIWebsocketState.CONNECTED
            and ws.connection.state == ConnectionState.OPEN
        )

    async def send_text(self, payload: bytes) -> bool:
        """Write one text frame; False when the websocket is closing or its client has gone.

        Most frames fit in the socket's buffer: they are written at once,
        without a trip through the scheduler. The rest waits in a shielded
        `send_all`, as Hypercorn's own writes do (half a frame would corrupt
        the stream), with the lock held so nothing lands in between.
        """
        header = frame_header(len(payload))
        lock = self._server.send_lock
        try:
            lock.acquire_nowait()
        except trio.WouldBlock:
            await lock.acquire()
        try:
            if not self._open():
                return False
            try:
                # Two buffers: the payload, shared by every subscriber, is not copied.
                sent = self._raw_socket.sendmsg((header, payload))
            except BlockingIOError:
                sent = 0
            if sent < len(header) + len(payload):
                rest = memoryview(header + payload)[sent:]
                with trio.CancelScope(shield=True):
                    await self._server.stream.send_all(rest)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            return False  # the client has gone; Hypercorn's reader sees it too and ends the stream
        finally:
            lock.release()
        return True

    def closed_beneath(self) -> Close | None:
        """The close Hypercorn's websocket went into without the application, or None while open.

        Hypercorn answers a client message over `websocket_max_message_size`
        with a 1009 close on its own and tells the application nothing; it
        then waits for the client's close, which a hostile client never sends
        (and which Hypercorn may leave unread in wsproto's buffer), so without
        this the connection stayed open and counted. A close from the client
        normally ends the handler at once; seen here, Hypercorn's answer to it
        is stuck. Either way the handler should end, which closes the socket.
        """
        ws = self._ws
        if not ws.closed and ws.connection.state == ConnectionState.OPEN:
            return None
        if ws.buffer.length > ws.buffer.max_length:
            return Close(MESSAGE_TOO_BIG, "message too big")
        if ws.connection.state == ConnectionState.LOCAL_CLOSING:
            return Close(NORMAL_CLOSURE, "closed by the websocket layer")
        return Close(NORMAL_CLOSURE, "closed by the client")

    def abort(self) -> bool:
        """End the TCP connection, which fails a write blocked on a client that stopped reading.

        False when the connection had already ended.
        """
        try:
            self._raw_socket.shutdown(socket.SHUT_RDWR)
        except OSError:  # already gone: nothing is blocked on it
            return False
        return True
