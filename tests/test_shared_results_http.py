"""Shared results over HTTP: the real service with a test-only route on the wired cache.

The route stands in for the dashboard routes: a 10 s tick, a key from the
query string, a computation the test controls, and the ETag/304 helper. Its
clock stands still (`Probe.now`), so a test never straddles two ticks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import trio
from quart import request
from quart_trio import QuartTrio

from conftest import RUN_ID, MakeKey, RunningService, StartService
from monitor import service
from monitor.config import Settings
from monitor.domain.result_keys import result_key
from monitor.domain.ticks import align_window
from monitor.web.deps import WebDeps, current_deps
from monitor.web.edge.revalidation import entity_tag, revalidated_response

ROUTE = "/test-only/shared"
TICK = timedelta(seconds=10)


@dataclass
class Probe:
    """What the test route computes, and the web dependencies of each service started."""

    calls: int = 0
    now: datetime = datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)  # 7 s before its tick ends
    gate: trio.Event = field(default_factory=trio.Event)
    deps: list[WebDeps] = field(default_factory=list)

    async def compute(self) -> bytes:
        self.calls += 1
        await self.gate.wait()
        return b'{"computed":%d}' % self.calls


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Probe:
    probe = Probe()
    probe.gate.set()
    real_create_app: Callable[[WebDeps], QuartTrio] = service.create_app

    def create_app(deps: WebDeps) -> QuartTrio:
        app = real_create_app(deps)
        probe.deps.append(deps)

        @app.get(ROUTE)
        async def shared() -> Any:
            window = align_window(TICK, TICK, probe.now)
            key = result_key(ROUTE, request.args.items(multi=True), window.tick_id)
            body = await current_deps().shared_results.get_or_compute(
                key, window.seconds_left, probe.compute
            )
            return revalidated_response(body, window.seconds_left)

        return app

    monkeypatch.setattr(service, "create_app", create_app)
    return probe


async def dashboard_cache_stats(service: RunningService, token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:
        response = await http.get("/stats", headers={"X-API-Key": token})
    assert response.status_code == 200
    stats: dict[str, Any] = response.json()["dashboard_cache"]
    return stats


async def test_fifty_concurrent_identical_requests_are_computed_once(
    probe: Probe, start_service: StartService, settings: Settings, make_key: MakeKey
) -> None:
    running = await start_service(settings)
    probe.gate = trio.Event()
    responses: list[httpx.Response] = []
    async with httpx.AsyncClient(
        base_url=running.base_url, timeout=10, limits=httpx.Limits(max_connections=50)
    ) as http:

        async def one() -> None:
            responses.append(await http.get(ROUTE, params={"range": "1h"}))

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for _ in range(50):
                    nursery.start_soon(one)
                cache = probe.deps[0].shared_results
                while cache.counters.waits < 49:  # every other request joined the one computing
                    await trio.sleep(0.01)
                probe.gate.set()
    assert probe.calls == 1
    assert {r.status_code for r in responses} == {200}
    assert {r.content for r in responses} == {b'{"computed":1}'}
    assert len({r.headers["etag"] for r in responses}) == 1
    stats = await dashboard_cache_stats(running, (await make_key("read"))[1])
    assert stats["computations"] == 1
    assert stats["waits"] == 49
    assert stats["entries"] == 1
    assert stats["redis"] is False


async def test_a_repoll_with_the_current_etag_gets_304_without_a_body(
    probe: Probe, start_service: StartService, settings: Settings
) -> None:
    running = await start_service(settings)
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        first = await http.get(ROUTE)
        tag = first.headers["etag"]
        assert first.status_code == 200
        assert first.headers["content-type"] == "application/json"
        assert tag == entity_tag(first.content)
        assert tag.startswith('"')  # strong
        private, max_age = first.headers["cache-control"].split(", ")
        assert private == "private"
        assert max_age == "max-age=7"

        for if_none_match in (tag, f"W/{tag}", f'"other", {tag}', "*"):
            again = await http.get(ROUTE, headers={"If-None-Match": if_none_match})
            assert again.status_code == 304, if_none_match
            assert again.content == b""
            assert again.headers["etag"] == tag
            assert "cache-control" in again.headers
            assert "content-type" not in again.headers

        for if_none_match in ('"other"', 'W/"other"', ""):
            changed = await http.get(ROUTE, headers={"If-None-Match": if_none_match})
            assert changed.status_code == 200, if_none_match
            assert changed.content == first.content

        head = await http.head(ROUTE)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["etag"] == tag
        revalidated_head = await http.head(ROUTE, headers={"If-None-Match": tag})
        assert revalidated_head.status_code == 304
        assert probe.calls == 1  # one tick, one computation

        probe.now += TICK  # the next tick: a new answer under a new tag
        next_tick = await http.get(ROUTE, headers={"If-None-Match": tag})
        assert next_tick.status_code == 200
        assert next_tick.content == b'{"computed":2}'
        assert next_tick.headers["etag"] not in (tag, "")


async def test_two_instances_on_one_redis_compute_once_between_them(
    probe: Probe,
    start_service: StartService,
    settings: Settings,
    redis_url: str,
    make_key: MakeKey,
) -> None:
    shared = settings.replace(
        redis_url=redis_url, redis_prefix=f"monitor-test-{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    )
    first = await start_service(shared)
    second = await start_service(shared.replace(data_dir=settings.data_dir / "second"))
    token = (await make_key("read"))[1]
    async with httpx.AsyncClient(timeout=10) as http:
        one = await http.get(first.base_url + ROUTE, params={"range": "1h", "source": "a"})
        two = await http.get(second.base_url + ROUTE, params={"source": "a", "range": "1h"})
        ready = (await http.get(second.base_url + "/health/ready")).json()
    assert (one.status_code, two.status_code) == (200, 200)
    assert two.content == one.content
    assert two.headers["etag"] == one.headers["etag"]
    assert probe.calls == 1
    assert (await dashboard_cache_stats(second, token))["hits_redis"] == 1
    assert ready["components"]["dashboard_cache"] == {"status": "ok"}


async def test_with_redis_unreachable_results_are_still_served_and_readiness_says_why(
    probe: Probe, start_service: StartService, settings: Settings, make_key: MakeKey
) -> None:
    running = await start_service(settings.replace(redis_url="redis://127.0.0.1:1"))
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        with trio.fail_after(5):
            response = await http.get(ROUTE)
        ready = await http.get("/health/ready")
    assert response.status_code == 200
    assert ready.status_code == 200
    assert ready.json()["components"]["dashboard_cache"]["status"] == "degraded"
    stats = await dashboard_cache_stats(running, (await make_key("read"))[1])
    assert stats["redis"] and stats["redis_degraded"]
    assert stats["redis_errors"] >= 1
    assert stats["computations"] == 1
