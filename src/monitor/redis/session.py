"""One Redis connection kept open for others to borrow, reopened with backoff when it breaks.

The rate limits and the shared dashboard results hold their client this way.
`maintain` opens it, runs the owner's per-connection setup (`prepare`: load
a script, or just PING) within `timeout`, and lends out what that returns as
`current` until a borrower reports a failed command through `failed`. From
then on `current` is None, so later commands fail at once instead of waiting
on a closing client; the client is closed and reopened after backoff_delay.
Only the first failure of an outage and the recovery are logged (on the
owner's logger, in the owner's words) and counted (in the owner's record).

Error handling: failures that are not Redis outages propagate, from
`maintain` and from `failed`. Resource handling: the one coredis client is
owned by the `maintain` task.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import coredis
import trio
from coredis.retry import NoRetryPolicy

from monitor.redis.outage import is_outage
from monitor.retry import backoff_delay, describe

Ready = TypeVar("Ready")


class OutageRecord(Protocol):
    """Where an owner shows whether Redis is away and how often it went; LimiterCounters is one."""

    redis_degraded: bool
    redis_outages: int


@dataclass
class Outages:
    """An OutageRecord of its own, for an owner without counters to keep it in."""

    redis_degraded: bool = False  # unreachable since it last failed (False before the first try)
    redis_outages: int = 0


@dataclass(frozen=True)
class OutageMessages:
    """What the owner logs when Redis goes away, and when it is back."""

    log: logging.Logger
    went_down: str
    came_back: str


class RedisSession(Generic[Ready]):
    def __init__(
        self,
        url: str,
        prepare: Callable[[coredis.Redis[bytes]], Awaitable[Ready]],
        record: OutageRecord,
        messages: OutageMessages,
        *,
        timeout: float,
        backoff_initial: float,
        backoff_cap: float,
        max_connections: int | None = None,
    ) -> None:
        self._url = url
        self._prepare = prepare
        self._record = record
        self._messages = messages
        self._timeout = timeout
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        self._max_connections = max_connections
        self._current: Ready | None = None
        self._broken = trio.Event()
        self._broken_because = ""

    @property
    def current(self) -> Ready | None:
        """What `prepare` returned for the open connection; None while there is none."""
        return self._current

    def failed(self, failure: Exception, borrowed: Ready) -> str:
        """Why a command on `borrowed` failed, with the connection marked broken.

        Re-raises `failure` when it is not an outage.
        """
        if borrowed is not self._current:
            # Another borrower's failure closed this connection under us:
            # whatever it raised (coredis raises RuntimeError from a closed
            # pool) is the same outage.
            return "the connection was closed"
        if not is_outage(failure):
            raise failure
        self._broken_because = describe(failure)
        self._current = None
        self._broken.set()
        return self._broken_because

    async def maintain(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep a prepared connection open, until cancelled.

        Reports started after the first attempt, whether it connected or not.
        """
        reported = False

        def attempted() -> None:
            nonlocal reported
            if not reported:
                reported = True
                task_status.started()

        failures = 0
        while True:
            reason, was_up = await self._one_connection(attempted)
            failures = 1 if was_up else failures + 1
            self._went_down(reason)
            await trio.sleep(backoff_delay(failures, self._backoff_initial, self._backoff_cap))

    async def _one_connection(self, attempted: Callable[[], object]) -> tuple[str, bool]:
        """Open a connection and lend it out until it breaks; why it ended, and if it came up."""
        client: coredis.Redis[bytes] = coredis.Redis.from_url(
            self._url,
            stream_timeout=self._timeout,
            connect_timeout=self._timeout,
            max_connections=self._max_connections,
            retry_policy=NoRetryPolicy(),
        )
        came_up = False
        try:
            async with client:
                with trio.fail_after(self._timeout):
                    ready = await self._prepare(client)
                self._current = ready
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
            self._current = None
            self._broken = trio.Event()
            attempted()

    def _came_up(self) -> None:
        if self._record.redis_degraded:
            self._messages.log.info(self._messages.came_back)
        self._record.redis_degraded = False

    def _went_down(self, reason: str) -> None:
        if not self._record.redis_degraded:
            self._messages.log.warning(self._messages.went_down, extra={"error": reason})
            self._record.redis_outages += 1
        self._record.redis_degraded = True
