"""Rate limits counted in Redis: shared between instances, pipelined, and surviving an outage."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import trio

import redis_server
from conftest import MakeKey, StartService, make_settings
from monitor.config import Settings

EVENTS = "/api/v1/events"


def redis_settings(database_url: str, tmp_path: Path, redis_url: str, **changes: Any) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        redis_url=redis_url,
        redis_prefix=f"monitor-test-{uuid.uuid4().hex}:",
        **changes,
    )


async def limiter_stats(http: httpx.AsyncClient, admin: str) -> dict[str, Any]:
    stats: dict[str, Any] = (await http.get("/stats", headers={"X-API-Key": admin})).json()
    return stats["rate_limit"]  # type: ignore[no-any-return]


async def test_two_instances_sharing_redis_enforce_one_limit_for_a_key(
    start_service: StartService,
    database_url: str,
    tmp_path: Path,
    redis_url: str,
    make_key: MakeKey,
) -> None:
    settings = redis_settings(database_url, tmp_path, redis_url)
    first = await start_service(settings)
    second = await start_service(settings.replace(data_dir=tmp_path / "second"))
    _, token = await make_key("read", rate_limit=5)
    headers = {"X-API-Key": token}
    async with (
        httpx.AsyncClient(base_url=first.base_url, timeout=10) as one,
        httpx.AsyncClient(base_url=second.base_url, timeout=10) as two,
    ):
        codes = []
        remaining = []
        for n in range(8):
            response = await (one if n % 2 == 0 else two).get(EVENTS, headers=headers)
            codes.append(response.status_code)
            remaining.append(response.headers["RateLimit-Remaining"])
    assert codes == [200] * 5 + [429] * 3
    assert remaining == ["4", "3", "2", "1", "0", "0", "0", "0"]


async def test_concurrent_requests_share_redis_round_trips(
    start_service: StartService,
    database_url: str,
    tmp_path: Path,
    redis_url: str,
    make_key: MakeKey,
) -> None:
    service = await start_service(redis_settings(database_url, tmp_path, redis_url))
    _, token = await make_key("read")
    _, admin = await make_key("admin", rate_limit=0)
    limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=30, limits=limits) as http:
        before = await limiter_stats(http, admin)
        codes: list[int] = []

        async def client() -> None:
            for _ in range(10):
                codes.append((await http.get(EVENTS, headers={"X-API-Key": token})).status_code)

        async with trio.open_nursery() as nursery:
            for _ in range(40):
                nursery.start_soon(client)
        after = await limiter_stats(http, admin)
    assert codes == [200] * 400
    decisions = after["redis_decisions"] - before["redis_decisions"]
    round_trips = after["redis_round_trips"] - before["redis_round_trips"]
    # The address and the key, for each of the 400 requests; on a machine so busy
    # that Redis answers too late, some are decided in memory instead (counted).
    fallbacks = after["fallback_decisions"] - before["fallback_decisions"]
    assert decisions + fallbacks >= 800
    assert decisions >= 400, "most decisions were Redis's"
    # How many decisions share a round trip depends on how the 40 clients
    # interleave (about 2 on a quiet machine, 6 on a busy one); without
    # pipelining there would be one round trip per decision.
    assert round_trips < decisions * 0.75, (round_trips, decisions)


async def test_an_authenticated_request_costs_one_redis_round_trip(
    start_service: StartService,
    database_url: str,
    tmp_path: Path,
    redis_url: str,
    make_key: MakeKey,
) -> None:
    service = await start_service(redis_settings(database_url, tmp_path, redis_url))
    _, token = await make_key("read")
    _, admin = await make_key("admin", rate_limit=0)
    headers = {"X-API-Key": token}
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:
        assert (await http.get(EVENTS, headers=headers)).status_code == 200  # caches the key
        before = await limiter_stats(http, admin)
        for _ in range(10):  # one at a time: nothing else to share a round trip with
            response = await http.get(EVENTS, headers=headers)
            assert response.status_code == 200
            assert response.headers["RateLimit-Limit"] == "1000000"  # the key's limit binds
        after = await limiter_stats(http, admin)
    # Each /stats call by the unlimited admin key costs one (its address).
    decisions = after["redis_decisions"] - before["redis_decisions"] - 1
    round_trips = after["redis_round_trips"] - before["redis_round_trips"] - 1
    assert (decisions, round_trips) == (20, 10)  # address and key, together


async def readiness_of_limiter(http: httpx.AsyncClient) -> str:
    ready = (await http.get("/health/ready")).json()
    status: str = ready["components"]["rate_limiter"]["status"]
    return status


async def test_requests_are_served_while_redis_is_down_and_redis_limits_resume_after(
    start_service: StartService, database_url: str, tmp_path: Path, make_key: MakeKey
) -> None:
    async with redis_server.dedicated_redis() as redis:
        settings = redis_settings(database_url, tmp_path, redis.url, rate_limit_per_ip=0)
        service = await start_service(settings)
        _, token = await make_key("read", rate_limit=3)
        _, admin = await make_key("admin", rate_limit=0)
        headers = {"X-API-Key": token}
        stored_key = f"{settings.redis_prefix}ratelimit:key:"
        async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:
            assert (await http.get(EVENTS, headers=headers)).status_code == 200
            assert await readiness_of_limiter(http) == "ok"
            keys = redis_server.command(redis.port, "KEYS", f"{stored_key}*")
            assert stored_key.encode() in keys

            await redis.stop()
            # Served at once, from in-process limits (a fresh budget of 3 here).
            with trio.fail_after(5):
                codes = [(await http.get(EVENTS, headers=headers)).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]
            assert await readiness_of_limiter(http) == "degraded"
            stats = await limiter_stats(http, admin)
            assert stats["redis_degraded"] and stats["redis_outages"] == 1
            assert stats["fallback_decisions"] >= 4

            await redis.start()  # empty: it kept nothing
            with trio.fail_after(15):
                while await readiness_of_limiter(http) != "ok":
                    await trio.sleep(0.1)
            codes = [(await http.get(EVENTS, headers=headers)).status_code for _ in range(4)]
            assert codes == [200, 200, 200, 429]  # counted in Redis again
            assert stored_key.encode() in redis_server.command(redis.port, "KEYS", f"{stored_key}*")
            assert (await limiter_stats(http, admin))["redis_outages"] == 1
