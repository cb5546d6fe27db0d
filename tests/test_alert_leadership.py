"""One instance leads alert evaluation; a dead leader is replaced; a replaced one is fenced."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
import trio

from conftest import StartService, make_settings
from monitor.alert_templates import template_problem
from monitor.domain.alert_rules import parse_rule, rule_document
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import alert_rules as rule_store
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from monitor.storage.leadership import LeaderConnection, LostLeadership, check_epoch
from monitor.storage.migrate import apply_migrations
from processes import clean_environment, serving

POLL = 0.2  # seconds: MONITOR_ALERT_LEADER_POLL in these tests


@pytest.fixture
def leader_database(empty_database_url: str) -> str:
    apply_migrations(empty_database_url)
    return empty_database_url


@pytest.fixture
def open_leader(leader_database: str) -> Iterator[list[LeaderConnection]]:
    opened: list[LeaderConnection] = []
    yield opened
    for connection in opened:
        connection.close()


def _connect(url: str, opened: list[LeaderConnection]) -> LeaderConnection:
    connection = LeaderConnection.open(url, statement_timeout=5)
    opened.append(connection)
    return connection


def _leader_row(url: str) -> tuple[int, str | None]:
    with psycopg.connect(url) as connection:
        row = connection.execute("select epoch, holder from alert_leader").fetchone()
    assert row is not None
    return int(row[0]), row[1]


def test_one_connection_leads_and_the_next_takes_over_once_it_is_gone(
    leader_database: str, open_leader: list[LeaderConnection]
) -> None:
    first = _connect(leader_database, open_leader)
    second = _connect(leader_database, open_leader)
    assert first.try_lead("a") == 1
    assert second.try_lead("b") is None, "the lock is held: nobody else leads"
    assert first.heartbeat(1)
    first.close()  # the session ends: PostgreSQL releases its lock once it has seen the end
    assert _campaign_until_leading(second, "b") == 2
    assert _leader_row(leader_database) == (2, "b")
    assert second.heartbeat(2)
    assert not second.heartbeat(1), "a heartbeat under an old epoch is refused"


def _campaign_until_leading(connection: LeaderConnection, holder: str) -> int:
    deadline = time.monotonic() + 10
    while (epoch := connection.try_lead(holder)) is None:
        assert time.monotonic() < deadline, "the lock was not released"
        time.sleep(0.01)
    return epoch


def test_a_replaced_epoch_cannot_write(
    leader_database: str, open_leader: list[LeaderConnection]
) -> None:
    first = _connect(leader_database, open_leader)
    assert first.try_lead("a") == 1
    first.resign()
    assert _connect(leader_database, open_leader).try_lead("b") == 2  # resign is synchronous
    with (
        psycopg.connect(leader_database) as connection,
        pytest.raises(LostLeadership, match="epoch 1 was replaced by epoch 2"),
    ):
        check_epoch(connection, 1)
    with psycopg.connect(leader_database) as connection:
        check_epoch(connection, 2)  # the current leader writes


def test_a_write_under_the_old_epoch_commits_before_the_new_leader_begins(
    leader_database: str, open_leader: list[LeaderConnection]
) -> None:
    """The fence holds the epoch row: the next leader's epoch bump waits for the write."""
    old = _connect(leader_database, open_leader)
    assert old.try_lead("a") == 1
    writer = psycopg.connect(leader_database)
    try:
        check_epoch(writer, 1)  # the old leader's write transaction is open
        old.close()  # ... when it loses its lock
        new = _connect(leader_database, open_leader)
        new_pid = new.backend_pid
        outcome: list[int | None] = []

        async def main() -> None:
            async with trio.open_nursery() as nursery:

                async def take() -> None:
                    outcome.append(await trio.to_thread.run_sync(_campaign_until_leading, new, "b"))

                nursery.start_soon(take)
                with trio.fail_after(10):
                    while not _waits_on_a_lock(leader_database, new_pid):
                        await trio.sleep(0.02)
                assert outcome == [], "the new leader waits for the old leader's write"
                await trio.to_thread.run_sync(writer.commit)

        trio.run(main)
        assert outcome == [2]
    finally:
        writer.close()


def _waits_on_a_lock(url: str, pid: int) -> bool:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "select wait_event_type from pg_stat_activity where pid = %s", (pid,)
        ).fetchone()
    return row is not None and row[0] == "Lock"


