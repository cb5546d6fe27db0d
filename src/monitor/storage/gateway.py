"""The storage gateway: sync psycopg on a connection pool, driven from Trio threads.

psycopg's async API is asyncio-only, so each unit of work is a plain function
that receives a pooled connection and runs in a worker thread. The whole
`with pool.connection()` block stays inside that thread: a connection never
crosses back into Trio. A CapacityLimiter the size of the pool keeps threads
from queueing on the pool itself.

Error handling: connection failures, pool exhaustion and statement timeouts
become StorageUnavailable (the web edge turns it into 503 + Retry-After); the
pool checks a connection before lending it, drops broken ones and opens new
ones when the database returns. While the database is known to be down, calls
fail at once instead of each waiting out the acquire timeout; one call a
second probes whether it is back. Other database errors propagate unchanged:
they are bugs or constraint violations that the calling storage module handles.

Start-up: `wait_for_database` tells a database that is not there yet (refused,
timed out, still starting) from one that refuses us for good (wrong database,
role or password): the first is retried with one progress line until the
connect timeout, the second fails at once with the server's reason.

Resource handling: at most `pool_size` connections, and as many worker threads
plus those abandoned by a cancelled caller (the thread finishes on its own and
returns its connection; nothing else touches it). Every statement is bounded
by the server-side `statement_timeout`; TCP keepalives and `tcp_user_timeout`
notice a database host that vanished.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import msgspec
import psycopg
import psycopg_pool
import trio
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import set_json_loads

from monitor.domain.urls import redact_url
from monitor.retry import Backoff
from monitor.storage.connect_errors import DatabaseRefused, classify
from monitor.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]
Work = Callable[[Connection], T]


PROBE_INTERVAL = 1.0  # seconds between attempts while the database is down
FIRST_RETRY_DELAY = 0.1  # start-up: doubling up to MAX_RETRY_DELAY between attempts
MAX_RETRY_DELAY = 2.0

# jsonb values (labels, attributes) are parsed by msgspec: several times faster
# than the standard library on the query paths that return many rows.
set_json_loads(msgspec.json.decode)


def connection_options(url: str, statement_timeout: float) -> dict[str, object]:
    """Our connection parameters, beneath those the URL sets itself.

    psycopg lets keyword arguments override the URL, so a parameter the URL
    gives is left out here, and the URL's `options` come after ours
    (PostgreSQL takes the last `-c` of a setting): the operator's URL wins.
    """
    given = conninfo_to_dict(url)
    ours: dict[str, object] = {
        "application_name": "monitor",
        "connect_timeout": 5,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "tcp_user_timeout": int((statement_timeout + 30) * 1000),
    }
    options = f"-c statement_timeout={int(statement_timeout * 1000)} -c TimeZone=UTC"
    if given.get("options"):
        options = f"{options} {given['options']}"
    return {"options": options, **{k: v for k, v in ours.items() if k not in given}}


def _is_outage(failure: Exception) -> bool:
    """A failure that says the database cannot be reached (not a slow query)."""
    if isinstance(failure, psycopg_pool.PoolTimeout):
        return True
    return isinstance(failure, psycopg.OperationalError) and not isinstance(
        failure, psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable
    )


class _Outage(StorageUnavailable):
    """Raised in the worker thread when the database itself cannot be reached."""


class Gateway:
    def __init__(self, pool: psycopg_pool.ConnectionPool, acquire_timeout: float) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._limiter = trio.CapacityLimiter(pool.max_size)
        self._down = False
        self._probing = False
        self._next_probe = 0.0

    def _check_breaker(self) -> bool:
        """Raise while the database is known to be down; True if this call is the probe."""
        if not self._down:
            return False
        if self._probing or trio.current_time() < self._next_probe:
            raise StorageUnavailable("the database is unreachable")
        self._probing = True
        return True

    async def run(self, work: Work[T], *, autocommit: bool = False) -> T:
        """Run `work(connection)` in a worker thread inside one transaction.

        The transaction commits when `work` returns and rolls back if it raises.
        With `autocommit`, each statement commits on its own (for statements
        that cannot run in a transaction block). Waiting for a free connection
        is bounded by the acquire timeout, then StorageUnavailable.
        """
        probe = self._check_breaker()
        try:
            with trio.move_on_after(self._acquire_timeout) as waiting:
                await self._limiter.acquire()
            if waiting.cancelled_caught:
                raise StorageUnavailable(
                    f"all {self._pool.max_size} database connections stayed busy "
                    f"for {self._acquire_timeout:g} s"
                )
            try:
                result = await trio.to_thread.run_sync(
                    self._run_in_thread, work, autocommit, abandon_on_cancel=True
                )
            finally:
                self._limiter.release()
        except _Outage as outage:
            self._down = True
            self._next_probe = trio.current_time() + PROBE_INTERVAL
            raise StorageUnavailable(str(outage)) from outage.__cause__
        finally:
            if probe:
                self._probing = False
        self._down = False
        return result

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
            message = str(failure).strip() or type(failure).__name__
            if _is_outage(failure):
                raise _Outage(message) from failure
            raise StorageUnavailable(message) from failure

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
        kwargs=connection_options(url, statement_timeout),
        check=psycopg_pool.ConnectionPool.check_connection,
        open=False,
        timeout=acquire_timeout,
        name="monitor",
    )

    def open_pool() -> None:
        try:
            with _quiet_pool_attempts():
                pool.open(wait=True, timeout=connect_timeout)
        except psycopg_pool.PoolTimeout:
            pool.close()
            raise StorageUnavailable(
                f"could not connect to the database at {redact_url(url)} "
                f"within {connect_timeout:g} s"
            ) from None

    # Abandoned if start-up is cancelled (a signal): the process is exiting.
    await trio.to_thread.run_sync(open_pool, abandon_on_cancel=True)
    try:
        yield Gateway(pool, acquire_timeout)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(pool.close)


async def wait_for_database(url: str, *, connect_timeout: float, statement_timeout: float) -> None:
    """Return once `url` accepts a connection; fail at once if it never will.

    Raises DatabaseRefused for a permanent refusal (wrong database, role,
    password or parameter) and StorageUnavailable when `connect_timeout` passes
    while the database is unreachable or still starting. Logs one line, not one per
    attempt, while it waits.
    """
    began = trio.current_time()
    deadline = began + connect_timeout
    backoff = Backoff(FIRST_RETRY_DELAY, MAX_RETRY_DELAY)
    delay = backoff.next()
    waited = False

    def attempt(seconds: int) -> None:
        options = {**connection_options(url, statement_timeout), "connect_timeout": seconds}
        psycopg.connect(url, autocommit=True, **options).close()  # type: ignore[arg-type]

    last_reason = "no answer"
    while True:
        # libpq counts connect_timeout in whole seconds, at least 2; the
        # deadline itself is kept here (a slow DNS lookup is abandoned too).
        seconds = max(2, min(5, int(deadline - trio.current_time()) + 1))
        with trio.move_on_at(deadline) as attempt_scope:
            try:
                await trio.to_thread.run_sync(attempt, seconds, abandon_on_cancel=True)
            except psycopg.Error as failure:
                problem = classify(failure, url)
                if problem.permanent:
                    raise DatabaseRefused(f"{problem.reason} ({redact_url(url)})") from None
                last_reason = problem.reason
            else:
                if waited:
                    log.info(
                        "the database is reachable",
                        extra={"waited_s": round(trio.current_time() - began, 1)},
                    )
                return
        if attempt_scope.cancelled_caught or trio.current_time() + delay >= deadline:
            raise StorageUnavailable(
                f"could not connect to the database at {redact_url(url)} "
                f"within {connect_timeout:g} s: {last_reason}"
            )
        if not waited:
            log.warning(
                f"waiting for the database at {_where(url)}",
                extra={"reason": last_reason, "gives_up_after_s": connect_timeout},
            )
            waited = True
        await trio.sleep(delay)
        delay = backoff.next()


def _where(url: str) -> str:
    """host:port (or the socket directory) of a connection URL, for messages."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return redact_url(url)
    host = str(params.get("host") or "the local socket")
    port = params.get("port") or "5432"
    return host if host.startswith("/") or host == "the local socket" else f"{host}:{port}"


class _DropConnectAttempts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("error connecting")


@contextmanager
def _quiet_pool_attempts() -> Iterator[None]:
    """Silence psycopg_pool's warning per failed connection attempt while the pool opens.

    A start-up that fails says why in one line of its own; the pool's
    background reconnections after start-up still log as before.
    """
    pool_log = logging.getLogger("psycopg.pool")
    quiet = _DropConnectAttempts()
    pool_log.addFilter(quiet)
    try:
        yield
    finally:
        pool_log.removeFilter(quiet)


def connect(url: str, statement_timeout: float = 60) -> Connection:
    """A single autocommit connection, for migrations and administrative work."""
    try:
        return psycopg.connect(url, autocommit=True, **connection_options(url, statement_timeout))  # type: ignore[arg-type]
    except psycopg.OperationalError as failure:
        raise StorageUnavailable(
            f"could not connect to the database at {redact_url(url)}: {failure}"
        ) from failure
