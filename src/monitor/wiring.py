"""Which actors, channels and web dependencies each area adds: one builder per area.

`service.py` starts, supervises and stops; what runs is decided here. Each
builder creates its area's channels (bounded, sized from the settings),
hands the receive ends to its actors and the send ends to the web edge, and
lists the send ends to close at a graceful stop so that each actor drains
what it holds and returns.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import trio

from monitor.actors import (
    alert_evaluator,
    key_usage,
    leadership,
    maintenance,
    notification_planner,
    notification_sender,
    ratelimit,
    rollup,
)
from monitor.actors import event_counts as event_counting
from monitor.actors.ingest import events as event_ingest
from monitor.actors.ingest import metrics as metric_ingest
from monitor.actors.live import credential_watch, fanout, publisher, watchdog
from monitor.alert_observations import observe
from monitor.alert_templates import template_problem
from monitor.bus.base import Bus
from monitor.bus.hook import PublishHook
from monitor.bus.memory import MemoryBus
from monitor.config import Settings
from monitor.config.identity import Identity
from monitor.counters import IngestCounters, LimiterCounters, MetricIngestCounters
from monitor.domain.alert_rules import parse_rule
from monitor.domain.alert_states import GroupKey
from monitor.domain.credentials import KEY, SESSION
from monitor.domain.limit_table import LimitTable
from monitor.domain.signing import SecretKeys
from monitor.evaluator_figures import EvaluatorFigures
from monitor.leadership import Leadership
from monitor.live_connections import CLOSE_GRACE, LiveConnections
from monitor.messages import (
    AlertTransitions,
    FanoutMessage,
    IncrementCounter,
    IngestEvents,
    IngestSamples,
    KeyUsed,
    LimitQuery,
    LiveBatch,
    Publishable,
)
from monitor.notification_planning import PlanOutcome, plan_once
from monitor.notifications.retries import RetryPolicy
from monitor.outbound import OutboundLimits
from monitor.planner_figures import PlannerFigures
from monitor.realtime import RealtimeCounters
from monitor.redis.bus import RedisBus
from monitor.redis.limits import RedisLimits
from monitor.redis.probe import redis_problem
from monitor.redis.results import RedisResults
from monitor.secret_box import SecretBox
from monitor.sender_figures import SenderFigures
from monitor.shared_results import SharedResults
from monitor.storage import alert_history as alert_history_store
from monitor.storage import alert_instances as alert_instance_store
from monitor.storage import alert_rules as alert_rule_store
from monitor.storage import audit as audit_store
from monitor.storage import deliveries as delivery_store
from monitor.storage import event_counts as event_count_store
from monitor.storage import events as event_store
from monitor.storage import keys as key_store
from monitor.storage import metric_ingest as metric_store
from monitor.storage import partitions as partition_store
from monitor.storage import rollups as rollup_store
from monitor.storage import sessions as session_store
from monitor.storage import silences as silence_store
from monitor.storage.alert_instances import SlotChange, StoredInstance
from monitor.storage.alert_runs import RuleRun, record_runs
from monitor.storage.gateway import Connection, Gateway
from monitor.storage.leadership import LeaderConnection
from monitor.supervisor import ActorSpec, Supervisor
from monitor.web.api.events.query import event_filter_of_pairs
from monitor.web.deps import (
    EventDeps,
    HealthDeps,
    LimitDeps,
    LiveDeps,
    MetricDeps,
    WebDeps,
)
from monitor.web.edge.authenticator import Authenticator
from monitor.web.edge.limiter import Limiter
from monitor.web.edge.session_keeper import SessionKeeper
from monitor.web.server import ConnectionCounts

KEY_USAGE_INBOX_SIZE = 1024
LIMITER_INBOX_SIZE = 1024


class Area(Protocol):
    """What one area adds: its actors, and the inboxes to close when the service stops."""

    @property
    def actors(self) -> list[ActorSpec]: ...

    @property
    def inboxes(self) -> list[trio.MemorySendChannel[Any]]: ...


@dataclass(frozen=True)
class Actors:
    """An area that adds only actors."""

    actors: list[ActorSpec]
    inboxes: list[trio.MemorySendChannel[Any]] = field(default_factory=list)


@dataclass
class Wired:
    """Everything `service.run` starts and stops."""

    actors: list[ActorSpec]
    inboxes: list[trio.MemorySendChannel[Any]]
    deps: WebDeps
    committed: PublishHook[Publishable]
    connections: LiveConnections


@dataclass(frozen=True)
class EventsArea:
    actors: list[ActorSpec]
    inboxes: list[trio.MemorySendChannel[Any]]
    web: EventDeps


def events_area(
    settings: Settings, gateway: Gateway, committed: PublishHook[Publishable]
) -> EventsArea:
    inbox, receive = trio.open_memory_channel[IngestEvents](settings.ingest_queue_size)
    counters = IngestCounters()
    ingest = ActorSpec(
        "ingest",
        functools.partial(
            event_ingest.run,
            receive,
            functools.partial(event_store.commit_events, gateway),
            functools.partial(partition_store.create_partitions, gateway, "events"),
            committed.publish,
            counters,
            workers=settings.ingest_workers,
            batch_rows=settings.ingest_batch_rows,
        ),
    )
    counting = ActorSpec(
        "event_counts",
        functools.partial(
            event_counting.run,
            functools.partial(event_count_store.count_new_events, gateway),
            interval=settings.rollup_interval.total_seconds(),
        ),
        drains=False,
    )
    return EventsArea([ingest, counting], [inbox], EventDeps(inbox, counters))


@dataclass(frozen=True)
class MetricsArea:
    actors: list[ActorSpec]
    inboxes: list[trio.MemorySendChannel[Any]]
    web: MetricDeps


def metrics_area(
    settings: Settings, gateway: Gateway, committed: PublishHook[Publishable]
) -> MetricsArea:
    writes, receive = trio.open_memory_channel[IngestSamples | IncrementCounter](
        settings.ingest_queue_size
    )
    counters = MetricIngestCounters()
    limits = metric_store.Limits(settings.max_series, settings.max_series_per_metric)

    async def increment(
        request: IncrementCounter, cached: metric_store.Cached
    ) -> tuple[int, float, int]:
        return await metric_store.increment_counter(
            gateway, request.key, cached, request.by, request.time, limits
        )

    ingest = ActorSpec(
        "metric_ingest",
        functools.partial(
            metric_ingest.run,
            receive,
            functools.partial(metric_store.commit_samples, gateway, limits=limits),
            increment,
            functools.partial(partition_store.create_partitions, gateway, "samples"),
            committed.publish,
            counters,
            workers=settings.ingest_workers,
            batch_rows=settings.ingest_batch_rows,
            max_series=settings.max_series,
        ),
    )
    roll_up = ActorSpec(
        "rollup",
        functools.partial(
            rollup.run,
            functools.partial(rollup_store.roll_up, gateway),
            functools.partial(
                rollup_store.drop_expired,
                gateway,
                retention={
                    rollup_store.MINUTE: settings.rollup_1m_retention,
                    rollup_store.HOUR: settings.rollup_1h_retention,
                },
            ),
            interval=settings.rollup_interval.total_seconds(),
        ),
        drains=False,
    )
    return MetricsArea([ingest, roll_up], [writes], MetricDeps(writes, counters))


def maintenance_area(settings: Settings, gateway: Gateway) -> Actors:
    """Partitions ahead and retention, for every partitioned table; audit log, alert
    history, ended silences and notification delivery log retention; dashboard sessions
    that ended (their retention is nil: an ended session is of no use)."""
    tables = [
        _partitioned_table(gateway, "events", settings.events_retention),
        _partitioned_table(gateway, "samples", settings.metrics_retention),
    ]
    pruned = [
        maintenance.PrunedTable(
            "audit_log", settings.audit_retention, functools.partial(audit_store.prune, gateway)
        ),
        maintenance.PrunedTable(
            "alert_history",
            settings.alert_history_retention,
            functools.partial(alert_history_store.prune, gateway),
        ),
        maintenance.PrunedTable(
            "silences",
            settings.silence_retention,
            functools.partial(silence_store.prune, gateway),
        ),
        maintenance.PrunedTable(
            "notification_deliveries",
            settings.notification_log_retention,
            functools.partial(delivery_store.prune, gateway),
        ),
        maintenance.PrunedTable(
            "ui_sessions",
            timedelta(0),
            functools.partial(
                session_store.prune, gateway, idle_timeout=settings.session_idle_timeout
            ),
        ),
    ]
    run = functools.partial(
        maintenance.run,
        tables,
        pruned=pruned,
        interval=settings.maintenance_interval.total_seconds(),
    )
    return Actors([ActorSpec("maintenance", run, drains=False)])


@dataclass(frozen=True)
class KeysArea:
    actors: list[ActorSpec]
    inboxes: list[trio.MemorySendChannel[Any]]
    authenticator: Authenticator
    sessions: SessionKeeper


def keys_area(settings: Settings, gateway: Gateway) -> KeysArea:
    usage, receive = trio.open_memory_channel[KeyUsed](KEY_USAGE_INBOX_SIZE)
    last_used = ActorSpec(
        "key_usage",
        functools.partial(
            key_usage.run,
            receive,
            functools.partial(key_store.record_last_used, gateway),
            flush_interval=settings.key_usage_flush_interval.total_seconds(),
        ),
    )
    authenticator = Authenticator(gateway, usage, cache_ttl=settings.key_cache_ttl.total_seconds())
    sessions = SessionKeeper(
        gateway,
        cache_ttl=settings.key_cache_ttl.total_seconds(),
        idle_timeout=settings.session_idle_timeout,
        max_age=settings.session_max_age,
    )
    return KeysArea([last_used], [usage], authenticator, sessions)


@dataclass(frozen=True)
class RateLimitArea:
    actors: list[ActorSpec]
    inboxes: list[trio.MemorySendChannel[Any]]
    web: LimitDeps


def rate_limit_area(settings: Settings) -> RateLimitArea:
    inbox, receive = trio.open_memory_channel[LimitQuery](LIMITER_INBOX_SIZE)
    counters = LimiterCounters()
    redis = (
        None
        if settings.redis_url is None
        else RedisLimits(settings.redis_url, settings.redis_prefix, counters)
    )
    limiter = ActorSpec(
        "ratelimit",
        functools.partial(
            ratelimit.run,
            receive,
            LimitTable(settings.rate_limit_identities),
            counters,
            redis=redis,
        ),
    )
    return RateLimitArea([limiter], [inbox], LimitDeps(Limiter(inbox, settings), counters))


@dataclass(frozen=True)
class SharedResultsArea:
    actors: list[ActorSpec]
    inboxes: list[trio.MemorySendChannel[Any]]
    results: SharedResults


def shared_results_area(settings: Settings) -> SharedResultsArea:
    """Dashboard results computed once per tick: kept in process, and in Redis when configured."""
    if settings.redis_url is None:
        return SharedResultsArea([], [], SharedResults(max_bytes=settings.dashboard_cache_bytes))
    store = RedisResults(settings.redis_url, settings.redis_prefix)
    results = SharedResults(max_bytes=settings.dashboard_cache_bytes, store=store)
    # Keeps the Redis connection requests read and write through; nothing to drain.
    keeper = ActorSpec("dashboard_cache", store.maintain, drains=False)
    return SharedResultsArea([keeper], [], results)


@dataclass(frozen=True)
class LiveArea:
    actors: list[ActorSpec]
    inboxes: list[trio.MemorySendChannel[Any]]
    web: LiveDeps
    connections: LiveConnections


def live_area(
    settings: Settings,
    gateway: Gateway,
    committed: PublishHook[Publishable],
    ingested: tuple[IngestCounters, MetricIngestCounters],
    instance_id: str,
    realtime: RealtimeCounters,
) -> LiveArea:
    """Committed batches → bus (memory or Redis) → fan-out → every websocket's outbox."""
    redis_url = settings.redis_url
    bus: Bus = MemoryBus() if redis_url is None else RedisBus(redis_url, settings.redis_prefix)
    inbox, receive = trio.open_memory_channel[FanoutMessage](settings.bus_queue_size)
    # Each connection's subscriptions live with it; the fan-out's index is
    # rebuilt from them when the actor (re)starts.
    connections = LiveConnections(
        queue_size=settings.ws_queue_size,
        max_per_key=settings.ws_max_connections_per_key,
        max_subscriptions=settings.ws_max_subscriptions,
        on_count=realtime.websockets_open,
    )

    def deliver(batch: LiveBatch) -> None:
        try:
            inbox.send_nowait(batch)
        except trio.WouldBlock:
            bus.state.dropped_on_delivery += 1
        except trio.ClosedResourceError:
            bus.state.dropped_on_delivery += 1  # the service is stopping

    event_counters, metric_counters = ingested

    def figures() -> dict[str, Any]:
        return {
            "instance_id": instance_id,  # with Redis, several instances' figures meet
            "connections": len(connections),
            "subscriptions": connections.subscription_count(),
            "events_ingested": event_counters.rows,
            "samples_ingested": metric_counters.samples,
            **dataclasses.asdict(connections.counters),
            "bus": bus.state.kind,
            "bus_connected": bus.state.connected,
            "bus_published": bus.state.published,
            "bus_received": bus.state.received,
            "bus_publish_failures": bus.state.publish_failures,
            "bus_dropped": committed.dropped + bus.state.dropped_on_delivery,
        }

    actors = [
        ActorSpec(
            "fanout",
            functools.partial(
                fanout.run,
                receive,
                connections,
                figures,
                coalesce_window=settings.ws_coalesce_window.total_seconds(),
                stats_interval=settings.ws_stats_interval.total_seconds(),
            ),
        ),
        ActorSpec(
            "live_watchdog",
            functools.partial(
                watchdog.run,
                connections,
                heartbeat_interval=settings.ws_heartbeat_interval.total_seconds(),
                stall_timeout=settings.ws_stall_timeout.total_seconds(),
                close_grace=CLOSE_GRACE,
            ),
            drains=False,
        ),
        ActorSpec(
            "credential_watch",
            functools.partial(
                credential_watch.run,
                connections,
                {
                    KEY: functools.partial(key_store.standings, gateway),
                    SESSION: functools.partial(
                        session_store.standings,
                        gateway,
                        idle_timeout=settings.session_idle_timeout,
                    ),
                },
                interval=settings.key_cache_ttl.total_seconds(),
            ),
            drains=False,
        ),
        ActorSpec("live_bus", functools.partial(bus.subscribe, deliver), drains=False),
        ActorSpec(
            "live_publisher",
            functools.partial(
                publisher.run,
                committed.listen(settings.bus_queue_size),
                bus,
                # Through Redis, other instances may be listening; in-process,
                # only this instance's subscriptions count.
                (lambda _: True) if redis_url is not None else connections.listened,
            ),
            drains=False,
        ),
    ]
    web = LiveDeps(
        settings=settings,
        connections=connections,
        fanout=inbox,
        bus=bus.state,
        figures=figures,
        publish=committed.publish,
    )
    return LiveArea(actors, [inbox], web, connections)


