"""Check that Redis answers, for /health/ready."""

from __future__ import annotations

import coredis
import trio

from monitor.supervisor import describe


async def redis_problem(url: str, timeout: float = 1.0) -> str | None:
    """None when Redis answers PING within `timeout` seconds, else what went wrong."""
    try:
        with trio.fail_after(timeout):
            client: coredis.Redis[bytes] = coredis.Redis.from_url(url)
            async with client:
                await client.ping()
    except trio.TooSlowError:
        return f"no answer within {timeout:g} s"
    except (OSError, coredis.exceptions.RedisError, BaseExceptionGroup) as failure:
        return describe(failure)
    return None
