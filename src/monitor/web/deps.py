"""What the web edge is handed at start-up: storage, channels to actors, state views."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from quart import current_app

from monitor.bus.base import BusState
from monitor.config import Settings
from monitor.config.identity import Identity
from monitor.counters import IngestCounters, LimiterCounters, MetricIngestCounters
from monitor.domain.signing import SecretKeys
from monitor.evaluator_figures import EvaluatorFigures
from monitor.leadership import Leadership
from monitor.live_connections import LiveConnections
from monitor.messages import (
    AlertTransitions,
    FanoutMessage,
    IncrementCounter,
    IngestEvents,
    IngestSamples,
)
from monitor.planner_figures import PlannerFigures
from monitor.realtime import RealtimeCounters
from monitor.sender_figures import SenderFigures
from monitor.shared_results import SharedResults
from monitor.storage.gateway import Gateway
from monitor.supervisor import ActorSnapshot
from monitor.web.api.metrics.samples import SeriesKeys
from monitor.web.edge.authenticator import Authenticator
from monitor.web.edge.limiter import Limiter
from monitor.web.edge.session_keeper import SessionKeeper
from monitor.web.server import ConnectionCounts

EXTENSION_NAME = "monitor"


@dataclass
class RequestCounters:
    """Counts kept by the web edge for /stats (touched only on the Trio thread)."""

    total: int = 0
    in_flight: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    _idle: trio.Event = field(default_factory=trio.Event)

    def __post_init__(self) -> None:
        self._idle.set()

    def started(self) -> None:
        if self.in_flight == 0:
            self._idle = trio.Event()
        self.in_flight += 1

    def ended(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    def finished(self, status: int) -> None:
        self.total += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1

    async def wait_idle(self) -> None:
        """Return once no request is being handled."""
        while self.in_flight:
            await self._idle.wait()


@dataclass(frozen=True)
class LiveDeps:
    """What the websocket routes need: the open connections and the fan-out actor's inbox;
    and what the alert actions publish through (`publish`, never waits: see bus/hook.py)."""

    settings: Settings
    connections: LiveConnections
    fanout: trio.MemorySendChannel[FanoutMessage]
    bus: BusState
    figures: Callable[[], dict[str, Any]]  # connections, subscriptions, counters (for /stats)
    publish: Callable[[AlertTransitions], None]  # onto the `alerts` channel, after the commit


@dataclass(frozen=True)
class EventDeps:
    inbox: trio.MemorySendChannel[IngestEvents]  # the ingest actor's
    counters: IngestCounters


@dataclass(frozen=True)
class MetricDeps:
    writes: trio.MemorySendChannel[IngestSamples | IncrementCounter]  # the metric ingest actor's
    counters: MetricIngestCounters
    series_keys: SeriesKeys = field(default_factory=SeriesKeys)


@dataclass(frozen=True)
class LimitDeps:
    limiter: Limiter
    counters: LimiterCounters


@dataclass(frozen=True)
class HealthDeps:
    """What /health/ready and /stats report on beyond the other areas."""

    actor_states: Callable[[], list[ActorSnapshot]]
    redis_problem: Callable[[], Awaitable[str | None]] | None
    started_at: float  # Unix time the service started


@dataclass(frozen=True)
class WebDeps:
    """Everything the routes use, one group per area (see wiring.py)."""

    settings: Settings
    identity: Identity  # instance id and public URL (links, Origin checks, Secure cookies)
    secret_keys: SecretKeys  # sign with `current`, accept any of `verifiers`
    gateway: Gateway
    authenticator: Authenticator
    sessions: SessionKeeper  # dashboard sessions (web/edge/sessions.py has the cookie)
    events: EventDeps
    metrics: MetricDeps
    live: LiveDeps
    limits: LimitDeps
    health: HealthDeps
    tcp: ConnectionCounts  # open connections per client address, for /stats
    shared_results: SharedResults  # dashboard results computed once per tick (and per instance)
    realtime: RealtimeCounters  # this instance's last minute, per second
    counters: RequestCounters = field(default_factory=RequestCounters)
    # Whether this instance leads alert evaluation (actors/leadership.py).
    leadership: Leadership = field(default_factory=Leadership)
    evaluator: EvaluatorFigures = field(default_factory=EvaluatorFigures)
    sender: SenderFigures = field(default_factory=SenderFigures)  # notifications sent here
    notification_planner: PlannerFigures = field(default_factory=PlannerFigures)


def current_deps() -> WebDeps:
    deps: WebDeps = current_app.extensions[EXTENSION_NAME]
    return deps
