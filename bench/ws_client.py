"""A minimal websocket client for the fan-out benchmark: just enough protocol, little CPU.

One client process holds a thousand subscribers, and with trio-websocket
(wsproto, a memory channel and a task switch per message) that process
became the bottleneck of the benchmark: unread data piled up in its sockets
while the server waited. Here a subscriber is a plain Trio TCP stream: the
RFC 6455 handshake, masked client frames, and a parser that takes every
complete frame out of whatever one read returned.
"""

from __future__ import annotations

import base64
import contextlib
import os
import struct
from collections.abc import AsyncIterator

import trio

TEXT = 0x1
CLOSE = 0x8
READ_SIZE = 256 * 1024


class HandshakeFailed(Exception):
    pass


def client_frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """A final, masked frame (a client must mask what it sends)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


class Websocket:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = bytearray()

    @classmethod
    async def connect(cls, port: int, path: str, headers: dict[str, str]) -> Websocket:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
        ws = cls(stream)
        while b"\r\n\r\n" not in ws._buffer:
            data = await stream.receive_some(READ_SIZE)
            if not data:
                raise HandshakeFailed("the server closed during the handshake")
            ws._buffer += data
        head, _, rest = bytes(ws._buffer).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise HandshakeFailed(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        ws._buffer = bytearray(rest)
        return ws

    async def send_text(self, text: str) -> None:
        await self.stream.send_all(client_frame(text.encode()))

    async def messages(self) -> AsyncIterator[list[bytes]]:
        """Lists of text payloads, as many as each read completed; ends at the server's close."""
        buffer = self._buffer
        while True:
            payloads, closed = self._complete_frames(buffer)
            if payloads:
                yield payloads
            if closed:
                return
            data = await self.stream.receive_some(READ_SIZE)
            if not data:
                return
            buffer += data

    @staticmethod
    def _complete_frames(buffer: bytearray) -> tuple[list[bytes], bool]:
        """Take every complete frame off the front of `buffer` (server frames are unmasked)."""
        payloads: list[bytes] = []
        offset = 0
        end = len(buffer)
        closed = False
        while end - offset >= 2:
            opcode = buffer[offset] & 0x0F
            length = buffer[offset + 1] & 0x7F
            start = offset + 2
            if length == 126:
                if end - offset < 4:
                    break
                (length,) = struct.unpack_from("!H", buffer, offset + 2)
                start = offset + 4
            elif length == 127:
                if end - offset < 10:
                    break
                (length,) = struct.unpack_from("!Q", buffer, offset + 2)
                start = offset + 10
            if end - start < length:
                break
            if opcode == TEXT:
                payloads.append(bytes(buffer[start : start + length]))
            elif opcode == CLOSE:
                closed = True
            offset = start + length
        del buffer[:offset]
        return payloads, closed

    async def aclose(self) -> None:
        with trio.move_on_after(2):
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await self.stream.send_all(client_frame(b"\x03\xe8", CLOSE))
        await self.stream.aclose()
