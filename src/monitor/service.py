"""`monitor serve`: the root nursery that runs everything, and its graceful stop.

Start-up order: the instance's identity and secret key (a missing key stops
start-up before anything else) → database (embedded or DATABASE_URL) →
migrations → an admin key if no active one exists → storage gateway →
supervisor with the actors → Hypercorn. Stop order (SIGINT/SIGTERM or `stop`
set): Hypercorn stops accepting and finishes in-flight requests; then the
actors' inboxes are closed so each drains and returns; whatever is still
running after `shutdown_timeout` is cancelled; the embedded database is
stopped last.
"""

from __future__ import annotations

import functools
import logging
import signal
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import trio
from hypercorn.config import Config as HypercornConfig
from quart_trio import QuartTrio

from monitor import logs
from monitor.actors import maintenance
from monitor.bus.hook import PublishHook
from monitor.config import Settings
from monitor.config.identity import Identity, identify, public_url_warning
from monitor.domain.partitions import partitions_ahead
from monitor.live_connections import GOING_AWAY, LiveConnections
from monitor.messages import (
    Publishable,
)
from monitor.secret_keys import LoadedKeys, load_secret_keys
from monitor.storage import keys as key_store
from monitor.storage import partitions as partition_store
from monitor.storage.embedded import open_embedded_database, serve_lock
from monitor.storage.gateway import Gateway, open_gateway, wait_for_database
from monitor.storage.migrate import apply_migrations
from monitor.supervisor import ActorSpec, Supervisor
from monitor.web.app import create_app
from monitor.web.server import serve as http_serve
from monitor.wiring import wire

log = logging.getLogger(__name__)

WEBSOCKET_MAX_MESSAGE_BYTES = 64 * 1024  # client messages are small; larger closes with 1009


@dataclass(frozen=True)
class Running:
    """Handed back by `run` once the service listens."""

    port: int
    binds: list[str]
    identity: Identity
    supervisor: Supervisor
    # Events and samples after their commit, and alert transitions: what is
    # published here streams live to websocket clients (of every instance).
    committed: PublishHook[Publishable]
    connections: LiveConnections
    # Its routes, for checks that walk every one (the role matrix test).
    app: QuartTrio


@asynccontextmanager
async def open_database(settings: Settings, *, exclusive: bool) -> AsyncIterator[str]:
    """Yield a database URL: DATABASE_URL, or the embedded server in the data directory.

    A DATABASE_URL is first waited for (up to the connect timeout), unless it
    refuses us for good: then DatabaseRefused at once. `exclusive` (for
    `serve`) also holds the data directory's serve lock, so a second `serve`
    on the same directory fails instead of sharing it.
    """
    if settings.database_url is not None:
        await wait_for_database(
            settings.database_url,
            connect_timeout=settings.db_connect_timeout.total_seconds(),
            statement_timeout=settings.db_statement_timeout.total_seconds(),
        )
        yield settings.database_url
        return
    if exclusive:
        with serve_lock(settings.data_dir):
            async with open_embedded_database(settings.data_dir) as url:
                yield url
    else:
        async with open_embedded_database(settings.data_dir) as url:
            yield url


@asynccontextmanager
async def open_storage(settings: Settings, url: str) -> AsyncIterator[Gateway]:
    async with open_gateway(
        url,
        pool_size=settings.db_pool_size,
        statement_timeout=settings.db_statement_timeout.total_seconds(),
        acquire_timeout=settings.db_acquire_timeout.total_seconds(),
        connect_timeout=settings.db_connect_timeout.total_seconds(),
    ) as gateway:
        yield gateway


def announce_bootstrap_key(token: str) -> None:
    """The one time a secret is shown outside an API response: stdout, never the log."""
    rule = "=" * 72
    print(
        f"{rule}\n"
        "monitor: no active admin API key existed, so an admin key was created.\n"
        "It is shown only this once; store it now (e.g. in a password manager):\n\n"
        f"    {token}\n\n"
        "Create more with `monitor keys create` or POST /api/v1/keys.\n"
        f"{rule}",
        flush=True,
    )


