"""The Redis connection the rate limits and shared results borrow: breaking, reopening, logging."""

from __future__ import annotations

import logging

import coredis
import pytest
import trio

from monitor.redis.session import OutageMessages, Outages, RedisSession

log = logging.getLogger("monitor.test.redis_session")


async def pinged(client: coredis.Redis[bytes]) -> coredis.Redis[bytes]:
    await client.ping()
    return client


Session = RedisSession[coredis.Redis[bytes]]


async def connected_session(
    nursery: trio.Nursery, url: str
) -> tuple[Session, Outages, coredis.Redis[bytes]]:
    """A maintained session on a reachable Redis, its record, and the client it lends."""
    record = Outages()
    session = RedisSession(
        url,
        pinged,
        record,
        OutageMessages(log, went_down="test Redis away", came_back="test Redis back"),
        timeout=1.0,
        backoff_initial=0.01,
        backoff_cap=0.01,
    )
    await nursery.start(session.maintain)
    client = session.current
    assert client is not None
    return session, record, client


async def fail_a_command(session: Session, client: coredis.Redis[bytes]) -> str:
    """Run a command that times out on `client` and report it the way the owners do."""
    try:
        with trio.fail_after(0):
            await client.ping()
    except Exception as failure:
        return session.failed(failure, client)
    raise AssertionError("a command with no time left did not fail")


async def reopened(session: Session) -> coredis.Redis[bytes]:
    with trio.fail_after(5):
        while (client := session.current) is None:
            await trio.sleep(0.01)
    return client


async def test_a_failed_command_stops_lending_at_once_and_the_connection_is_reopened(
    nursery: trio.Nursery, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    session, record, first = await connected_session(nursery, redis_url)
    assert not record.redis_degraded

    assert (await fail_a_command(session, first)).startswith("TooSlowError")
    assert session.current is None  # later commands fail at once, not on the closing client
    second = await reopened(session)

    assert second is not first
    assert await second.ping() == b"PONG"
    assert (record.redis_degraded, record.redis_outages) == (False, 1)
    assert [r.getMessage() for r in caplog.records] == ["test Redis away", "test Redis back"]


async def test_a_command_on_a_connection_another_failure_closed_is_the_same_outage(
    nursery: trio.Nursery, redis_url: str
) -> None:
    session, record, stale = await connected_session(nursery, redis_url)
    await fail_a_command(session, stale)
    current = await reopened(session)  # so the stale client is closed by now

    with pytest.raises(RuntimeError) as raised:  # what coredis raises from a closed pool
        await stale.get("any")
    assert session.failed(raised.value, stale) == "the connection was closed"
    assert session.current is current  # the open connection is not marked broken for it
    assert record.redis_outages == 1


async def test_a_failure_that_is_not_an_outage_propagates_and_keeps_the_connection(
    nursery: trio.Nursery, redis_url: str
) -> None:
    session, record, client = await connected_session(nursery, redis_url)
    bug = ValueError("a bug, not Redis")
    with pytest.raises(ValueError) as raised:
        session.failed(bug, client)
    assert raised.value is bug
    assert session.current is client
    assert not record.redis_degraded
