"""Check that Redis answers, for /health/ready."""

from __future__ import annotations

import coredis

from monitor.redis.outage import is_outage
from monitor.retry import describe


async def redis_problem(url: str) -> str | None:
    """None when Redis answers PING, else what went wrong. The caller bounds the wait."""
    try:
        client: coredis.Redis[bytes] = coredis.Redis.from_url(url)
        async with client:
            await client.ping()
    except Exception as failure:
        if not is_outage(failure):
            raise
        return describe(failure)
    return None
