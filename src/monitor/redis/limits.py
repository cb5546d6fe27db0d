"""Rate-limit decisions on Redis, so every service instance counts against one budget.

Each decision is one run of an atomic Lua script that mirrors
`domain.gcra.decide` on Redis's own clock (instances' clocks need not agree).
The script is loaded once per connection and run with EVALSHA; the decisions
handed over together go to Redis in one pipeline, one round trip.

Error handling: any Redis failure or a wait longer than `timeout` raises
RedisUnavailable at once and marks the connection broken; `maintain` then
reopens it with a capped backoff (reloading the script, which also covers a
restarted Redis that forgot it). Only the first failure of an outage and the
recovery are logged. Errors that are not Redis outages propagate. The
reconnecting loop is `RedisSession`'s (session.py), shared with the results.

Resource handling: one coredis client (one connection for the pipelines),
owned by the `maintain` task; nothing else is held.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import coredis
import trio

from monitor.counters import LimiterCounters
from monitor.domain.gcra import Decision, Rate, outcome
from monitor.redis.session import OutageMessages, RedisSession

log = logging.getLogger(__name__)

# KEYS[1]: the identity's key. ARGV: emission interval and tolerance (µs).
# Returns {1 if allowed else 0, TAT - now after the decision (µs)}.
# string.format('%d') because Lua's tostring would round a 16-digit number.
# ARGV[3], optional and for tests only (tests/test_gcra_lua_agrees.py): `now`
# in µs instead of Redis's TIME. Production calls never pass it, so every
# instance keeps deciding on Redis's one clock.
GCRA_SCRIPT = """
local now = tonumber(ARGV[3])
if now == nil then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
end
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local ahead = tat - now
if ahead > tolerance then return {0, ahead} end
tat = tat + emission
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
return {1, tat - now}
"""


class RedisUnavailable(Exception):
    """Redis did not answer; decide elsewhere."""


@dataclass(frozen=True)
class _Scripted:
    """An open connection and the SHA of the script loaded on it."""

    client: coredis.Redis[bytes]
    sha: bytes


class RedisLimits:
    def __init__(
        self,
        url: str,
        prefix: str,
        counters: LimiterCounters,
        *,
        timeout: float = 0.5,
        backoff_initial: float = 0.1,
        backoff_cap: float = 5.0,
    ) -> None:
        self._key_prefix = f"{prefix}ratelimit:"
        self._counters = counters
        self._timeout = timeout
        self._session = RedisSession(
            url,
            self._load_script,
            counters,
            OutageMessages(
                log,
                went_down="Redis unreachable; rate limits are counted in this process until it "
                "is back",
                came_back="Redis reachable again; rate limits are counted in Redis",
            ),
            timeout=timeout,
            backoff_initial=backoff_initial,
            backoff_cap=backoff_cap,
        )

    @property
    def connected(self) -> bool:
        return self._session.current is not None

    async def maintain(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep a connection with the script loaded, until cancelled.

        Reports started after the first attempt, whether it connected or not.
        """
        await self._session.maintain(task_status=task_status)

    @staticmethod
    async def _load_script(client: coredis.Redis[bytes]) -> _Scripted:
        return _Scripted(client, await client.script_load(GCRA_SCRIPT))

    async def decide(self, checks: Sequence[tuple[str, Rate]]) -> list[Decision]:
        """One decision per (identity, rate), in order, in one round trip.

        Raises RedisUnavailable (and marks the connection broken) on any outage.
        """
        scripted = self._session.current
        if scripted is None:
            raise RedisUnavailable("not connected")
        try:
            with trio.fail_after(self._timeout):
                async with scripted.client.pipeline(transaction=False) as pipe:
                    for identity, rate in checks:
                        pipe.evalsha(
                            scripted.sha,
                            keys=[self._key_prefix + identity],
                            args=[rate.emission_us, rate.tolerance_us],
                        )
            results = pipe.results
        except Exception as failure:
            raise RedisUnavailable(self._session.failed(failure, scripted)) from failure
        self._counters.redis_round_trips += 1
        assert results is not None and len(results) == len(checks)
        return [
            outcome(rate, bool(answer[0]), int(answer[1]))
            for (_, rate), answer in zip(checks, results, strict=True)
        ]
