"""The in-process publish hook: committed batches out to listeners, never blocking.

The ingest actor calls `publish` right after a commit. Each listener has its
own bounded channel (a broadcast needs one channel per consumer); a listener
that lags loses batches, counted in `dropped`, and never slows ingest.

A tap is a plain function called with each item as it is published, for
bookkeeping that must see every item and costs less than a channel send
(the per-second counters). It must not block or raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import trio

Item = TypeVar("Item")


class PublishHook(Generic[Item]):
    def __init__(self) -> None:
        self._listeners: list[trio.MemorySendChannel[Item]] = []
        self._taps: list[Callable[[Item], None]] = []
        self.published = 0
        self.dropped = 0

    def listen(self, capacity: int) -> trio.MemoryReceiveChannel[Item]:
        """A new listener; close its channel to stop listening."""
        send, receive = trio.open_memory_channel[Item](capacity)
        self._listeners.append(send)
        return receive

    def tap(self, function: Callable[[Item], None]) -> None:
        """Call `function` with every item published from now on."""
        self._taps.append(function)

    def publish(self, item: Item) -> None:
        self.published += 1
        for function in self._taps:
            function(item)
        for listener in list(self._listeners):
            try:
                listener.send_nowait(item)
            except trio.WouldBlock:
                self.dropped += 1
            except trio.BrokenResourceError:
                self._listeners.remove(listener)
