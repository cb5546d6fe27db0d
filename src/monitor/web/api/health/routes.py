"""Operational routes at the root: liveness, readiness and service statistics."""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Literal

import trio
from pydantic import BaseModel, Field
from quart import Blueprint, Response, jsonify
from quart_schema import document_response, tag

from monitor import __version__
from monitor.domain.alert_rules import DEFAULT_INTERVAL
from monitor.domain.keys import Role
from monitor.storage.deliveries import queue_figures
from monitor.storage.errors import StorageUnavailable
from monitor.storage.leadership import read_leader
from monitor.web.deps import current_deps
from monitor.web.edge.auth import require_role

log = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__)

ComponentStatus = Literal["ok", "degraded", "down"]
DATABASE_CHECK_TIMEOUT = 2.0
REDIS_CHECK_TIMEOUT = 1.0


class Liveness(BaseModel):
    status: Literal["ok"]


class Component(BaseModel):
    status: ComponentStatus
    detail: str | None = None


class Readiness(BaseModel):
    status: ComponentStatus
    components: dict[str, Component]


class ActorStats(BaseModel):
    status: str
    restarts: int
    last_error: str | None
    last_error_at: float | None


class RequestStats(BaseModel):
    total: int
    in_flight: int
    by_status: dict[str, int]


class IngestStats(BaseModel):
    requests: int
    rows: int
    transactions: int
    rejected_requests: int
    unavailable_requests: int
    replies_dropped: int


class RateLimitStats(BaseModel):
    decisions: int
    refused: int
    redis_decisions: int
    redis_round_trips: int
    fallback_decisions: int
    redis_outages: int
    redis_degraded: bool
    tracked_identities: int
    evicted_identities: int
    unanswered: int


class ConnectionStats(BaseModel):
    open: int
    addresses: int
    max_per_address: int
    refused_over_limit: int
    header_timeouts: int
    send_timeouts: int


class DashboardCacheStats(BaseModel):
    computations: int
    hits_local: int
    hits_redis: int
    waits: int
    failures: int
    abandoned: int
    redis_errors: int
    evictions: int
    entries: int
    bytes: int
    in_flight: int
    redis: bool
    redis_degraded: bool
    redis_outages: int


class AlertLeadershipStats(BaseModel):
    leading: bool = Field(description="This instance evaluates alerts now.")
    epoch: int | None = Field(description="Its leader epoch while it leads.")
    terms: int = Field(description="How many times this instance has taken the lead.")


class NotifierStats(BaseModel):
    queued: int | None = Field(description="Deliveries queued (all instances' queue).")
    in_flight: int = Field(description="Attempts under way on this instance.")
    delivered: int = Field(description="Delivered by this instance since it started.")
    retried: int = Field(description="Attempts by this instance that failed and will be retried.")
    failed: int = Field(description="Deliveries this instance gave up (for good or too old).")
    lost_claims: int = Field(description="Outcomes not recorded: the claim had lapsed.")
    skipped_polls: int = Field(description="Polls skipped: the database was unavailable.")
    oldest_queued_age_s: float | None = Field(description="Age of the oldest queued delivery.")
    oldest_due_wait_s: float | None = Field(
        description="How long the longest-waiting due, unclaimed delivery has waited."
    )
    figures_at: float | None = Field(description="Unix time the queue's figures were read.")


class ServiceStats(BaseModel):
    instance_id: str
    version: str
    uptime_s: float
    requests: RequestStats
    actors: dict[str, ActorStats]
    ingest: IngestStats
    key_usage_dropped: int
    realtime: dict[str, Any]
    rate_limit: RateLimitStats
    connections: ConnectionStats
    dashboard_cache: DashboardCacheStats
    alert_leadership: AlertLeadershipStats
    alert_evaluator: dict[str, Any]
    notifier: NotifierStats
    notification_planner: dict[str, Any]


@blueprint.get("/health")
@tag(["operations"])
@document_response(Liveness, 200)
async def health() -> dict[str, Any]:
    """Liveness: the process is up and serving HTTP. No authentication."""
    return {"status": "ok"}


async def _database_component() -> Component:
    deps = current_deps()
    try:
        with trio.fail_after(DATABASE_CHECK_TIMEOUT):
            await deps.gateway.ping()
    except trio.TooSlowError:
        return Component(status="down", detail="no answer in time")
    except StorageUnavailable:
        return Component(status="down", detail="unreachable")
    return Component(status="ok")


# Issue 17: degraded when no instance has led for two evaluation intervals, or the
# lag passed three; the default rule interval (30 s) stands for "an interval".
LEADERLESS_AFTER_S = 2 * DEFAULT_INTERVAL.total_seconds()
LAGGING_AFTER_S = 3 * DEFAULT_INTERVAL.total_seconds()


async def _alert_evaluator_component() -> Component:
    deps = current_deps()
    try:
        with trio.fail_after(DATABASE_CHECK_TIMEOUT):
            leader = await read_leader(deps.gateway)
    except (trio.TooSlowError, StorageUnavailable):
        return Component(status="degraded", detail="leader unknown: database unavailable")
    age = leader.heartbeat_age_s
    if age is None and time.time() - deps.health.started_at <= LEADERLESS_AFTER_S:
        # A first start: nobody has led yet, but not for two intervals either.
        return Component(status="ok", detail="no instance has led alert evaluation yet")
    if age is None or age > LEADERLESS_AFTER_S:
        since = "ever" if age is None else f"for {age:.0f} s"
        return Component(status="degraded", detail=f"no instance has led alert evaluation {since}")
    lag = deps.evaluator.lag_s
    if deps.leadership.leading and lag > LAGGING_AFTER_S:
        return Component(status="degraded", detail=f"alert evaluation lags {lag:.0f} s")
    return Component(status="ok")


