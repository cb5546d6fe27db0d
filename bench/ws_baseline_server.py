"""The fan-out benchmark's baseline: the same streaming with nothing but Trio and sockets.

    python bench/ws_baseline_server.py --rate 200 --coalesce 0.05

A websocket server in a few lines, in its own process like the service: it
accepts upgrades on a loopback port (printed on stdout as `port <n>`),
answers `subscribe` with `subscribed`, makes `--rate` events/s itself (one
batch every 50 ms, as the benchmark's ingest does), gathers them for
`--coalesce` seconds and writes one shared frame to every subscriber, with
the non-blocking write the service uses (what a full socket buffer does not
take waits for the next tick). No database, no HTTP stack, no filters, no
task per connection: what the service's latency is compared with.

Each item carries `t`, the monotonic time it was made (CLOCK_MONOTONIC is
shared by every process on the machine), standing in for the acknowledgement.
Publishing starts when a line arrives on stdin and stops after `--seconds`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import socket
import time

import msgspec
import trio

from monitor.web.ws.direct import frame_header

TICK = 0.05
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B85"
HEADER_LIMIT = 16 * 1024


class Subscribers:
    def __init__(self) -> None:
        self.sockets: set[socket.socket] = set()
        self.backlog: dict[socket.socket, bytes] = {}  # what a full socket buffer did not take
        self.blocked = 0  # writes that did not fit in a socket's buffer at once
        self.made = 0  # events made so far

    def send_to_all(self, frame: bytes) -> None:
        for sock in list(self.sockets):
            self._send(sock, self.backlog.pop(sock, b"") + frame)

    def send_backlog(self) -> None:
        for sock, data in list(self.backlog.items()):
            del self.backlog[sock]
            self._send(sock, data)

    def _send(self, sock: socket.socket, data: bytes) -> None:
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.sockets.discard(sock)
            return
        if sent < len(data):
            self.blocked += 1
            self.backlog[sock] = data[sent:]


async def serve_client(stream: trio.SocketStream, subscribers: Subscribers) -> None:
    request = b""
    while b"\r\n\r\n" not in request and len(request) < HEADER_LIMIT:
        data = await stream.receive_some(4096)
        if not data:
            return
        request += data
    key = b""
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    await stream.send_all(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    await stream.receive_some(4096)  # the subscribe message; its content does not matter here
    reply = b'{"type":"subscribed","channel":"events:realtime","subscription":"events:realtime"}'
    await stream.send_all(frame_header(len(reply)) + reply)
    raw = stream.socket._sock  # type: ignore[attr-defined]  # as the service's direct transport
    subscribers.sockets.add(raw)
    try:
        while await stream.receive_some(4096):
            pass
    finally:
        subscribers.sockets.discard(raw)


async def publish(subscribers: Subscribers, rate: float, coalesce: float, seconds: float) -> None:
    """`rate` events/s for `seconds`, one batch every TICK, flushed `coalesce` s after it."""
    head = b'{"type":"data","channel":"events:realtime","subscription":"events:realtime","items":['
    encode = msgspec.json.encode
    per_tick = max(1, round(rate * TICK))
    ticks_left = round(seconds / TICK)
    pending: list[bytes] = []
    flush_at = float("inf")
    next_tick = trio.current_time()
    while ticks_left or pending:
        await trio.sleep_until(min(next_tick if ticks_left else float("inf"), flush_at))
        subscribers.send_backlog()
        now = trio.current_time()
        if ticks_left and now >= next_tick:
            made = time.monotonic()
            for _ in range(per_tick):
                subscribers.made += 1
                pending.append(encode({"id": f"b{subscribers.made}", "t": made, "type": "bench"}))
            ticks_left -= 1
            next_tick += TICK
            if flush_at == float("inf"):
                flush_at = now + coalesce
        if now >= flush_at:
            payload = head + b",".join(pending) + b"]}"
            subscribers.send_to_all(frame_header(len(payload)) + payload)
            pending = []
            flush_at = float("inf")
    while subscribers.backlog:
        await trio.sleep(TICK)
        subscribers.send_backlog()


async def main(args: argparse.Namespace) -> None:
    subscribers = Subscribers()
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1", backlog=4096)
    print("port", listeners[0].socket.getsockname()[1], flush=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, lambda s: serve_client(s, subscribers), listeners)
        await wait_for_start()
        await publish(subscribers, args.rate, args.coalesce, args.seconds)
        print("made", subscribers.made, "blocked", subscribers.blocked, flush=True)
        nursery.cancel_scope.cancel()


async def wait_for_start() -> None:
    """The benchmark writes a line on stdin once its subscribers are connected."""
    stdin = trio.lowlevel.FdStream(0)
    await stdin.receive_some(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--coalesce", type=float, default=0.05)
    parser.add_argument("--seconds", type=float, default=10.0)
    trio.run(main, parser.parse_args())
