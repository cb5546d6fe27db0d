"""Leading the alert evaluation: a session advisory lock, an epoch, a fence.

One instance among those sharing the database leads: the one holding the
advisory lock `LEADER_LOCK` on a connection of its own (`LeaderConnection`,
not a pooled one: a session lock lives as long as its session). PostgreSQL
releases the lock when that session ends, so a leader killed with `kill -9`
or cut off from the database leaves it to the next instance that asks.

Taking the lock bumps `alert_leader.epoch` and returns it. Every alert write
runs `check_epoch` first, in the write's own transaction: it reads the epoch
under FOR SHARE and refuses (`LostLeadership`) if it is not the writer's. A
new leader's bump waits for the shared row lock, so a write either commits
before the bump or sees the new epoch and writes nothing: a former leader
that has not noticed its loss yet records nothing (decision 0058).

The leader refreshes `heartbeat_at` on its connection; the refresh is also
how it notices the loss (the epoch moved, or the connection broke).

Error handling: any failure of the leader connection (refused, broken,
terminated, a statement timeout) raises StorageUnavailable from the
LeaderConnection methods; the leadership actor then drops the connection and
campaigns again on a new one. Every statement is bounded by the statement timeout, and TCP
keepalives notice a vanished database host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg

from monitor.storage.errors import StorageUnavailable
from monitor.storage.gateway import Connection, Gateway, connection_options

T = TypeVar("T")

# (namespace, key) of the session advisory lock the leader holds; the namespace
# is distinct from the transaction-level locks of metric_ingest and rollups.
LEADER_LOCK = (7_236_200, 1)


class LostLeadership(Exception):
    """This instance's epoch is no longer the leader's: the write was refused."""


@dataclass(frozen=True)
class LeaderRow:
    """Who leads (or led last), as any instance can read it."""

    epoch: int
    holder: str | None
    since: datetime | None
    heartbeat_at: datetime | None
    heartbeat_age_s: float | None = None  # by the database's clock


@contextmanager
def _unavailable_on_failure() -> Iterator[None]:
    try:
        yield
    except psycopg.OperationalError as failure:
        raise StorageUnavailable(str(failure).strip() or type(failure).__name__) from failure


class LeaderConnection:
    """A connection of its own, on which the leader's lock is taken and kept.

    Used from one worker thread at a time (the leadership actor awaits each
    call), in autocommit: the session lock is not tied to any transaction.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @classmethod
    def open(cls, url: str, *, statement_timeout: float) -> LeaderConnection:
        options: dict[str, Any] = connection_options(url, statement_timeout)
        if "application_name" in options:  # not given by the URL: name this connection
            options["application_name"] = "monitor leader"
        with _unavailable_on_failure():
            return cls(psycopg.connect(url, autocommit=True, **options))

    @property
    def backend_pid(self) -> int:
        """The PostgreSQL session's process id (pg_stat_activity.pid)."""
        return self._connection.info.backend_pid

    def _run(self, work: Callable[[Connection], T]) -> T:
        with _unavailable_on_failure():
            return work(self._connection)

    def try_lead(self, holder: str) -> int | None:
        """Take the lock if nobody holds it: the new epoch, or None (someone leads)."""

        def try_lead(connection: Connection) -> int | None:
            row = connection.execute("select pg_try_advisory_lock(%s, %s)", LEADER_LOCK).fetchone()
            if row is None or not row[0]:
                return None
            bumped = connection.execute(
                "update alert_leader set epoch = epoch + 1, holder = %s, since = now(), "
                "heartbeat_at = now() where id = 1 returning epoch",
                (holder[:256],),
            ).fetchone()
            assert bumped is not None, "migration 0014 inserts the single alert_leader row"
            return int(bumped[0])

        return self._run(try_lead)

    def heartbeat(self, epoch: int) -> bool:
        """Refresh the heartbeat; False if another leader's epoch has replaced ours."""

        def heartbeat(connection: Connection) -> bool:
            row = connection.execute(
                "update alert_leader set heartbeat_at = now() where id = 1 and epoch = %s "
                "returning epoch",
                (epoch,),
            ).fetchone()
            return row is not None

        return self._run(heartbeat)

    def resign(self) -> None:
        """Give the lock back now, rather than when the connection closes."""
        self._run(
            lambda connection: connection.execute("select pg_advisory_unlock(%s, %s)", LEADER_LOCK)
        )

    def close(self) -> None:
        self._connection.close()


def check_epoch(connection: Connection, epoch: int) -> None:
    """Refuse the surrounding transaction's writes unless `epoch` still leads.

    FOR SHARE holds the row until the transaction ends, so a new leader's
    epoch bump (an UPDATE) waits for this transaction: what it writes is
    ordered before the next leader's first write.
    """
    row = connection.execute("select epoch from alert_leader where id = 1 for share").fetchone()
    if row is None or int(row[0]) != epoch:
        current = None if row is None else int(row[0])
        raise LostLeadership(f"leader epoch {epoch} was replaced by epoch {current}")


def _read_leader(connection: Connection) -> LeaderRow:
    row = connection.execute(
        "select epoch, holder, since, heartbeat_at, "
        "extract(epoch from now() - heartbeat_at)::float8 from alert_leader where id = 1"
    ).fetchone()
    if row is None:
        return LeaderRow(0, None, None, None)
    return LeaderRow(int(row[0]), row[1], row[2], row[3], row[4])


async def read_leader(gateway: Gateway) -> LeaderRow:
    return await gateway.run(_read_leader)