@dataclass(frozen=True)
class AlertsArea:
    actors: list[ActorSpec]
    inboxes: list[trio.MemorySendChannel[Any]]
    leadership: Leadership
    evaluator: EvaluatorFigures


def evaluator_deps(
    gateway: Gateway, publish: Callable[[AlertTransitions], None], *, concurrency: int
) -> alert_evaluator.EvaluatorDeps:
    """The evaluator's storage, reads and clock (also what bench/alerts.py drives)."""

    async def load_instances(
        rule_ids: Sequence[int],
    ) -> dict[int, dict[GroupKey, StoredInstance]]:
        return await gateway.run(
            lambda connection: alert_instance_store.current_instances(connection, rule_ids)
        )

    async def record(
        changes: Sequence[SlotChange], runs: Sequence[RuleRun], epoch: int
    ) -> list[int]:
        def work(connection: Connection) -> list[int]:
            made = alert_instance_store.record_changes(connection, changes, epoch=epoch)
            record_runs(connection, runs, epoch=epoch)
            return made

        return await gateway.run(work)

    return alert_evaluator.EvaluatorDeps(
        rules_fingerprint=functools.partial(alert_rule_store.rules_fingerprint, gateway),
        load_rules=functools.partial(alert_rule_store.list_rules, gateway),
        parse=lambda record: parse_rule(record.definition, check_template=template_problem),
        load_instances=load_instances,
        observe=lambda rules, now: observe(
            gateway, rules, now, event_filter_of_pairs, concurrency=concurrency
        ),
        record=record,
        publish=publish,
        now=lambda: datetime.now(UTC),
    )


