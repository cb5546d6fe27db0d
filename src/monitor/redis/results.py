"""Shared dashboard results in Redis, so every instance reuses what one computed.

Each result is one string `<prefix>results:<sha256 of its key>` written with
SET PX (it disappears when its tick ends). Keys are hashed because a key
holds a whole normalised query string, which may be long.

Error handling: a read or write that fails or takes longer than `timeout`
raises StoreUnavailable at once (the caller computes the result itself) and
marks the connection broken; `maintain` reopens it with a capped backoff,
and until then reads and writes fail without waiting. Only the first failure
of an outage and the recovery are logged. Errors that are not Redis outages
propagate.

Resource handling: one coredis client, owned by the `maintain` task (run by
the supervisor as an actor); requests use it while it is open.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable

import coredis
import trio
from coredis.retry import NoRetryPolicy

from monitor.redis.outage import is_outage
from monitor.retry import backoff_delay, describe
from monitor.shared_results import StoreUnavailable

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 8  # commands are multiplexed; a few connections are plenty


class RedisResults:
    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        timeout: float = 0.25,
        backoff_initial: float = 0.1,
        backoff_cap: float = 5.0,
    ) -> None:
        self._url = url
        self._key_prefix = f"{prefix}results:"
        self._timeout = timeout
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        self._client: coredis.Redis[bytes] | None = None
        self._broken = trio.Event()
        self._broken_because = ""
        self._degraded = False
        self._outages = 0

    @property
    def degraded(self) -> bool:
        """Unreachable since it last failed (False before the first attempt)."""
        return self._degraded

    @property
    def outages(self) -> int:
        return self._outages

    def redis_key(self, key: str) -> str:
        return self._key_prefix + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()

    async def get(self, key: str) -> bytes | None:
        client = self._open_client()
        try:
            with trio.fail_after(self._timeout):
                value: bytes | None = await client.get(self.redis_key(key))
        except Exception as failure:
            raise self._failed(failure, client) from failure
        return value

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        """Keep `value` for `ttl` seconds (rounded up to whole milliseconds)."""
        client = self._open_client()
        try:
            with trio.fail_after(self._timeout):
                await client.set(self.redis_key(key), value, px=max(1, math.ceil(ttl * 1000)))
        except Exception as failure:
            raise self._failed(failure, client) from failure

    def _open_client(self) -> coredis.Redis[bytes]:
        if self._client is None:
            raise StoreUnavailable("not connected")
        return self._client

    def _failed(self, failure: Exception, client: coredis.Redis[bytes]) -> StoreUnavailable:
        """StoreUnavailable for an outage, and the connection marked broken; else re-raised."""
        if client is not self._client:
            # Another request's failure closed this client under us: whatever
            # it raised (coredis raises RuntimeError from a closed pool) is
            # the same outage.
            return StoreUnavailable("the connection was closed")
        if not is_outage(failure):
            raise failure
        self._broken_because = describe(failure)
        self._client = None  # later requests fail at once, not on the closing client
        self._broken.set()
        return StoreUnavailable(self._broken_because)

    async def maintain(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep a connection open, until cancelled. Reports started after the first attempt."""
        reported = False

        def attempted() -> None:
            nonlocal reported
            if not reported:
                reported = True
                task_status.started()

        failures = 0
        while True:
            reason, was_up = await self._one_session(attempted)
            failures = 1 if was_up else failures + 1
            self._went_down(reason)
            await trio.sleep(backoff_delay(failures, self._backoff_initial, self._backoff_cap))

    async def _one_session(self, attempted: Callable[[], object]) -> tuple[str, bool]:
        """Open a connection and lend it out until it breaks; why it ended, and if it came up."""
        client: coredis.Redis[bytes] = coredis.Redis.from_url(
            self._url,
            stream_timeout=self._timeout,
            connect_timeout=self._timeout,
            max_connections=MAX_CONNECTIONS,
            retry_policy=NoRetryPolicy(),
        )
        came_up = False
        try:
            async with client:
                with trio.fail_after(self._timeout):
                    await client.ping()
                self._client = client
                came_up = True
                self._came_up()
                attempted()
                await self._broken.wait()
                return self._broken_because, True
        except Exception as failure:
            if not is_outage(failure):
                raise
            return describe(failure), came_up
        finally:
            self._client = None
            self._broken = trio.Event()
            attempted()

    def _came_up(self) -> None:
        if self._degraded:
            log.info("Redis reachable again; dashboard results are shared again")
        self._degraded = False

    def _went_down(self, reason: str) -> None:
        if not self._degraded:
            log.warning(
                "Redis unreachable; dashboard results are computed on each instance until it "
                "is back",
                extra={"error": reason},
            )
            self._outages += 1
        self._degraded = True
