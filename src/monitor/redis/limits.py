"""Rate-limit decisions on Redis, so every service instance counts against one budget.

Each decision is one run of an atomic Lua script that mirrors
`domain.gcra.decide` on Redis's own clock (instances' clocks need not agree).
The script is loaded once per connection and run with EVALSHA; the decisions
handed over together go to Redis in one pipeline, one round trip.

Error handling: any Redis failure or a wait longer than `timeout` raises
RedisUnavailable at once and marks the connection broken; `maintain` then
reopens it with a capped backoff (reloading the script, which also covers a
restarted Redis that forgot it). Only the first failure of an outage and the
recovery are logged. Errors that are not Redis outages propagate.

Resource handling: one coredis client (one connection for the pipelines),
owned by the `maintain` task; nothing else is held.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import coredis
import trio
from coredis.retry import NoRetryPolicy

from monitor.counters import LimiterCounters
from monitor.domain.gcra import Decision, Rate, outcome
from monitor.redis.outage import is_outage
from monitor.retry import backoff_delay, describe

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
class _Session:
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
        self._url = url
        self._key_prefix = f"{prefix}ratelimit:"
        self._counters = counters
        self._timeout = timeout
        self._backoff_initial = backoff_initial
        self._backoff_cap = backoff_cap
        self._session: _Session | None = None
        self._broken = trio.Event()
        self._broken_because = ""

    @property
    def connected(self) -> bool:
        return self._session is not None

    async def maintain(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep a connection with the script loaded, until cancelled.

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
            reason, was_up = await self._one_session(attempted)
            failures = 1 if was_up else failures + 1
            self._went_down(reason)
            await trio.sleep(backoff_delay(failures, self._backoff_initial, self._backoff_cap))

    async def _one_session(self, attempted: Callable[[], object]) -> tuple[str, bool]:
        """Open a connection and serve decisions until it breaks.

        Returns why it ended and whether it had come up.
        """
        client: coredis.Redis[bytes] = coredis.Redis.from_url(
            self._url,
            stream_timeout=self._timeout,
            connect_timeout=self._timeout,
            retry_policy=NoRetryPolicy(),
        )
        try:
            async with client:
                with trio.fail_after(self._timeout):
                    sha = await client.script_load(GCRA_SCRIPT)
                self._session = _Session(client, sha)
                self._came_up()
                attempted()
                await self._broken.wait()
                return self._broken_because, True
        except Exception as failure:
            if not is_outage(failure):
                raise
            return describe(failure), self._session is not None
        finally:
            self._session = None
            self._broken = trio.Event()
            attempted()

    def _came_up(self) -> None:
        if self._counters.redis_degraded:
            log.info("Redis reachable again; rate limits are counted in Redis")
        self._counters.redis_degraded = False

    def _went_down(self, reason: str) -> None:
        if not self._counters.redis_degraded:
            log.warning(
                "Redis unreachable; rate limits are counted in this process until it is back",
                extra={"error": reason},
            )
            self._counters.redis_outages += 1
        self._counters.redis_degraded = True

    async def decide(self, checks: Sequence[tuple[str, Rate]]) -> list[Decision]:
        """One decision per (identity, rate), in order, in one round trip.

        Raises RedisUnavailable (and marks the connection broken) on any outage.
        """
        session = self._session
        if session is None:
            raise RedisUnavailable("not connected")
        try:
            with trio.fail_after(self._timeout):
                async with session.client.pipeline(transaction=False) as pipe:
                    for identity, rate in checks:
                        pipe.evalsha(
                            session.sha,
                            keys=[self._key_prefix + identity],
                            args=[rate.emission_us, rate.tolerance_us],
                        )
            results = pipe.results
        except Exception as failure:
            if not is_outage(failure):
                raise
            self._broken_because = describe(failure)
            self._broken.set()
            raise RedisUnavailable(self._broken_because) from failure
        self._counters.redis_round_trips += 1
        assert results is not None and len(results) == len(checks)
        return [
            outcome(rate, bool(answer[0]), int(answer[1]))
            for (_, rate), answer in zip(checks, results, strict=True)
        ]
