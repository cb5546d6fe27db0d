"""The SQL a dashboard route runs, captured from the service itself, and replayed as a baseline.

Capture: the service runs in this process with `Gateway.run` wrapped, so that
every unit of work a request hands the gateway (one transaction) runs on a
connection that records each statement and its parameters before running
it. Only work done for the request being captured counts (the actors' work,
running meanwhile, has no request context), and the API-key lookup is left
out. Nothing about the routes is copied here: whatever they run is what is
replayed, the same statement objects with the same parameters.

Replay: each captured unit in its own transaction, in capture order, on one
psycopg connection opened with the service's own connection options
(`statement_timeout`, `TimeZone`), every row fetched. That is the baseline a
route's time is compared with: the same SQL, without HTTP, authentication,
the route's Python, JSON or the result cache. Units the route ran
concurrently (on several pooled connections) are replayed one after the
other, so a route may beat its baseline.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import quart
import trio

from monitor.storage.gateway import Gateway, connection_options

SKIPPED_TABLES = ("api_keys",)  # authentication, not the route


@dataclass(frozen=True)
class Statement:
    query: Any  # str or psycopg.sql.Composable, as the storage module passed it
    params: Any
    kwargs: dict[str, Any]

    def text(self, connection: psycopg.Connection[Any]) -> str:
        query = self.query
        if isinstance(query, bytes):
            return query.decode()
        return query if isinstance(query, str) else query.as_string(connection)


@dataclass
class Unit:
    """One `Gateway.run`: one transaction (or autocommit statements)."""

    autocommit: bool
    statements: list[Statement] = field(default_factory=list)


class _RecordingCursor:
    def __init__(self, cursor: Any, unit: Unit) -> None:
        self._cursor = cursor
        self._unit = unit

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> _RecordingCursor:
        self._unit.statements.append(Statement(query, params, kwargs))
        self._cursor.execute(query, params, **kwargs)
        return self

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        params_seq = list(params_seq)
        for params in params_seq:
            self._unit.statements.append(Statement(query, params, {}))
        self._cursor.executemany(query, params_seq, **kwargs)

    def __enter__(self) -> _RecordingCursor:
        self._cursor.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cursor.__exit__(*exc)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _RecordingConnection:
    def __init__(self, connection: Any, unit: Unit) -> None:
        self._connection = connection
        self._unit = unit

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        self._unit.statements.append(Statement(query, params, kwargs))
        return self._connection.execute(query, params, **kwargs)

    def cursor(self, *args: Any, **kwargs: Any) -> _RecordingCursor:
        return _RecordingCursor(self._connection.cursor(*args, **kwargs), self._unit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class Capture:
    """Which request path is being captured, and the units of work its requests ran."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.units: list[Unit] = []

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Wrap Gateway.run for as long as the block runs."""
        original = Gateway.run
        capture = self

        async def run(gateway: Gateway, work: Any, *, autocommit: bool = False) -> Any:
            if not capture._wanted():
                return await original(gateway, work, autocommit=autocommit)
            unit = Unit(autocommit)
            capture.units.append(unit)

            def recorded(connection: Any) -> Any:
                return work(_RecordingConnection(connection, unit))

            return await original(gateway, recorded, autocommit=autocommit)

        Gateway.run = run  # type: ignore[method-assign]
        try:
            yield
        finally:
            Gateway.run = original  # type: ignore[method-assign]

    def _wanted(self) -> bool:
        return (
            self.path is not None
            and quart.has_request_context()
            and quart.request.path == self.path
        )

    def take(self, path: str) -> Callable[[], list[Unit]]:
        """Start capturing `path`; the returned function stops and hands over what ran."""
        self.path = path
        self.units = []

        def done() -> list[Unit]:
            self.path = None
            return [
                unit
                for unit in self.units
                if unit.statements and not all(_skipped(s) for s in unit.statements)
            ]

        return done


def _skipped(statement: Statement) -> bool:
    query = statement.query
    text = (
        query.decode()
        if isinstance(query, bytes)
        else query
        if isinstance(query, str)
        else repr(query)
    )
    return any(table in text for table in SKIPPED_TABLES)


def open_replay_connection(url: str, statement_timeout: float) -> psycopg.Connection[Any]:
    """A connection set up as the service's pool sets up its own."""
    options = connection_options(url, statement_timeout)
    return psycopg.connect(url, **options)  # type: ignore[arg-type]


def replay(
    connection: psycopg.Connection[Any],
    units: Sequence[Unit],
    statement_times: list[list[float]] | None = None,
) -> int:
    """Run the units as the route did, one after the other; the rows fetched.

    With `statement_times` (one list per statement, in order), each
    statement's time (execute and fetch) is appended to its list.
    """
    rows = 0
    number = 0
    for unit in units:
        connection.autocommit = unit.autocommit
        context = contextlib.nullcontext() if unit.autocommit else connection.transaction()
        with context:
            for statement in unit.statements:
                began = time.perf_counter()
                cursor = connection.execute(statement.query, statement.params, **statement.kwargs)
                if cursor.description is not None:
                    rows += len(cursor.fetchall())
                if statement_times is not None:
                    statement_times[number].append(time.perf_counter() - began)
                number += 1
    connection.autocommit = False
    return rows


async def replay_async(
    connection: psycopg.Connection[Any],
    units: Sequence[Unit],
    statement_times: list[list[float]] | None = None,
) -> int:
    return await trio.to_thread.run_sync(
        functools.partial(replay, connection, units, statement_times)
    )


def slowest(
    connection: psycopg.Connection[Any],
    units: Sequence[Unit],
    statement_times: list[list[float]],
    count: int = 3,
) -> list[dict[str, Any]]:
    """The `count` statements with the highest median time, with the start of their text."""
    statements = [statement for unit in units for statement in unit.statements]
    ranked = sorted(
        (
            (statistics.median(times), statement)
            for times, statement in zip(statement_times, statements, strict=True)
            if times
        ),
        key=lambda pair: -pair[0],
    )
    return [
        {
            "median_ms": round(seconds * 1000, 2),
            "sql": " ".join(statement.text(connection).split())[:240],
        }
        for seconds, statement in ranked[:count]
    ]
