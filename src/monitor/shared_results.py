"""Results computed once and shared by every request that asks for the same thing.

Dashboards are polled by many viewers at once. `SharedResults.get_or_compute`
answers a key (route, parameters and tick: `domain/result_keys.py`) with:

1. the result kept in this process, while it is current: a hit;
2. otherwise, if a request on this instance is already computing it, that
   computation's result: the request waits (single flight);
3. otherwise this request leads: it asks the shared store (Redis, when
   configured) and, failing that, computes; the result is kept here and put
   in the store, both until the key's tick ends.

A failed computation is not kept: every request waiting on it gets the same
error and the next request computes again. When the leading request is
cancelled (its client went away), the computation stops with it and one of
the waiting requests takes over, computing afresh; a computation never runs
without a request that wants it.

Across instances only results are shared, not computations: instances that
miss the same key at the same moment each compute it once, then all reuse
whichever result the store holds. Redis being unreachable never fails a
request: the result is computed here and the store's failure counted.

What is kept here is bounded by `max_bytes` (results and keys), least
recently used first out. Counters are written only by `SharedResults` (on the
Trio thread) and read by /stats.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import trio

log = logging.getLogger(__name__)

# What one kept result costs beyond its key and bytes: the entry and dict slot.
ENTRY_OVERHEAD = 200
SWEEP_INTERVAL = 1.0  # seconds between removals of results whose tick is over


class StoreUnavailable(Exception):
    """The shared store did not answer; compute here instead."""


class ResultStore(Protocol):
    """Where instances share results (Redis). Raises StoreUnavailable when it cannot answer."""

    @property
    def degraded(self) -> bool: ...  # unreachable since it last failed

    @property
    def outages(self) -> int: ...

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl: float) -> None: ...


@dataclass
class SharedResultCounters:
    computations: int = 0  # compute() called
    hits_local: int = 0  # answered from this process
    hits_redis: int = 0  # answered from the shared store
    waits: int = 0  # joined a computation already running on this instance
    failures: int = 0  # computations that raised (not kept)
    abandoned: int = 0  # the computing request went away; a waiting one, if any, starts again
    redis_errors: int = 0  # reads and writes the shared store could not serve
    evictions: int = 0  # results dropped before their tick ended, to stay within max_bytes


@dataclass
class _Kept:
    value: bytes
    expires_at: float  # on the cache's clock
    size: int


@dataclass
class _Flight:
    """One computation in progress; `done` is set when it ends, whichever way."""

    done: trio.Event = dataclasses.field(default_factory=trio.Event)
    result: bytes | None = None
    error: Exception | None = None  # neither set: the leader was cancelled


class SharedResults:
    def __init__(
        self,
        *,
        max_bytes: int,
        store: ResultStore | None = None,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._max_bytes = max_bytes
        self._store = store
        self._clock = clock
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._kept_bytes = 0
        self._next_sweep = 0.0
        self._flights: dict[str, _Flight] = {}
        self.counters = SharedResultCounters()

    async def get_or_compute(
        self, key: str, ttl: float, compute: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """The result for `key`, current for `ttl` more seconds; computed at most once here.

        `compute` must depend only on what `key` names (never on who asks):
        its result is handed to every request with the same key. Its errors
        reach every request waiting for it and are not kept.
        """
        expires_at = self._clock() + ttl
        waited = False
        while True:
            kept = self._kept_value(key)
            if kept is not None:
                self.counters.hits_local += 1
                return kept
            flight = self._flights.get(key)
            if flight is None:
                break
            if not waited:
                self.counters.waits += 1
                waited = True
            await flight.done.wait()
            if flight.result is not None:
                return flight.result
            if flight.error is not None:
                raise flight.error
            # The leader was cancelled: look again, and lead if nobody did yet.
        return await self._lead(key, expires_at, compute)

    async def _lead(
        self, key: str, expires_at: float, compute: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        flight = self._flights[key] = _Flight()
        try:
            result, shared = await self._fetch_or_compute(key, compute)
        except Exception as failure:
            flight.error = failure
            raise
        except BaseException:
            self.counters.abandoned += 1
            raise
        else:
            flight.result = result
            self._keep(key, result, expires_at)
        finally:
            del self._flights[key]
            flight.done.set()
        if not shared:
            await self._share(key, result, expires_at)
        return result

    async def _fetch_or_compute(
        self, key: str, compute: Callable[[], Awaitable[bytes]]
    ) -> tuple[bytes, bool]:
        """The result, and whether it came from the shared store."""
        if self._store is not None:
            try:
                shared = await self._store.get(key)
            except StoreUnavailable:
                self.counters.redis_errors += 1
            else:
                if shared is not None:
                    self.counters.hits_redis += 1
                    return shared, True
        self.counters.computations += 1
        try:
            return await compute(), False
        except Exception:
            self.counters.failures += 1
            raise

    async def _share(self, key: str, result: bytes, expires_at: float) -> None:
        ttl = expires_at - self._clock()
        if self._store is None or ttl <= 0:
            return
        try:
            await self._store.put(key, result, ttl)
        except StoreUnavailable:
            self.counters.redis_errors += 1

    def _kept_value(self, key: str) -> bytes | None:
        kept = self._kept.get(key)
        if kept is None:
            return None
        if kept.expires_at <= self._clock():
            self._forget(key)
            return None
        self._kept.move_to_end(key)
        return kept.value

    def _keep(self, key: str, value: bytes, expires_at: float) -> None:
        now = self._clock()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_INTERVAL
            for stale in [k for k, kept in self._kept.items() if kept.expires_at <= now]:
                self._forget(stale)
        size = len(key) + len(value) + ENTRY_OVERHEAD
        if expires_at <= now or size > self._max_bytes:
            return
        if key in self._kept:
            self._forget(key)
        self._kept[key] = _Kept(value, expires_at, size)
        self._kept_bytes += size
        while self._kept_bytes > self._max_bytes:
            if self._forget(next(iter(self._kept))).expires_at > now:
                self.counters.evictions += 1

    def _forget(self, key: str) -> _Kept:
        kept = self._kept.pop(key)
        self._kept_bytes -= kept.size
        return kept

    @property
    def redis_degraded(self) -> bool:
        """Redis is configured but unreachable: results are computed on each instance."""
        return self._store is not None and self._store.degraded

    def figures(self) -> dict[str, Any]:
        """The counters, what is kept now, and the shared store's state, for /stats."""
        store = self._store
        return {
            **dataclasses.asdict(self.counters),
            "entries": len(self._kept),
            "bytes": self._kept_bytes,
            "in_flight": len(self._flights),
            "redis": store is not None,
            "redis_degraded": self.redis_degraded,
            "redis_outages": 0 if store is None else store.outages,
        }
