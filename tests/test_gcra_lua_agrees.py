"""The Redis GCRA script decides exactly as the Python GCRA, request for request.

Both implementations see the same request sequences: the script runs in the
real Redis, told the time through its optional `now` argument, and must give
the decision, the figures behind the headers (remaining, Retry-After, reset),
the stored TAT and the key's expiry the Python model gives.

The test is a sync hypothesis test talking to Redis through an anyio blocking
portal (a Trio loop in a thread, opened once per test): pytest-trio would run
an async `@given` test's fixtures once per example, i.e. a new client each
time, and a loop over generated sequences inside one async test would lose
hypothesis's shrinking.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import coredis
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import RUN_ID
from monitor.domain.gcra import MICROSECONDS, Decision, Rate, decide, outcome
from monitor.redis.limits import GCRA_SCRIPT

HOUR = 3600 * MICROSECONDS
# After each check the key's real expiry is replaced by this one, so that only
# the test's clock decides (a PX of 1 ms would otherwise expire mid-sequence).
PARKED_MS = 60_000

rates = st.builds(
    Rate,
    limit=st.integers(min_value=1, max_value=50),
    period_us=st.one_of(
        st.sampled_from([MICROSECONDS, 60 * MICROSECONDS, HOUR]),
        st.integers(min_value=1, max_value=HOUR),  # also shorter than the limit: T = 1 µs
    ),
)
# Unix times in µs, today's and beyond; the script's doubles are exact to 2**53.
starts = st.integers(min_value=0, max_value=2**52)


def next_time(now: int, tat: int | None, rate: Rate) -> st.SearchStrategy[int]:
    """A time at or after `now`: equal, close, far, or on the identity's boundaries."""
    near = [
        st.just(now),
        st.just(now + 1),
        st.integers(min_value=now, max_value=now + 2 * rate.period_us),
        st.integers(min_value=now, max_value=now + 10 * 24 * HOUR),
    ]
    if tat is not None:
        first_allowed = tat - rate.tolerance_us
        boundaries = [first_allowed - 1, first_allowed, first_allowed + 1, tat - 1, tat, tat + 1]
        near.append(st.sampled_from([max(now, t) for t in boundaries]))
    return st.one_of(near)


# Redis's clock in whole ms and the key's expiry (unix ms, or < 0 when none),
# read inside the transaction on both sides of the script: its PX counts from a
# moment between the two readings.
CLOCK_SCRIPT = """
local clock = redis.call('TIME')
local ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
return {ms, redis.call('PEXPIRETIME', KEYS[1])}
"""


@dataclass
class Checked:
    decision: Decision
    stored_tat: bytes | None
    px_ms: range  # the PX the script may have set, given the clock readings around it


@dataclass
class LuaGcra:
    portal: BlockingPortal
    client: coredis.Redis[bytes]
    gcra: bytes
    clock: bytes
    prefix: str

    def check(self, key: str, rate: Rate, now: int) -> Checked:
        return self.portal.call(self._check, key, rate, now)

    async def _check(self, key: str, rate: Rate, now: int) -> Checked:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.evalsha(self.clock, keys=[key])
            pipe.evalsha(self.gcra, keys=[key], args=[rate.emission_us, rate.tolerance_us, now])
            pipe.get(key)
            pipe.evalsha(self.clock, keys=[key])
            pipe.pexpire(key, PARKED_MS)
        results: Any = pipe.results
        (before_ms, _), answer, stored, (after_ms, expires_ms), _ = results
        return Checked(
            outcome(rate, bool(answer[0]), int(answer[1])),
            stored,
            range(expires_ms - after_ms, expires_ms - before_ms + 1),
        )

    def restore(self, key: str, tat: int | None) -> None:
        if tat is None:
            self.portal.call(self.client.delete, [key])
        else:
            self.portal.call(partial(self.client.set, key, str(tat), px=PARKED_MS))

    def forget(self, keys: list[str]) -> None:
        self.portal.call(self.client.delete, keys)


@pytest.fixture
def lua_gcra(redis_url: str) -> Iterator[LuaGcra]:
    with start_blocking_portal("trio") as portal:
        client: coredis.Redis[bytes] = coredis.Redis.from_url(redis_url)
        with portal.wrap_async_context_manager(client):
            yield LuaGcra(
                portal,
                client,
                gcra=portal.call(client.script_load, GCRA_SCRIPT),
                clock=portal.call(client.script_load, CLOCK_SCRIPT),
                prefix=f"test:{RUN_ID}:gcra:{uuid.uuid4().hex[:8]}:",
            )


examples = itertools.count()


@settings(
    max_examples=200,
    deadline=None,
    # One client for the whole test is the point; its keys differ per example.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_lua_script_decides_as_python_gcra(lua_gcra: LuaGcra, data: st.DataObject) -> None:
    identities = data.draw(st.lists(rates, min_size=1, max_size=3), label="rates")
    keys = [f"{lua_gcra.prefix}{next(examples)}:{who}" for who in range(len(identities))]
    tats: list[int | None] = [None] * len(identities)
    now = data.draw(starts, label="start")
    try:
        for _ in range(data.draw(st.integers(min_value=1, max_value=40), label="requests")):
            who = data.draw(st.integers(min_value=0, max_value=len(identities) - 1))
            rate = identities[who]
            now = data.draw(next_time(now, tats[who], rate), label=f"time for {who}")

            previous, (expected, tats[who]) = tats[who], decide(rate, tats[who], now)
            checked = lua_gcra.check(keys[who], rate, now)
            while len(checked.px_ms) > 1:  # Redis's clock ticked a ms mid-check: redo it
                lua_gcra.restore(keys[who], previous)
                checked = lua_gcra.check(keys[who], rate, now)

            assert checked.decision == expected
            assert checked.decision.retry_after_s == expected.retry_after_s
            assert checked.stored_tat == str(tats[who]).encode()
            if expected.allowed:
                # TAT - now rounded up to whole ms: the key outlives its TAT by < 1 ms.
                px = -(-(tats[who] - now) // 1000)
                assert checked.px_ms == range(px, px + 1)
    finally:
        lua_gcra.forget(keys)
