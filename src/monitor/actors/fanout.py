"""The fan-out actor: owns every live subscription and feeds each connection's outbox.

Its inbox carries batches from the bus and subscription changes from the
websocket connections. Batches are gathered for `coalesce_window` seconds, so
a busy stream costs few frames; then each item is encoded once, each distinct
filter of a channel selects its items once, and the resulting chunk (shared
text) is pushed to every subscription with that filter. Every
`stats_interval` it pushes service figures to `stats` subscribers.

Error handling: pushing never waits (an outbox drops its oldest data when
full), so a slow client cannot slow ingest or other clients. A crash restarts
the actor with the subscriptions intact: they live in `Subscriptions`, which
the service creates once.

Resource handling: holds at most one window of batches (bounded by the inbox
size) and one entry per subscription. Subscriptions of a closed connection are
forgotten on `Disconnect`, or at the next stats tick if that message was lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import trio

from monitor.connections import MAX_FRAME_BYTES, DataChunk, Outbox, reply
from monitor.domain.events import LEVEL_NUMBER
from monitor.domain.live_filters import (
    ALERTS,
    EVENTS,
    METRICS,
    STATS,
    EventStreamFilter,
    MetricStreamFilter,
    StreamFilter,
)
from monitor.messages import (
    AlertBatch,
    Disconnect,
    EventBatch,
    FanoutMessage,
    LiveEvent,
    LiveSample,
    LiveSampleBatch,
    Subscribe,
    Unsubscribe,
)

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
Subscriber = tuple[Outbox, str]  # a connection's outbox and the subscription's name


@dataclass
class Subscriptions:
    """Who listens to what. Written only by the fan-out actor; outlives its restarts."""

    by_connection: dict[Outbox, dict[str, tuple[str, StreamFilter | None]]] = field(
        default_factory=dict
    )
    # channel → filter → subscribers; equal filters share one encoded chunk
    by_channel: dict[str, dict[StreamFilter | None, set[Subscriber]]] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(names) for names in self.by_connection.values())

    def listened(self, channel: str) -> bool:
        """Whether any connection subscribes to `channel`."""
        return bool(self.by_channel.get(channel))

    def add(self, outbox: Outbox, name: str, channel: str, filter: StreamFilter | None) -> None:
        self.remove(outbox, name)
        self.by_connection.setdefault(outbox, {})[name] = (channel, filter)
        self.by_channel.setdefault(channel, {}).setdefault(filter, set()).add((outbox, name))

    def remove(self, outbox: Outbox, name: str) -> bool:
        names = self.by_connection.get(outbox, {})
        found = names.pop(name, None)
        if found is None:
            return False
        channel, filter = found
        filters = self.by_channel[channel]
        filters[filter].discard((outbox, name))
        if not filters[filter]:
            del filters[filter]
        if not names:
            del self.by_connection[outbox]
        return True

    def names_on(self, outbox: Outbox, channel: str) -> list[str]:
        return [n for n, (c, _) in self.by_connection.get(outbox, {}).items() if c == channel]

    def forget(self, outbox: Outbox) -> None:
        for name in list(self.by_connection.get(outbox, {})):
            self.remove(outbox, name)

    def forget_closed(self) -> None:
        for outbox in [o for o in self.by_connection if o.closing is not None]:
            self.forget(outbox)


@dataclass
class Pending:
    """Items gathered during the current coalescing window."""

    events: list[LiveEvent] = field(default_factory=list)
    samples: list[LiveSample] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.events or self.samples or self.alerts)


def chunks(encoded: Sequence[bytes], selected: Sequence[int]) -> list[tuple[bytes, int]]:
    """The selected items as comma-joined JSON texts of at most MAX_FRAME_BYTES each."""
    out: list[tuple[bytes, int]] = []
    parts: list[bytes] = []
    size = 0
    for index in selected:
        item = encoded[index]
        if parts and size + len(item) + 1 > MAX_FRAME_BYTES:
            out.append((b",".join(parts), len(parts)))
            parts, size = [], 0
        parts.append(item)
        size += len(item) + 1
    if parts:
        out.append((b",".join(parts), len(parts)))
    return out


def _select_events(items: Sequence[LiveEvent], filter: StreamFilter | None) -> list[int]:
    if filter is None:
        return list(range(len(items)))
    assert isinstance(filter, EventStreamFilter)
    return [
        index
        for index, item in enumerate(items)
        if filter.matches(item.type, item.source, LEVEL_NUMBER[item.level])
    ]


def _select_samples(items: Sequence[LiveSample], filter: StreamFilter | None) -> list[int]:
    if filter is None:
        return list(range(len(items)))
    assert isinstance(filter, MetricStreamFilter)
    return [
        index
        for index, item in enumerate(items)
        if filter.matches(item.name, item.source, item.labels)
    ]


def fan_out(
    subscriptions: Subscriptions,
    channel: str,
    items: Sequence[Any],
    select: Callable[[Sequence[Any], StreamFilter | None], list[int]],
) -> None:
    filters = subscriptions.by_channel.get(channel)
    if not items or not filters:
        return
    encoded = [_encode(item) for item in items]
    for filter, subscribers in filters.items():
        selected = select(items, filter)
        if not selected:
            continue
        for text, count in chunks(encoded, selected):
            shared: dict[str, DataChunk] = {}  # per subscription name: one frame to encode
            for outbox, name in subscribers:
                chunk = shared.get(name)
                if chunk is None:
                    chunk = shared[name] = DataChunk(channel, name, text, count)
                outbox.push(chunk)


def flush(subscriptions: Subscriptions, pending: Pending) -> None:
    fan_out(subscriptions, EVENTS, pending.events, _select_events)
    fan_out(subscriptions, METRICS, pending.samples, _select_samples)
    fan_out(subscriptions, ALERTS, pending.alerts, lambda items, _: list(range(len(items))))


def handle_control(
    subscriptions: Subscriptions,
    message: Subscribe | Unsubscribe | Disconnect,
    max_subscriptions: int,
) -> None:
    outbox = message.outbox
    if isinstance(message, Disconnect) or outbox.closing is not None:
        subscriptions.forget(outbox)
        return
    if isinstance(message, Subscribe):
        held = subscriptions.by_connection.get(outbox, {})
        if message.name not in held and len(held) >= max_subscriptions:
            outbox.push(
                reply(
                    "error",
                    reason=f"at most {max_subscriptions} subscriptions per connection",
                    subscription=message.name,
                )
            )
            return
        subscriptions.add(outbox, message.name, message.channel, message.filter)
        outbox.push(reply("subscribed", channel=message.channel, subscription=message.name))
        return
    names = ([message.name] if message.name is not None else []) + subscriptions.names_on(
        outbox, message.channel or ""
    )
    removed = [name for name in dict.fromkeys(names) if subscriptions.remove(outbox, name)]
    if not removed:
        outbox.push(reply("error", reason="no such subscription", subscription=message.name))
        return
    for name in removed:
        outbox.push(reply("unsubscribed", subscription=name))


StatsSource = Callable[[], Mapping[str, float | int | str | None]]
RATE_FIGURES = ("events_ingested", "samples_ingested")


async def push_stats(subscriptions: Subscriptions, source: StatsSource, interval: float) -> None:
    """Every `interval` seconds: the service's figures, with ingest rates, to `stats`."""
    previous: dict[str, float] = {}
    previous_at = trio.current_time()
    while True:
        await trio.sleep(interval)
        subscriptions.forget_closed()
        figures = dict(source())
        now = trio.current_time()
        elapsed = now - previous_at
        for name in RATE_FIGURES:
            total = float(figures.get(name) or 0)
            if name in previous and elapsed > 0:
                figures[name.replace("_ingested", "_per_s")] = round(
                    (total - previous[name]) / elapsed, 1
                )
            previous[name] = total
        previous_at = now
        figures["subscriptions"] = subscriptions.count()
        figures["time"] = datetime.now(UTC).isoformat()
        subscribers = subscriptions.by_channel.get(STATS, {}).get(None, set())
        if subscribers:
            encoded = _encode(figures)
            for outbox, name in subscribers:
                outbox.push(DataChunk(STATS, name, encoded, 1))


async def run(
    inbox: trio.MemoryReceiveChannel[FanoutMessage],
    subscriptions: Subscriptions,
    stats: StatsSource,
    *,
    coalesce_window: float,
    max_subscriptions: int,
    stats_interval: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(push_stats, subscriptions, stats, stats_interval)
        task_status.started()
        pending = Pending()
        flush_at = float("inf")
        inbox_open = True
        while inbox_open:
            with trio.move_on_at(flush_at):
                try:
                    message = await inbox.receive()
                except trio.EndOfChannel:
                    inbox_open = False
                else:
                    if isinstance(message, EventBatch):
                        pending.events.extend(message.items)
                    elif isinstance(message, LiveSampleBatch):
                        pending.samples.extend(message.items)
                    elif isinstance(message, AlertBatch):
                        pending.alerts.extend(message.items)
                    else:
                        handle_control(subscriptions, message, max_subscriptions)
                    if pending and flush_at == float("inf"):
                        flush_at = trio.current_time() + coalesce_window
            if pending and (trio.current_time() >= flush_at or not inbox_open):
                flush(subscriptions, pending)
                pending = Pending()
                flush_at = float("inf")
        nursery.cancel_scope.cancel()
