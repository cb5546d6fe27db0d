"""The in-process bus: what one instance publishes, its own fan-out receives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from monitor.bus.base import BusState, Deliver, Publish
from monitor.messages import LiveBatch


class MemoryBus:
    def __init__(self) -> None:
        self.state = BusState(kind="memory")
        self._deliver: Deliver | None = None

    @asynccontextmanager
    async def publisher(self) -> AsyncIterator[Publish]:
        async def publish(batch: LiveBatch) -> None:
            self.state.published += 1
            if self._deliver is not None:
                self.state.received += 1
                self._deliver(batch)

        yield publish

    async def subscribe(
        self, deliver: Deliver, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._deliver = deliver
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            self._deliver = None
