"""Websocket fan-out: N subscribers of an unfiltered event stream, delivery rate and latency.

    python bench/ws_fanout.py [--subscribers 1000] [--rate 200] [--seconds 15]

What it does, in one run, on a throw-away database `bench_ws_<random>`
(dropped at the end, also on error or Ctrl-C):

1. Starts `monitor serve` in its own process (the client side with many
   sockets is heavy), on port 0, loopback only.
2. Opens `--subscribers` websocket clients in this process (`ws_client.py`),
   each subscribed to `events:realtime` without a filter.
3. Main phase: ingests `--rate` events/s over HTTP (bulk requests every
   50 ms) for `--seconds`, then waits (bounded) until every subscriber has
   every event. Latency is ingest acknowledged → item received, measured on
   every item of a sample of `--sampled` subscribers (an item that arrives
   before its acknowledgement counts 0). Also: delivered items/s, frames/s,
   the server's RSS.
4. Steps: the rate doubles every `--step-seconds` until p99 passes
   `--p99-limit-ms` or delivery is incomplete (at most `--max-steps`); the
   highest rate that held is reported.
5. Baseline, in the same run: the same subscribers, rate, window and length
   against `ws_baseline_server.py` (Trio and sockets only: no database, no
   HTTP stack), latency measured from the moment it made each item.

Prints progress on stderr and one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import trio

from common import CpuMeter, on_throwaway_database, percentile, say
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.process_settings import tune_for_serving
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations
from server_process import ServerProcess, start_server
from ws_client import Websocket

TICK = 0.05  # seconds between ingest requests
MAX_IN_FLIGHT = 8


class Item(msgspec.Struct, gc=False):
    id: str
    t: float = 0.0  # the baseline server's time of making the item


class Frame(msgspec.Struct, gc=False):
    type: str
    items: list[Item] = []


decode_frame = msgspec.json.Decoder(Frame).decode
DATA_PREFIX = b'{"type":"data"'
ITEM_START = b'{"id":'


@dataclass
class Subscriber:
    sampled: bool
    items: int = 0
    frames: int = 0
    # Per item received (sampled subscribers only), in three flat lists of
    # untracked objects: millions of tuples would make this process's
    # garbage collector pause its readers and inflate the latencies measured.
    ids: list[str] = field(default_factory=list)
    made: list[float] = field(default_factory=list)  # the baseline server's time of making it
    arrived: list[float] = field(default_factory=list)

    def clear_arrivals(self) -> None:
        self.ids, self.made, self.arrived = [], [], []


@dataclass
class Goal:
    """Set once every subscriber has received `items` in all (the end of a phase's tail)."""

    items: int = 0
    waiting: int = 0
    reached: trio.Event = field(default_factory=trio.Event)

    def start(self, items: int, subscribers: list[Subscriber]) -> None:
        self.items = items
        self.reached = trio.Event()
        self.waiting = sum(s.items < items for s in subscribers)
        if not self.waiting:
            self.reached.set()

    def progressed(self, before: int, after: int) -> None:
        if before < self.items <= after:
            self.waiting -= 1
            if not self.waiting:
                self.reached.set()


GOAL = Goal()


@dataclass
class Phase:
    rate: float
    seconds: float
    events: int = 0
    acked: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0


# --- the server process -----------------------------------------------------------------------


async def start_fanout_server(
    url: str, args: argparse.Namespace, nursery: trio.Nursery
) -> ServerProcess:
    return await start_server(
        url,
        nursery,
        {
            "MONITOR_WS_MAX_CONNECTIONS_PER_KEY": str(args.subscribers + 10),
            "MONITOR_MAX_CONNECTIONS_PER_IP": "0",  # every subscriber comes from 127.0.0.1
            "MONITOR_WS_COALESCE_WINDOW": str(args.coalesce),
        },
    )


async def make_keys(url: str) -> tuple[str, str]:
    await trio.to_thread.run_sync(apply_migrations, url)
    async with open_gateway(
        url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        tokens = []
        for role in (Role.READ, Role.WRITE):
            _, token = await key_store.create_key(
                gateway,
                name=f"bench {role.label}",
                role=role,
                rate_limit=0,
                expires_at=None,
                by=Attribution(Actor.system("bench")),
            )
            tokens.append(token)
    return tokens[0], tokens[1]


# --- subscribers ------------------------------------------------------------------------------


async def subscribe_and_read(
    port: int,
    token: str,
    subscriber: Subscriber,
    ready: trio.MemorySendChannel[None],
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    with trio.fail_after(60):
        ws = await Websocket.connect(port, "/ws", {"X-API-Key": token})
    try:
        await ws.send_text('{"type":"subscribe","channel":"events:realtime"}')
        messages = ws.messages()
        with trio.fail_after(60):
            first = await anext(messages)
        assert decode_frame(first[0]).type == "subscribed", first
        async with ready:
            await ready.send(None)
        await read_frames(messages, subscriber, first[1:])
    finally:
        await ws.aclose()


async def read_frames(
    messages: AsyncIterator[list[bytes]], subscriber: Subscriber, early: list[bytes]
) -> None:
    """Count every subscriber's items; only the sampled ones decode their frames.

    Decoding every frame of every subscriber made the one client process the
    bottleneck (data piled up unread in its sockets). Items are counted by
    their opening `{"id":` (an event's first field; the bench's events carry
    no attributes that could contain it).
    """
    pending = early
    while True:
        for payload in pending:
            if not payload.startswith(DATA_PREFIX):
                continue
            subscriber.frames += 1
            before = subscriber.items
            if subscriber.sampled:
                frame = decode_frame(payload)
                now = time.monotonic()
                subscriber.ids.extend(item.id for item in frame.items)
                subscriber.made.extend(item.t for item in frame.items)
                subscriber.arrived.extend([now] * len(frame.items))
                subscriber.items += len(frame.items)
            else:
                subscriber.items += payload.count(ITEM_START)
            GOAL.progressed(before, subscriber.items)
        try:
            pending = await anext(messages)
        except StopAsyncIteration:  # the server's 1001 at the end
            return


# --- ingest -----------------------------------------------------------------------------------


async def ingest(http: httpx.AsyncClient, token: str, phase: Phase) -> None:
    """`phase.rate` events/s as one bulk request every TICK, for `phase.seconds`.

    Requests overlap (at most MAX_IN_FLIGHT) so a slow answer does not lower
    the rate; a tick that finds them all busy is skipped and the rate shows it.
    """
    per_request = max(1, round(phase.rate * TICK))
    body = msgspec.json.encode(
        [{"type": "bench", "source": "bench", "message": "tick"}] * per_request
    )
    headers = {"X-API-Key": token, "Content-Type": "application/json"}
    in_flight = 0

    async def post() -> None:
        nonlocal in_flight
        try:
            response = await http.post("/api/v1/events/bulk", content=body, headers=headers)
        finally:
            in_flight -= 1
        acked = time.monotonic()
        if response.status_code != 201:
            raise RuntimeError(f"ingest got {response.status_code}: {response.text[:300]}")
        for event_id in response.json()["ids"]:
            phase.acked[event_id] = acked
        phase.events += per_request

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        for tick in range(round(phase.seconds / TICK)):
            await trio.sleep_until(started + tick * TICK)
            if in_flight < MAX_IN_FLIGHT:
                in_flight += 1
                nursery.start_soon(post)
    phase.elapsed = trio.current_time() - started


async def run_phase(
    http: httpx.AsyncClient,
    token: str,
    subscribers: list[Subscriber],
    phase: Phase,
    drain_timeout: float,
) -> dict[str, Any]:
    before_items = [s.items for s in subscribers]
    assert len(set(before_items)) == 1, "subscribers disagree on what they have received"
    before_frames = sum(s.frames for s in subscribers)
    for subscriber in subscribers:
        subscriber.clear_arrivals()
    started = trio.current_time()
    await ingest(http, token, phase)
    # Bounded wait for the tail of the stream to arrive everywhere.
    GOAL.start(before_items[0] + phase.events, subscribers)
    with trio.move_on_after(drain_timeout):
        await GOAL.reached.wait()
    elapsed = trio.current_time() - started
    return {
        "events_per_s": round(phase.events / phase.elapsed, 1),
        **delivery(
            subscribers,
            before_items,
            before_frames,
            elapsed,
            phase.events,
            lambda event_id, _, arrived: (
                arrived - phase.acked[event_id] if event_id in phase.acked else None
            ),
        ),
    }


def delivery(
    subscribers: list[Subscriber],
    before_items: list[int],
    before_frames: int,
    elapsed: float,
    events: int,
    latency: Callable[[str, float, float], float | None],
) -> dict[str, Any]:
    """Delivery figures of a phase: items and frames per second, latency percentiles."""
    delivered = sum(s.items - b for s, b in zip(subscribers, before_items, strict=True))
    frames = sum(s.frames for s in subscribers) - before_frames
    latencies = sorted(
        max(0.0, measured)
        for s in subscribers
        if s.sampled
        for event_id, made, arrived in zip(s.ids, s.made, s.arrived, strict=True)
        if (measured := latency(event_id, made, arrived)) is not None
    )
    expected = events * len(subscribers)
    return {
        "delivered_items_per_s": round(delivered / elapsed, 1),
        "delivered_fraction": round(delivered / expected, 4) if expected else None,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "frames_per_s": round(frames / elapsed, 1),
        "items_per_frame": round(delivered / frames, 1) if frames else None,
    }


async def connect_subscribers(
    port: int, token: str, count: int, sampled: int, nursery: trio.Nursery
) -> list[Subscriber]:
    subscribers = [Subscriber(sampled=n % max(1, count // sampled) == 0) for n in range(count)]
    ready_send, ready_receive = trio.open_memory_channel[None](count)
    async with ready_send:
        for subscriber in subscribers:
            nursery.start_soon(subscribe_and_read, port, token, subscriber, ready_send.clone())
    with trio.fail_after(120):
        async for _ in ready_receive:
            pass
    return subscribers


async def baseline(args: argparse.Namespace) -> dict[str, Any]:
    """The same subscribers, rate and window against `ws_baseline_server.py`."""
    process = await trio.lowlevel.open_process(
        [
            sys.executable,
            str(Path(__file__).with_name("ws_baseline_server.py")),
            *("--rate", str(args.rate), "--coalesce", str(args.coalesce)),
            *("--seconds", str(args.seconds)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    lines = LineReader(process.stdout)
    try:
        with trio.fail_after(30):
            port = int((await lines.next()).split()[1])
        async with trio.open_nursery() as nursery:
            subscribers = await connect_subscribers(
                port, "", args.subscribers, args.sampled, nursery
            )
            say(f"baseline: {args.rate:g} events/s for {args.seconds:g} s ...")
            started = trio.current_time()
            await process.stdin.send_all(b"go\n")
            with trio.fail_after(args.seconds + 30):
                made = int((await lines.next()).split()[1])  # "made <n> blocked <m>"
            GOAL.start(made, subscribers)
            with trio.move_on_after(15):
                await GOAL.reached.wait()
            elapsed = trio.current_time() - started
            result = delivery(
                subscribers,
                [0] * len(subscribers),
                0,
                elapsed,
                made,
                lambda _, made, arrived: arrived - made,
            )
            nursery.cancel_scope.cancel()
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
    return {"events_per_s": round(made / args.seconds, 1), **result}


class LineReader:
    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def next(self) -> str:
        while b"\n" not in self._buffer:
            chunk = await self._stream.receive_some(4096)
            if not chunk:
                raise EOFError("the baseline server ended early")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()


async def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    read_token, write_token = await make_keys(url)
    async with trio.open_nursery() as nursery:
        server = await start_fanout_server(url, args, nursery)
        say(f"server pid {server.process.pid} on port {server.port}")
        try:
            connect_started = trio.current_time()
            subscribers = await connect_subscribers(
                server.port, read_token, args.subscribers, args.sampled, nursery
            )
            say(
                f"{args.subscribers} subscribers ready in "
                f"{trio.current_time() - connect_started:.1f} s; RSS {server.rss_mb():.0f} MB"
            )
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{server.port}", timeout=30
            ) as http:
                await run_phase(http, write_token, subscribers, Phase(args.rate, 1), 15)  # warm-up
                say(f"main phase: {args.rate:g} events/s for {args.seconds:g} s ...")
                meter = CpuMeter()
                main = await run_phase(
                    http, write_token, subscribers, Phase(args.rate, args.seconds), 15
                )
                busy = meter.stop()
                rss = server.rss_mb()
                say(f"main: {main}; server RSS {rss:.0f} MB")
                held = args.rate if holds(main, args) else None
                steps = []
                rate = args.rate
                for _ in range(args.max_steps if held else 0):
                    rate *= 2
                    say(f"step: {rate:g} events/s for {args.step_seconds:g} s ...")
                    step = await run_phase(
                        http, write_token, subscribers, Phase(rate, args.step_seconds), 10
                    )
                    say(f"step {rate:g}: {step}")
                    steps.append({"rate": rate, **step})
                    if not holds(step, args):
                        break
                    held = rate
                rss = max(rss, server.rss_mb())
        finally:
            server.process.send_signal(signal.SIGTERM)
            with trio.move_on_after(15):
                await server.process.wait()
            nursery.cancel_scope.cancel()
    base = await baseline(args)
    say(f"baseline: {base}")
    return {
        "subscribers": args.subscribers,
        "events_per_s": main["events_per_s"],
        "delivered_items_per_s": main["delivered_items_per_s"],
        "delivered_fraction": main["delivered_fraction"],
        "p50_ms": main["p50_ms"],
        "p99_ms": main["p99_ms"],
        "frames_per_s": main["frames_per_s"],
        "items_per_frame": main["items_per_frame"],
        "server_rss_mb": round(rss, 1),
        "max_rate_holding_p99": held,
        "p99_limit_ms": args.p99_limit_ms,
        "coalesce_window_s": args.coalesce,
        "seconds": args.seconds,
        "machine_busy": round(busy["machine_busy"], 2),
        "steps": steps,
        "baseline": base,
        "p99_vs_baseline": round(main["p99_ms"] / base["p99_ms"], 2) if base["p99_ms"] else None,
    }


def holds(result: dict[str, Any], args: argparse.Namespace) -> bool:
    return result["p99_ms"] <= args.p99_limit_ms and (result["delivered_fraction"] or 0) >= 0.999


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="events/s in the main phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the main phase")
    parser.add_argument("--step-seconds", type=float, default=6.0)
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--sampled", type=int, default=50, help="subscribers timing every item")
    parser.add_argument("--p99-limit-ms", type=float, default=250.0)
    parser.add_argument("--coalesce", type=float, default=0.05, help="server coalesce window, s")
    args = parser.parse_args()
    if not (0 < args.subscribers <= 5000 and 0 < args.rate <= 20_000 and 0 < args.seconds <= 120):
        parser.error("need 0 < subscribers <= 5000, 0 < rate <= 20000, 0 < seconds <= 120")
    return args


def main() -> None:
    args = parse_args()
    # The client side holds as many connections as the server: the same
    # collector settings and open-files limit, or its pauses would be measured.
    tune_for_serving()
    on_throwaway_database("bench_ws", lambda url: trio.run(functools.partial(bench, url, args)))


if __name__ == "__main__":
    main()
