"""Check that Redis answers, for /health/ready."""

from __future__ import annotations

import coredis

from monitor.supervisor import describe


async def redis_problem(url: str) -> str | None:
    """None when Redis answers PING, else what went wrong. The caller bounds the wait."""
    try:
        client: coredis.Redis[bytes] = coredis.Redis.from_url(url)
        async with client:
            await client.ping()
    except (OSError, coredis.exceptions.RedisError, BaseExceptionGroup) as failure:
        return describe(failure)
    return None
