"""The one answer to "is this failure Redis being unreachable?" for every Redis client here.

An outage (connection refused or lost, a timeout, a Redis error reply,
coredis' anyio streams breaking) is retried with backoff and reported as
degraded; anything else is a bug and propagates. An exception group is an
outage only when every leaf is; a cancellation never is.
"""

from __future__ import annotations

import anyio
import coredis
import trio

from monitor.bus.base import BusUnavailable

_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    coredis.exceptions.RedisError,
    trio.TooSlowError,
    trio.BrokenResourceError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    BusUnavailable,
)


def is_outage(failure: BaseException) -> bool:
    if isinstance(failure, BaseExceptionGroup):
        return all(is_outage(leaf) for leaf in failure.exceptions)
    return isinstance(failure, _OUTAGES)
