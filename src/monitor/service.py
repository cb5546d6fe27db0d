"""`monitor serve`: the root nursery that runs everything, and its graceful stop.

Start-up order: database (embedded or DATABASE_URL) → migrations → an admin
key if no active one exists → storage gateway → supervisor with the actors →
Hypercorn. Stop order (SIGINT/SIGTERM or `stop` set): Hypercorn stops accepting
and finishes in-flight requests; then the actors' inboxes are closed so each
drains and returns; whatever is still running after `shutdown_timeout` is
cancelled; the embedded database is stopped last.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import signal
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig

from monitor.actors import key_usage, maintenance, ratelimit, rollup
from monitor.actors.ingest import events as ingest
from monitor.actors.ingest import metrics as metric_ingest
from monitor.actors.live import credential_watch, fanout
from monitor.actors.live import publisher as live_publisher
from monitor.actors.live import watchdog as live_watchdog
from monitor.bus.base import Bus
from monitor.bus.hook import PublishHook
from monitor.bus.memory import MemoryBus
from monitor.config import Settings
from monitor.counters import IngestCounters, LimiterCounters, MetricIngestCounters
from monitor.domain.credentials import KEY
from monitor.domain.limit_table import LimitTable
from monitor.domain.partitions import partitions_ahead
from monitor.live_connections import CLOSE_GRACE, GOING_AWAY, LiveConnections
from monitor.messages import (
    FanoutMessage,
    IncrementCounter,
    IngestEvents,
    IngestSamples,
    KeyUsed,
    LimitQuery,
    LiveBatch,
    Publishable,
)
from monitor.redis.bus import RedisBus
from monitor.redis.limits import RedisLimits
from monitor.redis.probe import redis_problem
from monitor.storage import events as event_store
from monitor.storage import keys as key_store
from monitor.storage import metric_ingest as metric_store
from monitor.storage import partitions as partition_store
from monitor.storage import rollups as rollup_store
from monitor.storage.embedded import open_embedded_database, serve_lock
from monitor.storage.gateway import Gateway, open_gateway, wait_for_database
from monitor.storage.migrate import apply_migrations
from monitor.supervisor import ActorSpec, Supervisor
from monitor.web.app import create_app
from monitor.web.deps import LiveDeps, WebDeps
from monitor.web.edge.authenticator import Authenticator
from monitor.web.edge.limiter import Limiter
from monitor.web.server import ConnectionCounts
from monitor.web.server import serve as http_serve

log = logging.getLogger(__name__)

KEY_USAGE_INBOX_SIZE = 1024
WEBSOCKET_MAX_MESSAGE_BYTES = 64 * 1024  # client messages are small; larger closes with 1009
LIMITER_INBOX_SIZE = 1024


@dataclass(frozen=True)
class Running:
    """Handed back by `run` once the service listens."""

    port: int
    binds: list[str]
    supervisor: Supervisor
    # Events and samples after their commit, and alert transitions: what is
    # published here streams live to websocket clients (of every instance).
    committed: PublishHook[Publishable]
    connections: LiveConnections


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
            connect_timeout=settings.db_connect_timeout,
            statement_timeout=settings.db_statement_timeout,
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
        statement_timeout=settings.db_statement_timeout,
        acquire_timeout=settings.db_acquire_timeout,
        connect_timeout=settings.db_connect_timeout,
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
                await _serve(settings, gateway, stop, extra_actors, started_at, task_status)
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


async def _serve(
    settings: Settings,
    gateway: Gateway,
    stop: trio.Event,
    extra_actors: Sequence[ActorSpec],
    started_at: float,
    task_status: trio.TaskStatus[Running],
) -> None:
    usage_send, usage_receive = trio.open_memory_channel[KeyUsed](KEY_USAGE_INBOX_SIZE)
    ingest_send, ingest_receive = trio.open_memory_channel[IngestEvents](settings.ingest_queue_size)
    committed = PublishHook[Publishable]()
    ingest_counters = IngestCounters()
    metric_send, metric_receive = trio.open_memory_channel[IngestSamples | IncrementCounter](
        settings.ingest_queue_size
    )
    metric_counters = MetricIngestCounters()
    limits = metric_store.Limits(settings.max_series, settings.max_series_per_metric)
    limiter_send, limiter_receive = trio.open_memory_channel[LimitQuery](LIMITER_INBOX_SIZE)
    limiter_counters = LimiterCounters()

    async def increment(
        request: IncrementCounter, cached: metric_store.Cached
    ) -> tuple[int, float, int]:
        return await metric_store.increment_counter(
            gateway, request.key, cached, request.by, request.time, limits
        )

    redis_url = settings.redis_url
    bus: Bus = MemoryBus() if redis_url is None else RedisBus(redis_url, settings.redis_prefix)
    fanout_send, fanout_receive = trio.open_memory_channel[FanoutMessage](settings.bus_queue_size)
    # Each connection's subscriptions live with it; the fan-out's index is
    # rebuilt from them when the actor (re)starts.
    connections = LiveConnections(
        queue_size=settings.ws_queue_size,
        max_per_key=settings.ws_max_connections_per_key,
        max_subscriptions=settings.ws_max_subscriptions,
    )

    def deliver(batch: LiveBatch) -> None:
        try:
            fanout_send.send_nowait(batch)
        except trio.WouldBlock:
            bus.state.dropped_on_delivery += 1
        except trio.ClosedResourceError:
            bus.state.dropped_on_delivery += 1  # the service is stopping

    def live_figures() -> dict[str, Any]:
        return {
            "connections": len(connections),
            "subscriptions": connections.subscription_count(),
            "events_ingested": ingest_counters.rows,
            "samples_ingested": metric_counters.samples,
            **dataclasses.asdict(connections.counters),
            "bus": bus.state.kind,
            "bus_connected": bus.state.connected,
            "bus_published": bus.state.published,
            "bus_received": bus.state.received,
            "bus_publish_failures": bus.state.publish_failures,
            "bus_dropped": committed.dropped + bus.state.dropped_on_delivery,
        }

    supervisor = Supervisor()
    events_table = _partitioned_table(gateway, "events", settings.events_retention)
    samples_table = _partitioned_table(gateway, "samples", settings.metrics_retention)
    actors = [
        ActorSpec(
            "metric_ingest",
            functools.partial(
                metric_ingest.run,
                metric_receive,
                functools.partial(metric_store.commit_samples, gateway, limits=limits),
                increment,
                functools.partial(partition_store.create_partitions, gateway, "samples"),
                committed.publish,
                metric_counters,
                workers=settings.ingest_workers,
                batch_rows=settings.ingest_batch_rows,
                max_series=settings.max_series,
            ),
        ),
        ActorSpec(
            "ingest",
            functools.partial(
                ingest.run,
                ingest_receive,
                functools.partial(event_store.commit_events, gateway),
                functools.partial(partition_store.create_partitions, gateway, "events"),
                committed.publish,
                ingest_counters,
                workers=settings.ingest_workers,
                batch_rows=settings.ingest_batch_rows,
            ),
        ),
        ActorSpec(
            "rollup",
            functools.partial(
                rollup.run,
                functools.partial(rollup_store.roll_up, gateway),
                functools.partial(
                    rollup_store.drop_expired,
                    gateway,
                    retention={
                        rollup_store.MINUTE: timedelta(days=settings.rollup_1m_retention_days),
                        rollup_store.HOUR: timedelta(days=settings.rollup_1h_retention_days),
                    },
                ),
                interval=settings.rollup_interval,
            ),
            drains=False,
        ),
        ActorSpec(
            "maintenance",
            functools.partial(
                maintenance.run,
                [events_table, samples_table],
                interval=settings.maintenance_interval,
            ),
            drains=False,
        ),
        ActorSpec(
            "key_usage",
            functools.partial(
                key_usage.run,
                usage_receive,
                functools.partial(key_store.record_last_used, gateway),
                flush_interval=settings.key_usage_flush_interval,
            ),
        ),
        ActorSpec(
            "fanout",
            functools.partial(
                fanout.run,
                fanout_receive,
                connections,
                live_figures,
                coalesce_window=settings.ws_coalesce_window,
                stats_interval=settings.ws_stats_interval,
            ),
        ),
        ActorSpec(
            "live_watchdog",
            functools.partial(
                live_watchdog.run,
                connections,
                heartbeat_interval=settings.ws_heartbeat_interval,
                stall_timeout=settings.ws_stall_timeout,
                close_grace=CLOSE_GRACE,
            ),
            drains=False,
        ),
        ActorSpec(
            "credential_watch",
            functools.partial(
                credential_watch.run,
                connections,
                {KEY: functools.partial(key_store.standings, gateway)},
                interval=settings.key_cache_ttl,
            ),
            drains=False,
        ),
        ActorSpec("live_bus", functools.partial(bus.subscribe, deliver), drains=False),
        ActorSpec(
            "live_publisher",
            functools.partial(
                live_publisher.run,
                committed.listen(settings.bus_queue_size),
                bus,
                # Through Redis, other instances may be listening; in-process,
                # only this instance's subscriptions count.
                (lambda _: True) if redis_url is not None else connections.listened,
            ),
            drains=False,
        ),
        ActorSpec(
            "ratelimit",
            functools.partial(
                ratelimit.run,
                limiter_receive,
                LimitTable(settings.rate_limit_identities),
                limiter_counters,
                redis=None
                if settings.redis_url is None
                else RedisLimits(settings.redis_url, settings.redis_prefix, limiter_counters),
            ),
        ),
        *extra_actors,
    ]
    deps = WebDeps(
        settings=settings,
        gateway=gateway,
        authenticator=Authenticator(gateway, usage_send, cache_ttl=settings.key_cache_ttl),
        actor_states=supervisor.snapshot,
        redis_problem=None if redis_url is None else functools.partial(redis_problem, redis_url),
        started_at=started_at,
        ingest_events=ingest_send,
        ingest_counters=ingest_counters,
        metric_writes=metric_send,
        metric_counters=metric_counters,
        live=LiveDeps(
            settings=settings,
            connections=connections,
            fanout=fanout_send,
            bus=bus.state,
            figures=live_figures,
        ),
        limiter=Limiter(limiter_send, settings),
        limiter_counters=limiter_counters,
        tcp=ConnectionCounts(settings.max_connections_per_ip, settings.trusted_proxies),
    )
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
                    header_timeout=settings.header_timeout,
                    send_timeout=settings.send_timeout,
                    shutdown_trigger=stop.wait,
                )
            )
            log.info("listening", extra={"binds": binds})
            task_status.started(
                Running(
                    port=_bound_port(binds),
                    binds=binds,
                    supervisor=supervisor,
                    committed=committed,
                    connections=connections,
                )
            )
            await stop.wait()
            # Hypercorn has stopped accepting. The whole stop is bounded by one
            # deadline: websockets are closed with 1001 (an open one would hold
            # Hypercorn's stop), in-flight requests finish, then idle
            # keep-alive connections are closed at once.
            deadline = trio.current_time() + settings.shutdown_timeout
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
        await usage_send.aclose()
        await ingest_send.aclose()
        await metric_send.aclose()
        await fanout_send.aclose()
        await limiter_send.aclose()
        with trio.move_on_at(deadline) as drain:
            await supervisor.finished.wait()
        if drain.cancelled_caught:
            log.warning("actors did not drain in time; cancelling them")
        root.cancel_scope.cancel()


def _partitioned_table(
    gateway: Gateway, name: str, retention: timedelta
) -> maintenance.PartitionedTable:
    return maintenance.PartitionedTable(
        name=name,
        retention=retention,
        existing=functools.partial(partition_store.existing_partitions, gateway, name),
        create=functools.partial(partition_store.create_partitions, gateway, name),
        drop=functools.partial(partition_store.drop_partitions, gateway, name),
    )


def _hypercorn_config(settings: Settings) -> HypercornConfig:
    config = HypercornConfig()
    host = settings.host if ":" not in settings.host else f"[{settings.host.strip('[]')}]"
    config.bind = [f"{host}:{settings.port}"]
    config.graceful_timeout = settings.shutdown_timeout
    config.accesslog = None  # monitor.access writes one structured line per request
    config.errorlog = logging.getLogger("hypercorn.error")
    config.websocket_ping_interval = 20
    config.websocket_max_message_size = WEBSOCKET_MAX_MESSAGE_BYTES
    # Idle keep-alive connections; the request-head deadline is http_server's.
    config.keep_alive_timeout = settings.keepalive_timeout
    return config


def _bound_port(binds: list[str]) -> int:
    return int(binds[0].rsplit(":", 1)[1])