async def test_the_service_leads_and_shows_it_in_stats(
    start_service: StartService, leader_database: str, tmp_path: Path
) -> None:
    """Its own database: a service of another test may not lead in its place."""
    settings = make_settings(leader_database, tmp_path, alert_leader_poll=timedelta(seconds=POLL))
    running = await start_service(settings)
    token = await _read_key(leader_database)
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        with trio.fail_after(10):
            while True:
                stats = (await client.get("/stats", headers={"X-API-Key": token})).json()
                if stats["alert_leadership"]["leading"]:
                    break
                await trio.sleep(POLL / 2)
        first_epoch = stats["alert_leadership"]["epoch"]
        assert first_epoch == _leader_row(leader_database)[0]
        assert stats["alert_leadership"]["terms"] == 1

        # The leader's session is ended under it (a failover, an operator): it notices,
        # gives the lead up, and campaigns again on a new connection.
        await trio.to_thread.run_sync(_terminate_leader_sessions, leader_database)
        with trio.fail_after(10):
            while True:
                stats = (await client.get("/stats", headers={"X-API-Key": token})).json()
                if stats["alert_leadership"]["terms"] == 2:
                    break
                await trio.sleep(POLL / 2)
        assert stats["alert_leadership"]["epoch"] == first_epoch + 1
        assert stats["alert_leadership"]["leading"]


def _terminate_leader_sessions(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        ended = connection.execute(
            "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = current_database() and application_name = 'monitor leader') t"
        ).fetchone()
    assert ended == (1,)


async def test_when_the_leader_is_killed_the_other_process_takes_over(
    empty_database_url: str,
) -> None:
    """... and goes on evaluating the rules: their runs are recorded under its epoch."""
    apply_migrations(empty_database_url)
    rule_id = await _store_rule(empty_database_url)
    env = clean_environment(
        MONITOR_DATABASE_URL=empty_database_url, MONITOR_ALERT_LEADER_POLL=str(POLL)
    )
    async with serving(env=env) as one, serving(env=env) as two:
        by_pid = {one.process.pid: one, two.process.pid: two}
        epoch, holder = await _wait_for_leader(empty_database_url, lambda row: row[1] is not None)
        leader = by_pid[_pid_of(holder)]
        follower = two if leader is one else one
        leader.process.send_signal(signal.SIGKILL)
        killed_at = trio.current_time()
        await leader.wait()
        new_epoch, new_holder = await _wait_for_leader(
            empty_database_url, lambda row: row[0] > epoch
        )
        took = trio.current_time() - killed_at
        assert _pid_of(new_holder) == follower.process.pid
        assert new_epoch == epoch + 1
        assert took < 2 * POLL + 1.0, f"takeover took {took:.2f} s"
        with trio.fail_after(20):
            while await trio.to_thread.run_sync(_run_epoch, empty_database_url, rule_id) != (
                new_epoch
            ):
                await trio.sleep(POLL)


async def _store_rule(url: str) -> int:
    rule = parse_rule(
        {
            "name": "up",
            "kind": "absence",
            "filters": {"type": "heartbeat"},
            "window": "10s",
            "interval": "5s",
        },
        check_template=template_problem,
    )
    async with open_gateway(
        url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        created = await rule_store.create_rule(
            gateway,
            rule_store.RuleFields(rule.name, rule.kind, rule.enabled, rule_document(rule)),
            by=Attribution(Actor.system("tests")),
        )
    return created.id


def _run_epoch(url: str, rule_id: int) -> int | None:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "select epoch from alert_rule_runs where rule_id = %s", (rule_id,)
        ).fetchone()
    return None if row is None else int(row[0])


async def _wait_for_leader(url: str, done: object) -> tuple[int, str]:
    assert callable(done)
    with trio.fail_after(20):
        while True:
            row = await trio.to_thread.run_sync(_leader_row, url)
            if done(row):
                assert row[1] is not None
                return row[0], row[1]
            await trio.sleep(POLL / 4)


def _pid_of(holder: str) -> int:
    """The instance id of a `--port 0` process is `host:pid<pid>`."""
    return int(holder.rsplit(":pid", 1)[1])


async def _read_key(url: str) -> str:
    async with open_gateway(
        url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        _, token = await key_store.create_key(
            gateway,
            name="leadership test",
            role=Role.READ,
            rate_limit=None,
            expires_at=None,
            by=Attribution(Actor.system("tests")),
        )
    return token
