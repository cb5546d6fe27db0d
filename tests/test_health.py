"""Liveness, readiness (database, Redis, actors) and /stats."""

from __future__ import annotations

import httpx
import psycopg
import pytest
import trio

from conftest import StartService, set_connections_allowed
from monitor.config import Settings
from monitor.storage.leadership import LEADER_LOCK
from monitor.supervisor import ActorSpec
from monitor.web.api.health import routes as health_routes


async def test_liveness_needs_no_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_each_component(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["components"]["database"]["status"] == "ok"
    assert body["components"]["actor:key_usage"]["status"] == "ok"
    assert "redis" not in body["components"]  # not configured


async def test_redis_is_checked_when_configured(
    start_service: StartService, settings: Settings, redis_url: str
) -> None:
    service = await start_service(settings.replace(redis_url=redis_url))
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        body = (await client.get("/health/ready")).json()
    assert body["components"]["redis"]["status"] == "ok"


async def test_unreachable_redis_is_degraded_not_down(
    start_service: StartService, settings: Settings
) -> None:
    # Nothing listens on port 1 of loopback.
    service = await start_service(settings.replace(redis_url="redis://127.0.0.1:1/0"))
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["components"]["redis"]["status"] == "degraded"
    assert body["components"]["redis"]["detail"]


async def test_a_crashed_actor_makes_the_service_not_ready(
    start_service: StartService, settings: Settings
) -> None:
    async def always_crashes(*, task_status: trio.TaskStatus[None]) -> None:
        raise RuntimeError("cannot start")

    service = await start_service(
        settings, extra_actors=[ActorSpec("always_crashes", always_crashes)]
    )
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    component = response.json()["components"]["actor:always_crashes"]
    assert component["status"] == "down"
    assert "cannot start" not in response.text  # details are for authenticated /stats
    states = {s.name: s for s in service.running.supervisor.snapshot()}
    assert states["always_crashes"].last_error == "RuntimeError: cannot start"


async def test_stats_needs_a_key_and_shows_actors(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    assert (await client.get("/stats")).status_code == 401
    body = (await client.get("/stats", headers={"X-API-Key": admin_token})).json()
    assert body["version"]
    assert body["uptime_s"] >= 0
    assert body["requests"]["total"] >= 1
    assert body["actors"]["key_usage"]["status"] == "running"
    assert body["actors"]["key_usage"]["restarts"] == 0


async def test_database_outage_gives_503_and_recovers_by_itself(
    start_service: StartService, settings: Settings, empty_database_url: str, admin_token: str
) -> None:
    service = await start_service(settings.replace(database_url=empty_database_url))
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        assert (await client.get("/health/ready")).status_code == 200
        set_connections_allowed(empty_database_url, allowed=False)
        try:
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["components"]["database"]["status"] == "down"
            # A request that needs the database gets 503 + Retry-After, quickly.
            keyed = await client.get(
                "/api/v1/keys", headers={"X-API-Key": "mon_abcdefgh_" + "B" * 40}
            )
            assert keyed.status_code == 503
            assert int(keyed.headers["retry-after"]) > 0
            assert keyed.headers["content-type"] == "application/problem+json"
        finally:
            set_connections_allowed(empty_database_url, allowed=True)
        # Back without a restart; the pool replaces its dead connections.
        with trio.fail_after(20):
            while (await client.get("/health/ready")).status_code != 200:
                await trio.sleep(0.2)


async def test_the_evaluator_is_degraded_only_after_two_intervals_without_a_leader(
    start_service: StartService,
    settings: Settings,
    empty_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The test holds the leader's lock (without leading), so the service never leads.
    with psycopg.connect(empty_database_url, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s, %s)", LEADER_LOCK)
        service = await start_service(settings.replace(database_url=empty_database_url))

        async def evaluator() -> dict[str, str]:
            async with httpx.AsyncClient(base_url=service.base_url) as client:
                body = (await client.get("/health/ready")).json()
            return dict(body["components"]["alert_evaluator"])

        # Nobody has ever led, but the service has not been up for two intervals either.
        assert await evaluator() == {
            "status": "ok",
            "detail": "no instance has led alert evaluation yet",
        }
        monkeypatch.setattr(health_routes, "LEADERLESS_AFTER_S", 0.0)
        assert await evaluator() == {
            "status": "degraded",
            "detail": "no instance has led alert evaluation ever",
        }
        monkeypatch.undo()
        holder.execute("update alert_leader set heartbeat_at = now() - interval '5 minutes'")
        stale = await evaluator()
        assert stale["status"] == "degraded"
        assert stale["detail"].startswith("no instance has led alert evaluation for 30"), stale
        holder.execute("update alert_leader set heartbeat_at = now()")
        assert await evaluator() == {"status": "ok"}
