"""Open websocket connections: each one's bounded outbox, and the set of them.

The fan-out actor pushes data into an outbox and never waits; the connection's
writer takes everything pending at once and sends it. When an outbox is full
the oldest data entry is dropped and counted (replies to the client are kept),
so a slow client costs bounded memory and never slows anyone else. How long an
outbox has stayed overflowing tells the connection when to give up on its
client (closed with 1013).

`LiveConnections` is the web edge's registry: it enforces connections per key
and lets the service close every websocket (1001) before it stops Hypercorn.
Each outbox records the credential its connection was admitted with, which
the `credential_watch` actor checks again while the connection lives.
Everything here is touched only on the Trio thread.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import msgspec
import trio

from monitor.domain.credentials import Credential

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


@dataclass
class LiveCounters:
    """Totals over every connection since start, for /stats and the `stats` channel."""

    opened: int = 0
    refused: int = 0  # authentication failures and connection limits
    frames_sent: int = 0
    items_sent: int = 0
    frames_dropped: int = 0
    items_dropped: int = 0
    slow_closed: int = 0
    queue_high_water: int = 0  # the deepest any outbox has been
    asgi_fallbacks: int = 0  # connections written through Quart: the socket was out of reach


class Outbox:
    def __init__(
        self, capacity: int, credential: Credential, counters: LiveCounters, number: int
    ) -> None:
        self.capacity = capacity
        self.credential = credential
        self.number = number  # unique per process; names the connection
        self._counters = counters
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

    def push(self, entry: Entry) -> None:
        """Queue `entry` without waiting; when full, drop the oldest data first."""
        if self.closing is not None:
            return
        if len(self._queue) >= self.capacity:
            self._drop_oldest()
            if self._overflow_since is None:
                self._overflow_since = trio.current_time()
        self._queue.append(entry)
        if len(self._queue) > self._counters.queue_high_water:
            self._counters.queue_high_water = len(self._queue)
        self._wakeup.set()

    def _drop_oldest(self) -> None:
        for index, entry in enumerate(self._queue):
            if isinstance(entry, DataChunk):
                del self._queue[index]
                self._counters.items_dropped += entry.items_count
                break
        else:
            self._queue.popleft()
        self._counters.frames_dropped += 1

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
    counters: LiveCounters = field(default_factory=LiveCounters)
    _open: dict[int, Outbox] = field(default_factory=dict)
    _per_key: Counter[tuple[str, int]] = field(default_factory=Counter)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _empty: trio.Event = field(default_factory=trio.Event)
    _accepting: bool = True

    def __post_init__(self) -> None:
        self._empty.set()

    def __len__(self) -> int:
        return len(self._open)

    def outboxes(self) -> list[Outbox]:
        return list(self._open.values())

    def open(self, credential: Credential) -> Outbox | Close:
        """A new connection's outbox, or why it may not open."""
        if not self._accepting:
            return Close(GOING_AWAY, "the server is shutting down")
        holder = credential.identity
        if self._per_key[holder] >= self.max_per_key:
            self.counters.refused += 1
            return Close(
                POLICY_VIOLATION, f"this key already holds {self.max_per_key} websocket connections"
            )
        outbox = Outbox(self.queue_size, credential, self.counters, next(self._numbers))
        self._open[outbox.number] = outbox
        self._per_key[holder] += 1
        self.counters.opened += 1
        self._empty = trio.Event()
        return outbox

    def release(self, outbox: Outbox) -> None:
        if self._open.pop(outbox.number, None) is None:
            return
        outbox.close(GOING_AWAY, "closed")
        holder = outbox.credential.identity
        self._per_key[holder] -= 1
        if self._per_key[holder] <= 0:
            del self._per_key[holder]
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