async def watch_signals(stop: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for received in signals:
            log.info("stopping", extra={"signal": signal.Signals(received).name})
            stop.set()
            return


async def run(
    settings: Settings,
    *,
    stop: trio.Event | None = None,
    handle_signals: bool = True,
    extra_actors: Sequence[ActorSpec] = (),
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the service until `stop` is set or SIGINT/SIGTERM arrives.

    A signal during start-up abandons the start-up and stops whatever was
    already started (the embedded database included); afterwards it begins
    the graceful stop.
    """
    stop = trio.Event() if stop is None else stop
    started_at = time.time()
    identity = identify(settings)
    # Every line logged from here on, by this task and the ones it starts, names the instance.
    logs.instance_id.set(identity.instance_id)
    warning = public_url_warning(settings, identity)
    if warning is not None:
        log.warning(warning, extra={"public_url": identity.public_url})
    # Before the database: a missing key is a configuration error to report at once.
    loaded = await trio.to_thread.run_sync(load_secret_keys, settings)
    if loaded.created is not None:
        log.info("created a secret key", extra={"path": str(loaded.created)})
    async with trio.open_nursery() as signals:
        if handle_signals:
            signals.start_soon(watch_signals, stop)
        async with AsyncExitStack() as resources:
            with trio.CancelScope() as start_up:
                async with trio.open_nursery() as guard:
                    guard.start_soon(_cancel_when_set, stop, start_up)
                    database_url = await resources.enter_async_context(
                        open_database(settings, exclusive=True)
                    )
                    gateway = await resources.enter_async_context(
                        open_storage(settings, database_url)
                    )
                    await _prepare_database(gateway, database_url)
                    guard.cancel_scope.cancel()
            if stop.is_set():
                log.info("stopped during start-up")
            else:
                await _serve(
                    settings,
                    _Started(gateway, database_url, identity, loaded, started_at),
                    stop,
                    extra_actors,
                    task_status,
                )
        signals.cancel_scope.cancel()
    log.info("stopped")


async def _cancel_when_set(stop: trio.Event, scope: trio.CancelScope) -> None:
    await stop.wait()
    scope.cancel()


async def _prepare_database(gateway: Gateway, database_url: str) -> None:
    await trio.to_thread.run_sync(apply_migrations, database_url)
    # Today's and the next days' partitions exist before the first request.
    for table in ("events", "samples"):
        await partition_store.create_partitions(
            gateway, table, partitions_ahead(datetime.now(UTC), maintenance.DAYS_AHEAD)
        )
    bootstrap = await key_store.create_bootstrap_key(gateway)
    if bootstrap is not None:
        announce_bootstrap_key(bootstrap[1])


@dataclass(frozen=True)
class _Started:
    """What start-up settled before serving."""

    gateway: Gateway
    database_url: str  # for connections of their own (the alert leader's lock)
    identity: Identity
    loaded: LoadedKeys
    started_at: float


async def _serve(
    settings: Settings,
    started: _Started,
    stop: trio.Event,
    extra_actors: Sequence[ActorSpec],
    task_status: trio.TaskStatus[Running],
) -> None:
    supervisor = Supervisor()
    wired = wire(
        settings,
        started.gateway,
        supervisor,
        database_url=started.database_url,
        started_at=started.started_at,
        identity=started.identity,
        secret_keys=started.loaded.keys,
        extra_actors=extra_actors,
    )
    deps, connections, actors = wired.deps, wired.connections, wired.actors
    app = create_app(deps)
    async with trio.open_nursery() as root:
        await root.start(supervisor.run, actors)
        async with trio.open_nursery() as http:
            binds: list[str] = await http.start(
                functools.partial(
                    http_serve,
                    app,
                    _hypercorn_config(settings),
                    deps.tcp,
                    header_timeout=settings.header_timeout.total_seconds(),
                    send_timeout=settings.send_timeout.total_seconds(),
                    shutdown_trigger=stop.wait,
                )
            )
            log.info("listening", extra={"binds": binds, "public_url": started.identity.public_url})
            task_status.started(
                Running(
                    port=_bound_port(binds),
                    binds=binds,
                    identity=started.identity,
                    supervisor=supervisor,
                    committed=wired.committed,
                    connections=connections,
                    app=app,
                )
            )
            await stop.wait()
            # Hypercorn has stopped accepting. The whole stop is bounded by one
            # deadline: websockets are closed with 1001 (an open one would hold
            # Hypercorn's stop), in-flight requests finish, then idle
            # keep-alive connections are closed at once.
            deadline = trio.current_time() + settings.shutdown_timeout.total_seconds()
            connections.close_all(GOING_AWAY, "the server is shutting down")
            with trio.move_on_at(deadline) as closing:
                await connections.wait_empty()
            if closing.cancelled_caught:
                log.warning(
                    "websockets still open at the stop deadline",
                    extra={"connections": len(connections)},
                )
            with trio.move_on_at(deadline) as requests:
                await deps.counters.wait_idle()
            if requests.cancelled_caught:
                log.warning("requests still in flight at the stop deadline; cancelling them")
            http.cancel_scope.cancel()
        # No handler can send to the actors any more: closing their inboxes
        # lets each drain what it holds and return.
        supervisor.stop_restarting()
        for inbox in wired.inboxes:
            await inbox.aclose()
        with trio.move_on_at(deadline) as drain:
            await supervisor.finished.wait()
        if drain.cancelled_caught:
            log.warning("actors did not drain in time; cancelling them")
        root.cancel_scope.cancel()


def _hypercorn_config(settings: Settings) -> HypercornConfig:
    config = HypercornConfig()
    host = settings.host if ":" not in settings.host else f"[{settings.host.strip('[]')}]"
    config.bind = [f"{host}:{settings.port}"]
    config.graceful_timeout = settings.shutdown_timeout.total_seconds()
    config.accesslog = None  # monitor.access writes one structured line per request
    config.errorlog = logging.getLogger("hypercorn.error")
    config.websocket_ping_interval = 20
    config.websocket_max_message_size = WEBSOCKET_MAX_MESSAGE_BYTES
    # Idle keep-alive connections; the request-head deadline is http_server's.
    config.keep_alive_timeout = settings.keepalive_timeout.total_seconds()
    return config


def _bound_port(binds: list[str]) -> int:
    return int(binds[0].rsplit(":", 1)[1])
