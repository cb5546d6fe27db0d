"""The fan-out actor: routes live data to the subscribed connections' outboxes.

Its inbox carries batches from the bus and, from the websocket connections,
notice that a connection's subscriptions changed. Batches are gathered for
`coalesce_window` seconds, so a busy stream costs few frames; then each item
is encoded once, each distinct filter of a channel selects its items once,
and the resulting chunk (shared text) is pushed to every subscription with
that filter. Every `stats_interval` it pushes service figures to `stats`
subscribers.

Who owns the subscriptions, and why. Each connection's subscriptions are the
truth; they live with the connection (`Outbox.subscriptions`, an immutable
mapping written only through `LiveConnections`, on behalf of the connection's
reader, which also checks the per-connection limit). This actor owns only
`Routes`, an index derived from them (channel → filter → subscribers), which
it creates when it starts and rebuilds from the open connections. So a
restarted actor starts from what the connections hold now, not from state a
crashed incarnation left behind: a connection that closed or unsubscribed
while the actor was down gets nothing, one that subscribed gets its data.
The alternative, an index the service creates so it survives restarts, kept
that index alive past its owner, and it could only be trusted as far as
every message that changed it had been applied exactly once. Here a
`SubscriptionsChanged` message only says "look again" (the actor reads the
connection's current subscriptions), so applying one twice, late, or after a
rebuild is harmless, and a lost one (a `Disconnect` dropped on a full inbox)
is corrected at the next stats tick, when the index drops what the open
connections no longer hold. The tick never adds a route: that waits for the
change's own message, which also answers `subscribed`, so no data comes
before that answer.

Error handling: pushing never waits (an outbox drops its oldest data when
full), so a slow client cannot slow ingest or other clients. A crash loses
the batches of the current window and the replies of the change being
handled; the supervisor restarts the actor, which rebuilds its index.

Resource handling: holds at most one window of batches (bounded by the inbox
size) and one index entry per subscription of an open connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import msgspec
import trio

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
from monitor.live_connections import (
    MAX_FRAME_BYTES,
    NOTHING_HELD,
    DataChunk,
    Held,
    LiveConnections,
    Outbox,
)
from monitor.messages import (
    AlertBatch,
    Disconnect,
    EventBatch,
    FanoutMessage,
    LiveEvent,
    LiveSample,
    LiveSampleBatch,
    SubscriptionsChanged,
)

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
Subscriber = tuple[Outbox, str]  # a connection's outbox and the subscription's name


def _holding(outbox: Outbox) -> Held:
    """What `outbox` is to be routed by: its subscriptions, nothing once it is closing."""
    return outbox.subscriptions if outbox.closing is None else NOTHING_HELD


class Routes:
    """Who listens to what: the fan-out's index of the connections' subscriptions.

    Created by each run of the actor and written only by it. Invariant, after
    `reconcile(open outboxes)`: everything routed is held by an open, not
    closing connection; and for a connection with no change in flight, every
    (name, (channel, filter)) it holds has (outbox, name) in
    `by_channel[channel][filter]`.
    """

    def __init__(self) -> None:
        # the subscriptions each connection was routed by (the very mapping it held)
        self._held: dict[Outbox, Held] = {}
        # channel → filter → subscribers; equal filters share one encoded chunk
        self.by_channel: dict[str, dict[StreamFilter | None, set[Subscriber]]] = {}

    @classmethod
    def of(cls, outboxes: Iterable[Outbox]) -> Routes:
        """The index of what the open connections `outboxes` hold: where a run starts."""
        routes = cls()
        for outbox in outboxes:
            routes.update(outbox)
        return routes

    def update(self, outbox: Outbox) -> None:
        """Route by what `outbox` holds now (nothing once it is closing)."""
        held = _holding(outbox)
        if held is not self._held.get(outbox, NOTHING_HELD):
            self._route(outbox, held)

    def reconcile(self, outboxes: Iterable[Outbox]) -> None:
        """Drop what the open connections `outboxes` no longer hold.

        Only drops: a subscription is added when its `SubscriptionsChanged` is
        handled, which also answers `subscribed`, so a client never gets a
        subscription's data before that answer. A change still on its way in
        the inbox is in flight, not lost (a crash rebuilds with `of`).
        """
        current = set(outboxes)
        for outbox in self._held.keys() - current:
            self.forget(outbox)
        for outbox, before in list(self._held.items()):
            held = _holding(outbox)
            if held is before:
                continue
            kept = {name: each for name, each in before.items() if held.get(name) == each}
            if len(kept) < len(before):
                self._route(outbox, MappingProxyType(kept))

    def _route(self, outbox: Outbox, held: Held) -> None:
        """Route `outbox` by exactly `held`."""
        self.forget(outbox)
        for name, (channel, filter) in held.items():
            self.by_channel.setdefault(channel, {}).setdefault(filter, set()).add((outbox, name))
        if held:
            self._held[outbox] = held

    def forget(self, outbox: Outbox) -> None:
        before = self._held.pop(outbox, NOTHING_HELD)
        for name, (channel, filter) in before.items():
            filters = self.by_channel[channel]
            filters[filter].discard((outbox, name))
            if not filters[filter]:
                del filters[filter]

    def routed(self) -> set[tuple[Outbox, str, str, StreamFilter | None]]:
        """Every (outbox, name, channel, filter) the index routes to; for checks."""
        return {
            (outbox, name, channel, filter)
            for channel, filters in self.by_channel.items()
            for filter, subscribers in filters.items()
            for outbox, name in subscribers
        }


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
    routes: Routes,
    channel: str,
    items: Sequence[Any],
    select: Callable[[Sequence[Any], StreamFilter | None], list[int]],
) -> None:
    filters = routes.by_channel.get(channel)
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


def flush(routes: Routes, pending: Pending) -> None:
    fan_out(routes, EVENTS, pending.events, _select_events)
    fan_out(routes, METRICS, pending.samples, _select_samples)
    fan_out(routes, ALERTS, pending.alerts, lambda items, _: list(range(len(items))))


StatsSource = Callable[[], Mapping[str, float | int | str | None]]
RATE_FIGURES = ("events_ingested", "samples_ingested")


def handle_change(routes: Routes, message: SubscriptionsChanged | Disconnect) -> None:
    outbox = message.outbox
    if isinstance(message, Disconnect):
        routes.forget(outbox)
        return
    routes.update(outbox)
    # Pushed once the index routes by the change, so that data published
    # after the client reads `subscribed` reaches it.
    for answer in message.replies:
        outbox.push(answer)


async def push_stats(
    routes: Routes, connections: LiveConnections, source: StatsSource, interval: float
) -> None:
    """Every `interval` seconds: the service's figures, with ingest rates, to `stats`.

    Each tick also reconciles the index with the open connections, which
    undoes the effect of any lost `Disconnect` or `SubscriptionsChanged`.
    """
    previous: dict[str, float] = {}
    previous_at = trio.current_time()
    while True:
        await trio.sleep(interval)
        routes.reconcile(connections.outboxes())
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
        figures["time"] = datetime.now(UTC).isoformat()
        subscribers = routes.by_channel.get(STATS, {}).get(None, set())
        if subscribers:
            encoded = _encode(figures)
            for outbox, name in subscribers:
                outbox.push(DataChunk(STATS, name, encoded, 1))


async def run(
    inbox: trio.MemoryReceiveChannel[FanoutMessage],
    connections: LiveConnections,
    stats: StatsSource,
    *,
    coalesce_window: float,
    stats_interval: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    # A restart starts from what the open connections hold now.
    routes = Routes.of(connections.outboxes())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(push_stats, routes, connections, stats, stats_interval)
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
                        handle_change(routes, message)
                    if pending and flush_at == float("inf"):
                        flush_at = trio.current_time() + coalesce_window
            if pending and (trio.current_time() >= flush_at or not inbox_open):
                flush(routes, pending)
                pending = Pending()
                flush_at = float("inf")
        nursery.cancel_scope.cancel()
