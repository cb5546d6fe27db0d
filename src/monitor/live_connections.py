"""Open websocket connections: each one's bounded outbox, and the set of them.

The fan-out actor pushes data into an outbox and never waits; the connection's
writer takes everything pending at once and sends it. When an outbox is full
the oldest data entry is dropped and counted (replies to the client are kept),
so a slow client costs bounded memory and never slows anyone else. How long an
outbox has stayed overflowing tells the connection when to give up on its
client (closed with 1013).

`LiveConnections` is the registry of open connections: it enforces
connections per key and subscriptions per connection, and lets the service
close every websocket (1001) before it stops Hypercorn.

Ownership. Several tasks act on a connection (its reader and writer, the
fan-out, the watchdog, the credential watch), so each piece of its state has
one writer, and it is a method, not a task:
- what a connection subscribes to is written only by `LiveConnections`
  (`subscribe`, `unsubscribe`, `hold`, `release`), which its reader calls; it
  is published as an immutable mapping, `Outbox.subscriptions`, the truth the
  fan-out actor builds its routing index from (and rebuilds it from after a
  restart);
- the credential a connection was admitted with (checked again by the
  `credential_watch` actor) is changed only by `Outbox.renew`, and only its
  expiry can change;
- an outbox's traffic figures are written only by its own methods (`push`,
  `sent`), the registry's (opened, refused, slow closes, ASGI fallbacks) only
  by `LiveConnections` methods; `LiveConnections.counters` adds them up into
  an immutable `LiveCounters` for readers.
Everything here runs on the Trio thread, and no method awaits except
`Outbox.take` and `LiveConnections.wait_empty`, so each method's changes are
seen whole.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import NamedTuple

import msgspec
import trio

from monitor.domain.credentials import Credential
from monitor.domain.live_filters import StreamFilter

NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
TRY_AGAIN_LATER = 1013
# Data frames stay under this size (clients often cap a message at 1 MiB).
MAX_FRAME_BYTES = 256 * 1024
CLOSE_GRACE = 2.0  # seconds a close may wait on a stuck write before the connection is aborted
_encode = msgspec.json.Encoder().encode


class Close(NamedTuple):
    code: int
    reason: str


class DataChunk:
    """Items for one subscription: JSON objects joined by commas, shared by every outbox.

    The fan-out actor makes one chunk per subscription name and batch, so
    every subscriber of an unfiltered stream holds the same object, and its
    frame is encoded once, by the first writer that sends it alone.
    """

    __slots__ = ("_frame", "channel", "items", "items_count", "subscription")

    def __init__(self, channel: str, subscription: str, items: bytes, items_count: int) -> None:
        self.channel = channel
        self.subscription = subscription
        self.items = items
        self.items_count = items_count
        self._frame: bytes | None = None

    def frame(self) -> bytes:
        """The data frame's payload carrying just this chunk."""
        if self._frame is None:
            self._frame = data_frame(self.channel, self.subscription, [self.items])
        return self._frame


def data_frame(channel: str, subscription: str, items: list[bytes]) -> bytes:
    """`{"type":"data","channel":…,"subscription":…,"items":[…]}` from encoded item texts."""
    head = b'{"type":"data","channel":%s,"subscription":%s,"items":[' % (
        _encode(channel),
        _encode(subscription),
    )
    return head + b",".join(items) + b"]}"


def reply(kind: str, **fields: object) -> bytes:
    """A server message other than data (`subscribed`, `error`, `pong`…), ready to send."""
    return _encode({"type": kind, **fields})


Entry = bytes | DataChunk  # a ready text frame (a reply) or data to frame
# A subscription: its channel and filter; a connection's subscriptions by name.
Subscription = tuple[str, StreamFilter | None]
Held = Mapping[str, Subscription]
NOTHING_HELD: Held = MappingProxyType({})


@dataclass(frozen=True)
class LiveCounters:
    """Totals over every connection since start, for /stats and the `stats` channel.

    A snapshot made by `LiveConnections.counters`; nobody writes to it.
    """

    opened: int = 0
    refused: int = 0  # authentication failures and connection limits
    frames_sent: int = 0
    items_sent: int = 0
    frames_dropped: int = 0
    items_dropped: int = 0
    slow_closed: int = 0
    queue_high_water: int = 0  # the deepest any outbox has been
    asgi_fallbacks: int = 0  # connections written through Quart: the socket was out of reach


@dataclass
class Traffic:
    """One outbox's figures, written only by its own methods."""

    frames_sent: int = 0
    items_sent: int = 0
    frames_dropped: int = 0
    items_dropped: int = 0
    high_water: int = 0  # the deepest the outbox has been

    def add(self, other: Traffic) -> None:
        self.frames_sent += other.frames_sent
        self.items_sent += other.items_sent
        self.frames_dropped += other.frames_dropped
        self.items_dropped += other.items_dropped
        self.high_water = max(self.high_water, other.high_water)


