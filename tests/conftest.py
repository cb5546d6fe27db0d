"""Fixtures that run the real service against the real PostgreSQL and Redis.

Each test run creates its own throw-away database on the shared server
(dropped at the end) and uses its own Redis database number. A service that
cannot be reached fails the run loudly; nothing is skipped.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio
from hypothesis import settings
from psycopg import sql

from monitor import service
from monitor.config import Settings, load_settings
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.live_connections import LiveConnections, LiveCounters
from monitor.storage import keys as key_store
from monitor.storage.gateway import Gateway, open_gateway
from monitor.storage.migrate import apply_migrations
from monitor.supervisor import ActorSpec
from monitor.web.ws.direct import DirectTransport
from processes import TEST_SECRET_KEY

# The suite shares 2 cores with PostgreSQL, Redis, the service and Chromium: an example
# that takes over Hypothesis' default 200 ms deadline says the machine was busy, not
# that the code is wrong, and failed a pure property test once. Examples are still
# bounded by each test's own size and the run's time.
settings.register_profile("shared-machine", deadline=None)
settings.load_profile("shared-machine")

# The browser tests' fixtures (browser, page, console), for every browser test module.
pytest_plugins = ["browser_fixtures"]

SERVER_URL = os.environ.get("MONITOR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MONITOR_TEST_REDIS", "redis://127.0.0.1:6379")
RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"


def database_url_for(name: str) -> str:
    return SERVER_URL.rsplit("/", 1)[0] + "/" + name


def create_database(name: str) -> str:
    try:
        with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=5) as connection:
            connection.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as failure:
        pytest.fail(f"PostgreSQL at {SERVER_URL} is not reachable: {failure}")
    return database_url_for(name)


def drop_database(name: str) -> None:
    with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=5) as connection:
        connection.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


def set_connections_allowed(database_url: str, allowed: bool) -> None:
    """Let (or stop, ending the open sessions) connections to this database: an outage."""
    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/test"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("alter database {} allow_connections {}").format(
                sql.Identifier(name), sql.SQL("true" if allowed else "false")
            )
        )
        if not allowed:
            connection.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = %s and pid <> pg_backend_pid()",
                (name,),
            )


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated database shared by the whole run."""
    name = f"monitor_test_{RUN_ID}"
    url = create_database(name)
    apply_migrations(url)
    yield url
    drop_database(name)


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A fresh, unmigrated database for this test alone."""
    name = f"monitor_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    yield url
    drop_database(name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """This run's own Redis database number, so parallel runs don't meet."""
    import redis_check

    number = redis_check.free_database_number(REDIS_URL)
    return f"{REDIS_URL}/{number}"


def make_settings(database_url: str, data_dir: Path, **changes: Any) -> Settings:
    base = load_settings(
        {
            "MONITOR_DATABASE_URL": database_url,
            "MONITOR_PORT": "0",
            "MONITOR_DATA_DIR": str(data_dir),
            "MONITOR_KEY_USAGE_FLUSH_INTERVAL": "3600",
            "MONITOR_SHUTDOWN_TIMEOUT": "5",
            "MONITOR_DB_CONNECT_TIMEOUT": "5",
            "MONITOR_DB_ACQUIRE_TIMEOUT": "2",
            "MONITOR_DB_POOL_SIZE": "4",
            # Limits far above what any test sends; rate-limit tests set small ones.
            "MONITOR_RATE_LIMIT_PER_IP": "1000000",
            "MONITOR_RATE_LIMIT_PER_KEY": "1000000",
            "MONITOR_AUTH_FAILURES_PER_IP": "1000000",
            "MONITOR_REDIS_PREFIX": f"monitor-test-{RUN_ID}:",
            # Instances sharing Redis need one; the generated key has its own tests.
            "MONITOR_SECRET_KEY": TEST_SECRET_KEY,
            # A channel's test waits on its receiver: keep a fuzzed one's wait short.
            "MONITOR_OUTBOUND_CONNECT_TIMEOUT": "2s",
            "MONITOR_OUTBOUND_TIMEOUT": "4s",
        }
    )
    return base.replace(**changes)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@dataclass
class RunningService:
    base_url: str
    stop: trio.Event
    running: service.Running
    finished: trio.Event

    async def shutdown(self) -> None:
        self.stop.set()
        with trio.fail_after(15):
            await self.finished.wait()


StartService = Callable[..., Awaitable[RunningService]]


@pytest.fixture
def started_services() -> list[RunningService]:
    """Every service `start_service` started in this test."""
    return []


@pytest.fixture
async def start_service(
    nursery: trio.Nursery, started_services: list[RunningService]
) -> AsyncIterator[StartService]:
    """Start the real service on port 0; stopped gracefully after the test."""
    started = started_services

    async def start(
        settings: Settings, *, extra_actors: list[ActorSpec] | None = None
    ) -> RunningService:
        stop = trio.Event()
        finished = trio.Event()

        async def run(*, task_status: trio.TaskStatus[service.Running]) -> None:
            try:
                await service.run(
                    settings,
                    stop=stop,
                    handle_signals=False,
                    extra_actors=extra_actors or [],
                    task_status=task_status,
                )
            finally:
                finished.set()

        with trio.fail_after(30):
            running: service.Running = await nursery.start(run)
        handle = RunningService(f"http://127.0.0.1:{running.port}", stop, running, finished)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        if not handle.finished.is_set():
            await handle.shutdown()


@dataclass(frozen=True)
class Transport:
    """The path websocket frames take in a test: `direct` (to the socket) or `fallback` (Quart)."""

    name: str

    def assert_used(self, opened: int, fallbacks: int) -> None:
        """Each of `opened` admitted websockets took this path (`fallbacks` of them took Quart)."""
        assert opened > 0, "no websocket was admitted: no transport was chosen"
        assert fallbacks == (0 if self.name == "direct" else opened), (self.name, opened, fallbacks)

    def assert_used_by(self, counters: list[LiveCounters]) -> None:
        self.assert_used(sum(c.opened for c in counters), sum(c.asgi_fallbacks for c in counters))


@pytest.fixture(params=["direct", "fallback"], ids=lambda name: f"transport={name}")
def transport(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    started_services: list[RunningService],
) -> Iterator[Transport]:
    """Run a websocket test on both frame paths; checks at its end that the path was taken.

    The fallback is forced as it happens for real: the socket cannot be
    reached from the ASGI scope (another server, HTTP/2, a changed Hypercorn),
    so every connection writes through Quart and is counted in `asgi_fallbacks`.
    Services started with `start_service` (or `running`) are checked here; a
    test on another service calls `assert_used` itself.
    """
    chosen = Transport(str(request.param))
    if chosen.name == "fallback":
        monkeypatch.setattr(DirectTransport, "of", classmethod(lambda cls, scope: None))
    yield chosen
    if started_services:
        chosen.assert_used_by([s.running.connections.counters for s in started_services])


@pytest.fixture
async def running(start_service: StartService, settings: Settings) -> RunningService:
    return await start_service(settings)


@pytest.fixture
async def client(running: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        yield http


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[Gateway]:
    async with open_gateway(
        database_url, pool_size=2, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as opened:
        yield opened


MakeKey = Callable[..., Awaitable[tuple[key_store.KeyRecord, str]]]


@pytest.fixture
def make_key(gateway: Gateway) -> MakeKey:
    """Create an API key directly in storage: make_key("write") → (record, token)."""

    async def make(
        role: str = "admin",
        *,
        name: str | None = None,
        rate_limit: int | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[key_store.KeyRecord, str]:
        return await key_store.create_key(
            gateway,
            name=name or f"test {role} {uuid.uuid4().hex[:6]}",
            role=Role.parse(role),
            rate_limit=rate_limit,
            expires_at=expires_at,
            by=Attribution(Actor.system("tests")),
        )

    return make


@pytest.fixture
async def admin_token(make_key: MakeKey) -> str:
    return (await make_key("admin"))[1]


@dataclass
class ThreadedService:
    """The service running in its own thread and Trio loop, for sync (hypothesis) tests."""

    base_url: str
    admin_token: str
    connections: LiveConnections
    trio_token: trio.lowlevel.TrioToken

    @property
    def counters(self) -> LiveCounters:
        """The websockets' counters now, added up on the service's own thread."""
        return trio.from_thread.run_sync(
            lambda: self.connections.counters, trio_token=self.trio_token
        )


@contextlib.contextmanager
def threaded(settings: Settings) -> Iterator[ThreadedService]:
    """Run the service with `settings` in its own thread, with an admin key, until exit."""
    import threading

    ready: list[service.Running] = []
    failure: list[BaseException] = []
    started = threading.Event()
    token_holder: list[trio.lowlevel.TrioToken] = []
    stop_holder: list[trio.Event] = []

    async def main() -> None:
        stop = trio.Event()
        stop_holder.append(stop)
        token_holder.append(trio.lowlevel.current_trio_token())
        async with trio.open_nursery() as nursery:
            running = await nursery.start(
                lambda task_status: service.run(
                    settings, stop=stop, handle_signals=False, task_status=task_status
                )
            )
            ready.append(running)
            started.set()

    def thread_main() -> None:
        try:
            trio.run(main)
        except BaseException as error:  # reported to the test below
            failure.append(error)
            started.set()

    thread = threading.Thread(target=thread_main, name="threaded-service", daemon=True)
    thread.start()
    assert started.wait(30), "the threaded service did not start"
    if failure:
        raise failure[0]

    database_url = settings.database_url
    assert database_url is not None

    async def admin() -> str:
        async with open_gateway(
            database_url,
            pool_size=1,
            statement_timeout=10,
            acquire_timeout=5,
            connect_timeout=5,
        ) as opened:
            _, token = await key_store.create_key(
                opened,
                name="threaded",
                role=Role.ADMIN,
                rate_limit=None,
                expires_at=None,
                by=Attribution(Actor.system("tests")),
            )
        return token

    yield ThreadedService(
        f"http://127.0.0.1:{ready[0].port}",
        trio.run(admin),
        ready[0].connections,
        token_holder[0],
    )
    trio.from_thread.run_sync(stop_holder[0].set, trio_token=token_holder[0])
    thread.join(30)
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def threaded_service(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedService]:
    with threaded(make_settings(database_url, tmp_path_factory.mktemp("threaded"))) as running:
        yield running