# A due delivery is claimed within a poll (1 s by default) unless every sender is
# busy; one left waiting a minute, or ten polls if longer, means no sender is
# working the queue (all instances' senders down or saturated).
def notifier_waits_too_long(poll_s: float) -> float:
    return max(60.0, 10 * poll_s)


async def _notifier_component() -> Component:
    deps = current_deps()
    try:
        with trio.fail_after(DATABASE_CHECK_TIMEOUT):
            queue = await deps.gateway.run(queue_figures)
    except (trio.TooSlowError, StorageUnavailable):
        return Component(status="degraded", detail="queue unknown: database unavailable")
    limit = notifier_waits_too_long(deps.settings.notification_poll.total_seconds())
    wait = queue.oldest_due_wait_s
    if wait is not None and wait > limit:
        return Component(
            status="degraded",
            detail=f"{queue.due} notifications due; the oldest has waited {wait:.0f} s",
        )
    return Component(status="ok")


async def readiness() -> Readiness:
    """Each component's state and the overall one (the worst); also the System page's."""
    deps = current_deps()
    components: dict[str, Component] = {"database": await _database_component()}
    if components["database"].status == "ok":
        components["alert_evaluator"] = await _alert_evaluator_component()
        components["notifier"] = await _notifier_component()
    if deps.health.redis_problem is not None:
        problem: str | None = f"no answer within {REDIS_CHECK_TIMEOUT:g} s"
        with trio.move_on_after(REDIS_CHECK_TIMEOUT):
            problem = await deps.health.redis_problem()
        components["redis"] = (
            Component(status="ok")
            if problem is None
            else Component(status="degraded", detail=problem)
        )
        components["rate_limiter"] = (
            Component(status="degraded", detail="counting in this process; Redis unreachable")
            if deps.limits.counters.redis_degraded
            else Component(status="ok")
        )
        components["dashboard_cache"] = (
            Component(status="degraded", detail="results not shared; Redis unreachable")
            if deps.shared_results.redis_degraded
            else Component(status="ok")
        )
    bus = deps.live.bus
    if bus.kind != "memory":
        components["live_bus"] = (
            Component(status="ok")
            if bus.connected
            else Component(status="degraded", detail=bus.detail or "disconnected")
        )
    for actor in deps.health.actor_states():
        components[f"actor:{actor.name}"] = (
            Component(status="ok")
            if actor.healthy
            else Component(status="down", detail=actor.status.value)
        )
    statuses = {component.status for component in components.values()}
    overall: ComponentStatus = (
        "down" if "down" in statuses else "degraded" if "degraded" in statuses else "ok"
    )
    return Readiness(status=overall, components=components)


@blueprint.get("/health/ready")
@tag(["operations"])
@document_response(Readiness, 200)
@document_response(Readiness, 503)
async def ready() -> tuple[Response, int]:
    """Readiness of each component: database, alert evaluator, notifier (degraded when
    due notifications wait unclaimed), Redis, the rate limiter and the dashboard cache
    (when Redis is configured) and every actor.

    503 when the database or an actor is down; 200 with `degraded` when only
    Redis is unreachable (the rate limiter then counts in this process), since
    the service keeps serving without it.
    """
    body = await readiness()
    return jsonify(body.model_dump(mode="json", exclude_none=True)), (
        503 if body.status == "down" else 200
    )


@blueprint.get("/stats")
@require_role(Role.READ)
@tag(["operations"])
@document_response(ServiceStats, 200)
async def stats() -> dict[str, Any]:
    """This instance's id, uptime, version, request counts, each actor's state, the rate
    limiter's counts and the dashboard cache's (results computed, and answers shared instead)."""
    return service_stats().model_dump(mode="json")


def service_stats() -> ServiceStats:
    """This instance's figures now: what /stats answers and the System page shows."""
    deps = current_deps()
    counters = deps.counters
    return ServiceStats(
        instance_id=deps.identity.instance_id,
        version=__version__,
        uptime_s=round(time.time() - deps.health.started_at, 3),
        requests=RequestStats(
            total=counters.total,
            in_flight=counters.in_flight,
            by_status={str(status): count for status, count in sorted(counters.by_status.items())},
        ),
        actors={actor.name: ActorStats(**actor.as_dict()) for actor in deps.health.actor_states()},
        ingest=IngestStats(**dataclasses.asdict(deps.events.counters)),
        key_usage_dropped=deps.authenticator.usage_dropped,
        realtime=deps.live.figures(),
        rate_limit=RateLimitStats(
            **dataclasses.asdict(deps.limits.counters), unanswered=deps.limits.limiter.unanswered
        ),
        connections=ConnectionStats(**deps.tcp.figures()),
        dashboard_cache=DashboardCacheStats(**deps.shared_results.figures()),
        alert_leadership=AlertLeadershipStats(**deps.leadership.figures()),
        alert_evaluator=deps.evaluator.as_dict(),
        notifier=NotifierStats(**deps.sender.as_dict()),
        notification_planner=deps.notification_planner.as_dict(),
    )