class Outbox:
    def __init__(self, capacity: int, credential: Credential, number: int) -> None:
        self.capacity = capacity
        self._credential = credential
        self.number = number  # unique per process; names the connection
        self.traffic = Traffic()  # read by LiveConnections; written by the methods below
        self._subscriptions: Held = NOTHING_HELD  # written by LiveConnections only
        self._queue: deque[Entry] = deque()
        self._wakeup = trio.Event()
        self._overflow_since: float | None = None
        self.closing: Close | None = None
        self.closing_at = 0.0
        self.sending_since: float | None = None  # set by the writer while a send is under way
        # Ends the TCP connection (True if it could); set by the connection's handler.
        self.abort_connection: Callable[[], bool] = lambda: False
        self.aborted = False
        # The close the server's websocket layer went into without us (a 1009
        # it sent, a close from the client), or None while the websocket is
        # open; set by the connection's handler where it can tell.
        self.closed_beneath: Callable[[], Close | None] = lambda: None
        self._beneath_since: float | None = None

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def credential(self) -> Credential:
        return self._credential

    def renew(self, expires_at: datetime | None) -> None:
        """Storage moved the credential's expiry (a session extended): follow it."""
        self._credential = replace(self._credential, expires_at=expires_at)

    @property
    def subscriptions(self) -> Held:
        """What the connection subscribes to: an immutable mapping, replaced on each change."""
        return self._subscriptions

    def sent(self, items: int) -> None:
        """The writer sent one frame carrying `items` data items (0 for a reply)."""
        self.traffic.frames_sent += 1
        self.traffic.items_sent += items

    def push(self, entry: Entry) -> None:
        """Queue `entry` without waiting; when full, drop the oldest data first."""
        if self.closing is not None:
            return
        if len(self._queue) >= self.capacity:
            self._drop_oldest()
            if self._overflow_since is None:
                self._overflow_since = trio.current_time()
        self._queue.append(entry)
        if len(self._queue) > self.traffic.high_water:
            self.traffic.high_water = len(self._queue)
        self._wakeup.set()

    def _drop_oldest(self) -> None:
        for index, entry in enumerate(self._queue):
            if isinstance(entry, DataChunk):
                del self._queue[index]
                self.traffic.items_dropped += entry.items_count
                break
        else:
            self._queue.popleft()
        self.traffic.frames_dropped += 1

    async def take(self) -> list[Entry] | Close:
        """Everything queued (at least one entry), or the Close once one is requested."""
        while not self._queue and self.closing is None:
            self._wakeup = trio.Event()
            await self._wakeup.wait()
        if self.closing is not None:
            return self.closing
        entries = list(self._queue)
        self._queue.clear()
        self._overflow_since = None
        return entries

    def behind_for(self, now: float) -> float:
        """Seconds the outbox has been overflowing without the writer taking from it."""
        if self._overflow_since is None:
            return 0.0
        return now - self._overflow_since

    def abort(self) -> bool:
        """End the TCP connection under a write that never returns; whether it was found."""
        self.aborted = True
        return self.abort_connection()

    def stuck_closing(self, grace: float) -> bool:
        """A close was asked for `grace` seconds ago and a send still has not returned."""
        now = trio.current_time()
        return (
            self.closing is not None
            and self.sending_since is not None
            and now - max(self.sending_since, self.closing_at) >= grace
        )

    def closing_beneath(self, now: float) -> tuple[Close, float] | None:
        """The close begun beneath us while the handler still runs, and for how many seconds."""
        if self.closing is not None:
            return None
        beneath = self.closed_beneath()
        if beneath is None:
            self._beneath_since = None
            return None
        if self._beneath_since is None:
            self._beneath_since = now
        return beneath, now - self._beneath_since

    def close(self, code: int, reason: str) -> None:
        """Ask the writer to close the websocket; the first request wins."""
        if self.closing is None:
            self.closing = Close(code, reason)
            self.closing_at = trio.current_time()
            self._queue.clear()
            self._wakeup.set()