def alerts_area(
    settings: Settings,
    gateway: Gateway,
    database_url: str,
    identity: Identity,
    committed: PublishHook[Publishable],
) -> AlertsArea:
    """Every instance campaigns to lead alert evaluation; the leader evaluates the rules."""
    state = Leadership()
    campaign = ActorSpec(
        "alert_leadership",
        functools.partial(
            leadership.run,
            functools.partial(
                LeaderConnection.open,
                database_url,
                statement_timeout=settings.db_statement_timeout.total_seconds(),
            ),
            state,
            holder=identity.instance_id,
            poll=settings.alert_leader_poll.total_seconds(),
        ),
        drains=False,
    )

    deps = evaluator_deps(
        gateway,
        committed.publish,
        # Reads on two connections at once, leaving the rest of the pool to requests.
        concurrency=max(1, min(2, settings.db_pool_size // 4)),
    )
    figures = EvaluatorFigures()
    evaluator = ActorSpec(
        "alert_evaluator",
        functools.partial(
            alert_evaluator.run,
            state,
            deps,
            figures,
            tick=settings.alert_evaluator_tick.total_seconds(),
        ),
        drains=False,
    )
    return AlertsArea([campaign, evaluator], [], state, figures)


def notifications_area(
    settings: Settings,
    gateway: Gateway,
    leadership: Leadership,
    *,
    identity: Identity,
    secret_keys: SecretKeys,
    sender_figures: SenderFigures,
    planner_figures: PlannerFigures,
) -> Actors:
    """The notifier (issue 18): the leader plans what each notification group is told and
    queues deliveries; every instance sends queued deliveries it claims."""

    async def plan(epoch: int, now: datetime, rescan: bool) -> PlanOutcome:
        return await gateway.run(
            lambda connection: plan_once(
                connection,
                epoch,
                now,
                rescan=rescan,
                repost=settings.notifier_alertmanager_repost,
            )
        )

    actors: list[ActorSpec] = [
        ActorSpec(
            "notification_planner",
            functools.partial(
                notification_planner.run,
                leadership,
                plan,
                planner_figures,
                tick=settings.notifier_tick.total_seconds(),
                rescan=settings.notifier_rescan.total_seconds(),
                now=lambda: datetime.now(UTC),
            ),
            drains=False,
        ),
        ActorSpec(
            "notification_sender",
            functools.partial(
                notification_sender.run,
                notification_sender.Sender(
                    gateway,
                    SecretBox(secret_keys),
                    sender_config(settings, identity),
                    sender_figures,
                ),
            ),
            drains=False,
        ),
    ]
    return Actors(actors)


def sender_config(settings: Settings, identity: Identity) -> notification_sender.SenderConfig:
    return notification_sender.SenderConfig(
        instance_id=identity.instance_id,
        public_url=identity.public_url,
        limits=OutboundLimits.from_settings(settings),
        policy=RetryPolicy(
            max_age=settings.notification_max_age,
            initial=settings.notification_retry_initial,
            cap=settings.notification_retry_cap,
        ),
        poll=settings.notification_poll.total_seconds(),
        concurrency=settings.notification_concurrency,
        channel_concurrency=settings.notification_channel_concurrency,
    )


def wire(
    settings: Settings,
    gateway: Gateway,
    supervisor: Supervisor,
    *,
    database_url: str,
    started_at: float,
    identity: Identity,
    secret_keys: SecretKeys,
    extra_actors: Sequence[ActorSpec] = (),
) -> Wired:
    """Every area's actors and channels, and the web edge's dependencies on them."""
    # Events and samples after their commit, and alert transitions: what is
    # published here streams live to websocket clients (of every instance).
    committed = PublishHook[Publishable]()
    # Per-second figures of this instance: every commit, answer and websocket.
    realtime = RealtimeCounters(identity.instance_id)
    committed.tap(realtime.committed)
    events = events_area(settings, gateway, committed)
    metrics = metrics_area(settings, gateway, committed)
    live = live_area(
        settings,
        gateway,
        committed,
        (events.web.counters, metrics.web.counters),
        identity.instance_id,
        realtime,
    )
    keys = keys_area(settings, gateway)
    limits = rate_limit_area(settings)
    shared = shared_results_area(settings)
    alerts = alerts_area(settings, gateway, database_url, identity, committed)
    sender_figures = SenderFigures()
    planner_figures = PlannerFigures()
    areas: list[Area] = [
        events,
        metrics,
        maintenance_area(settings, gateway),
        keys,
        live,
        limits,
        shared,
        alerts,
        notifications_area(
            settings,
            gateway,
            alerts.leadership,
            identity=identity,
            secret_keys=secret_keys,
            sender_figures=sender_figures,
            planner_figures=planner_figures,
        ),
    ]
    redis_url = settings.redis_url
    deps = WebDeps(
        settings=settings,
        identity=identity,
        secret_keys=secret_keys,
        gateway=gateway,
        authenticator=keys.authenticator,
        sessions=keys.sessions,
        events=events.web,
        metrics=metrics.web,
        live=live.web,
        limits=limits.web,
        health=HealthDeps(
            actor_states=supervisor.snapshot,
            redis_problem=None
            if redis_url is None
            else functools.partial(redis_problem, redis_url),
            started_at=started_at,
        ),
        tcp=ConnectionCounts(settings.max_connections_per_ip, settings.trusted_proxies),
        shared_results=shared.results,
        realtime=realtime,
        leadership=alerts.leadership,
        evaluator=alerts.evaluator,
        sender=sender_figures,
        notification_planner=planner_figures,
    )
    return Wired(
        actors=[*(actor for area in areas for actor in area.actors), *extra_actors],
        inboxes=[inbox for area in areas for inbox in area.inboxes],
        deps=deps,
        committed=committed,
        connections=live.connections,
    )


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
