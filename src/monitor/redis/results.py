"""Shared dashboard results in Redis, so every instance reuses what one computed.

Each result is one string `<prefix>results:<sha256 of its key>` written with
SET PX (it disappears when its tick ends). Keys are hashed because a key
holds a whole normalised query string, which may be long.

Error handling: a read or write that fails or takes longer than `timeout`
raises StoreUnavailable at once (the caller computes the result itself) and
marks the connection broken; `maintain` reopens it with a capped backoff,
and until then reads and writes fail without waiting. Only the first failure
of an outage and the recovery are logged. Errors that are not Redis outages
propagate. The reconnecting loop is `RedisSession`'s (session.py), shared
with the rate limits.

Resource handling: one coredis client, owned by the `maintain` task (run by
the supervisor as an actor); requests use it while it is open.
"""

from __future__ import annotations

import hashlib
import logging
import math

import coredis
import trio

from monitor.redis.session import OutageMessages, Outages, RedisSession
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
        self._key_prefix = f"{prefix}results:"
        self._timeout = timeout
        self._outages = Outages()
        self._session = RedisSession(
            url,
            _pinged,
            self._outages,
            OutageMessages(
                log,
                went_down="Redis unreachable; dashboard results are computed on each instance "
                "until it is back",
                came_back="Redis reachable again; dashboard results are shared again",
            ),
            timeout=timeout,
            backoff_initial=backoff_initial,
            backoff_cap=backoff_cap,
            max_connections=MAX_CONNECTIONS,
        )

    @property
    def degraded(self) -> bool:
        """Unreachable since it last failed (False before the first attempt)."""
        return self._outages.redis_degraded

    @property
    def outages(self) -> int:
        return self._outages.redis_outages

    def redis_key(self, key: str) -> str:
        return self._key_prefix + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()

    async def get(self, key: str) -> bytes | None:
        client = self._open_client()
        try:
            with trio.fail_after(self._timeout):
                value: bytes | None = await client.get(self.redis_key(key))
        except Exception as failure:
            raise StoreUnavailable(self._session.failed(failure, client)) from failure
        return value

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        """Keep `value` for `ttl` seconds (rounded up to whole milliseconds)."""
        client = self._open_client()
        try:
            with trio.fail_after(self._timeout):
                await client.set(self.redis_key(key), value, px=max(1, math.ceil(ttl * 1000)))
        except Exception as failure:
            raise StoreUnavailable(self._session.failed(failure, client)) from failure

    def _open_client(self) -> coredis.Redis[bytes]:
        client = self._session.current
        if client is None:
            raise StoreUnavailable("not connected")
        return client

    async def maintain(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep a connection open, until cancelled. Reports started after the first attempt."""
        await self._session.maintain(task_status=task_status)


async def _pinged(client: coredis.Redis[bytes]) -> coredis.Redis[bytes]:
    await client.ping()
    return client
