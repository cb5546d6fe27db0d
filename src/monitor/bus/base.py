"""The bus: one small interface for live batches, in-process or through Redis pub/sub.

A bus carries `LiveBatch`es from the instance that committed them to the
fan-out actor of every instance. `publisher()` opens whatever publishing needs
and yields the publish function; `subscribe(deliver)` runs for the life of the
process and hands every batch to `deliver`, which must not block.

Error handling: an outage surfaces as `BusUnavailable` from the publisher; the
subscriber reconnects by itself with capped backoff and reports its state in
`BusState` (read by /health/ready and /stats).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

import msgspec
import trio

from monitor.messages import LiveBatch

Publish = Callable[[LiveBatch], Awaitable[None]]
Deliver = Callable[[LiveBatch], None]

encode_batch = msgspec.json.Encoder().encode
decode_batch = msgspec.json.Decoder(LiveBatch).decode


class BusUnavailable(Exception):
    """Publishing failed because the bus's backend cannot be reached."""


@dataclass
class BusState:
    kind: str  # "memory" or "redis"
    connected: bool = True
    detail: str | None = None  # why not connected
    published: int = 0
    publish_failures: int = 0
    received: int = 0
    undecodable: int = 0
    dropped_on_delivery: int = 0  # the fan-out actor's inbox was full


class Bus(Protocol):
    state: BusState

    def publisher(self) -> AbstractAsyncContextManager[Publish]: ...

    async def subscribe(
        self, deliver: Deliver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None: ...