@dataclass
class LiveConnections:
    queue_size: int
    max_per_key: int
    max_subscriptions: int
    _open: dict[int, Outbox] = field(default_factory=dict)
    _per_key: Counter[tuple[str, int]] = field(default_factory=Counter)
    _listeners: Counter[str] = field(default_factory=Counter)  # subscriptions per channel
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _empty: trio.Event = field(default_factory=trio.Event)
    _accepting: bool = True
    _opened: int = 0
    _refused: int = 0
    _slow_closed: int = 0
    _asgi_fallbacks: int = 0
    _released: Traffic = field(default_factory=Traffic)  # of connections no longer open
    # Told the number of open connections each time it changes (the realtime figures).
    on_count: Callable[[int], None] = field(default=lambda count: None)

    def __post_init__(self) -> None:
        self._empty.set()

    def __len__(self) -> int:
        return len(self._open)

    def outboxes(self) -> list[Outbox]:
        return list(self._open.values())

    @property
    def counters(self) -> LiveCounters:
        """The totals since start, added up now."""
        traffic = Traffic()
        traffic.add(self._released)
        for outbox in self._open.values():
            traffic.add(outbox.traffic)
        return LiveCounters(
            opened=self._opened,
            refused=self._refused,
            frames_sent=traffic.frames_sent,
            items_sent=traffic.items_sent,
            frames_dropped=traffic.frames_dropped,
            items_dropped=traffic.items_dropped,
            slow_closed=self._slow_closed,
            queue_high_water=traffic.high_water,
            asgi_fallbacks=self._asgi_fallbacks,
        )

    def open(self, credential: Credential) -> Outbox | Close:
        """A new connection's outbox, or why it may not open."""
        if not self._accepting:
            return Close(GOING_AWAY, "the server is shutting down")
        holder = credential.identity
        if self._per_key[holder] >= self.max_per_key:
            self._refused += 1
            return Close(
                POLICY_VIOLATION, f"this key already holds {self.max_per_key} websocket connections"
            )
        outbox = Outbox(self.queue_size, credential, next(self._numbers))
        self._open[outbox.number] = outbox
        self._per_key[holder] += 1
        self._opened += 1
        self._empty = trio.Event()
        self.on_count(len(self._open))
        return outbox

    def refuse(self) -> None:
        """Count a connection refused before it opened (authentication, rate limit)."""
        self._refused += 1

    def fell_back_to_asgi(self) -> int:
        """Count a connection written through Quart; how many have been, this one included."""
        self._asgi_fallbacks += 1
        return self._asgi_fallbacks

    def close_slow(self, outbox: Outbox) -> None:
        """Close (1013) a connection whose client does not read fast enough."""
        if outbox.closing is None:
            self._slow_closed += 1
            outbox.close(TRY_AGAIN_LATER, "the client is not reading fast enough")

    def subscribe(
        self, outbox: Outbox, name: str, channel: str, filter: StreamFilter | None
    ) -> str | None:
        """Add (or replace) subscription `name`; why it may not be added, or None."""
        held = outbox.subscriptions
        if name not in held and len(held) >= self.max_subscriptions:
            return f"at most {self.max_subscriptions} subscriptions per connection"
        self.hold(outbox, {**held, name: (channel, filter)})
        return None

    def unsubscribe(self, outbox: Outbox, name: str | None, channel: str | None) -> list[str]:
        """Drop subscription `name` and every subscription to `channel`; the names dropped."""
        held = outbox.subscriptions
        dropped = [n for n, (c, _) in held.items() if n == name or c == channel]
        if dropped:
            self.hold(outbox, {n: s for n, s in held.items() if n not in dropped})
        return dropped

    def hold(self, outbox: Outbox, subscriptions: Held) -> None:
        """Make `subscriptions` what the connection holds (also to undo a change)."""
        if outbox.number not in self._open:
            return  # released: a closed connection holds nothing
        self._listeners.subtract(channel for channel, _ in outbox.subscriptions.values())
        self._listeners.update(channel for channel, _ in subscriptions.values())
        outbox._subscriptions = MappingProxyType(dict(subscriptions))

    def listened(self, channel: str) -> bool:
        """Whether any open connection subscribes to `channel`."""
        return self._listeners[channel] > 0

    def subscription_count(self) -> int:
        return sum(self._listeners.values())

    def release(self, outbox: Outbox) -> None:
        if outbox.number not in self._open:
            return
        self.hold(outbox, NOTHING_HELD)
        del self._open[outbox.number]
        outbox.close(GOING_AWAY, "closed")
        self._released.add(outbox.traffic)
        holder = outbox.credential.identity
        self._per_key[holder] -= 1
        if self._per_key[holder] <= 0:
            del self._per_key[holder]
        self.on_count(len(self._open))
        if not self._open:
            self._empty.set()

    def close_all(self, code: int, reason: str) -> None:
        """Refuse new connections and ask every open one to close."""
        self._accepting = False
        for outbox in self._open.values():
            outbox.close(code, reason)

    async def wait_empty(self) -> None:
        while self._open:
            await self._empty.wait()

    def deepest_queue(self) -> int:
        return max((len(outbox) for outbox in self._open.values()), default=0)
