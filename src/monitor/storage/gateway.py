"""The storage gateway: sync psycopg on a connection pool, driven from Trio threads.

psycopg's async API is asyncio-only, so each unit of work is a plain function
that receives a pooled connection and runs in a worker thread. The whole
`with pool.connection()` block stays inside that thread: a connection never
crosses back into Trio. A CapacityLimiter the size of the pool keeps threads
from queueing on the pool itself.

Error handling: connection failures, pool exhaustion and statement timeouts
become StorageUnavailable (the web edge turns it into 503 + Retry-After); the
pool drops broken connections and opens new ones when the database returns.
Other database errors propagate unchanged: they are bugs or constraint
violations that the calling storage module handles.

Resource handling: at most `pool_size` threads and connections; every
statement is bounded by the server-side `statement_timeout`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import psycopg
import psycopg_pool
import trio

from monitor.config import redact_url
from monitor.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]
Work = Callable[[Connection], T]


def connection_options(statement_timeout: float) -> dict[str, object]:
    return {
        "options": f"-c statement_timeout={int(statement_timeout * 1000)}",
        "application_name": "monitor",
        "connect_timeout": 5,
    }


class Gateway:
    def __init__(self, pool: psycopg_pool.ConnectionPool, acquire_timeout: float) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._limiter = trio.CapacityLimiter(pool.max_size)

    async def run(self, work: Work[T], *, autocommit: bool = False) -> T:
        """Run `work(connection)` in a worker thread inside one transaction.

        The transaction commits when `work` returns and rolls back if it raises.
        With `autocommit`, each statement commits on its own (for statements
        that cannot run in a transaction block). Waiting for a free connection
        is bounded by the acquire timeout, then StorageUnavailable.
        """
        with trio.move_on_after(self._acquire_timeout) as waiting:
            await self._limiter.acquire()
        if waiting.cancelled_caught:
            raise StorageUnavailable(
                f"all {self._pool.max_size} database connections stayed busy "
                f"for {self._acquire_timeout:g} s"
            )
        try:
            return await trio.to_thread.run_sync(self._run_in_thread, work, autocommit)
        finally:
            self._limiter.release()

    def _run_in_thread(self, work: Work[T], autocommit: bool) -> T:
        try:
            with self._pool.connection(timeout=self._acquire_timeout) as connection:
                if not autocommit:
                    return work(connection)
                connection.autocommit = True
                try:
                    return work(connection)
                finally:
                    connection.autocommit = False
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as failure:
            raise StorageUnavailable(str(failure).strip() or type(failure).__name__) from failure

    async def ping(self) -> None:
        """Raise StorageUnavailable unless the database answers a trivial query."""

        def select_one(connection: Connection) -> None:
            connection.execute("select 1")

        await self.run(select_one)


@asynccontextmanager
async def open_gateway(
    url: str,
    *,
    pool_size: int,
    statement_timeout: float,
    acquire_timeout: float,
    connect_timeout: float,
) -> AsyncIterator[Gateway]:
    """Open the pool, waiting up to `connect_timeout` for the database; close it on exit."""
    pool = psycopg_pool.ConnectionPool(
        url,
        min_size=1,
        max_size=pool_size,
        kwargs=connection_options(statement_timeout),
        open=False,
        timeout=acquire_timeout,
        name="monitor",
    )

    def open_pool() -> None:
        try:
            pool.open(wait=True, timeout=connect_timeout)
        except psycopg_pool.PoolTimeout:
            pool.close()
            raise StorageUnavailable(
                f"could not connect to the database at {redact_url(url)} "
                f"within {connect_timeout:g} s"
            ) from None

    await trio.to_thread.run_sync(open_pool)
    try:
        yield Gateway(pool, acquire_timeout)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(pool.close)


def connect(url: str, statement_timeout: float = 60) -> Connection:
    """A single autocommit connection, for migrations and administrative work."""
    try:
        return psycopg.connect(url, autocommit=True, **connection_options(statement_timeout))  # type: ignore[arg-type]
    except psycopg.OperationalError as failure:
        raise StorageUnavailable(
            f"could not connect to the database at {redact_url(url)}: {failure}"
        ) from failure
