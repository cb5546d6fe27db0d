"""The planner actor: plans only while leading, rescans every group at its interval, and rides
out outages and lost leadership; end to end, a leading service queues what a group is due."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

import notifier_helpers
from conftest import RunningService, StartService, make_settings
from monitor.actors import notification_planner
from monitor.config import Settings
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.leadership import Leadership
from monitor.notification_planning import PlanOutcome
from monitor.planner_figures import PlannerFigures
from monitor.storage import keys as key_store
from monitor.storage.errors import StorageUnavailable
from monitor.storage.gateway import open_gateway
from monitor.storage.leadership import LostLeadership
from notifier_helpers import Delivery, World

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


@dataclass
class FakePlan:
    """Records each tick; fails the ticks it is told to."""

    calls: list[tuple[int, float, bool]] = field(default_factory=list)
    failures: dict[int, Exception] = field(default_factory=dict)  # by call number

    async def __call__(self, epoch: int, now: datetime, rescan: bool) -> PlanOutcome:
        self.calls.append((epoch, trio.current_time(), rescan))
        failure = self.failures.get(len(self.calls))
        if failure is not None:
            raise failure
        return PlanOutcome(transitions=2, looked_at=1, queued=1, groups=3, members=4, held_back=0)


async def _run(
    plan: FakePlan, leadership: Leadership, figures: PlannerFigures, until: float
) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: notification_planner.run(
                leadership,
                plan,
                figures,
                tick=1.0,
                rescan=15.0,
                now=lambda: T0,
                task_status=task_status,
            )
        )
        await trio.sleep(until)
        nursery.cancel_scope.cancel()


async def test_a_follower_plans_nothing_and_a_new_leader_starts_with_a_rescan(
    autojump_clock: trio.testing.MockClock,
) -> None:
    plan, figures, leadership = FakePlan(), PlannerFigures(), Leadership()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_run, plan, leadership, figures, 100.0)
        await trio.sleep(10.5)
        assert plan.calls == [], "not leading: no tick"
        leadership.take(7)
        await trio.sleep(31)
        leadership.give_up()
        await trio.sleep(10)
        count = len(plan.calls)
        await trio.sleep(10)
        assert len(plan.calls) == count, "stepped down: no tick"
    assert {epoch for epoch, _, _ in plan.calls} == {7}
    rescans = [at - plan.calls[0][1] for _, at, rescan in plan.calls if rescan]
    assert rescans == [0, 15, 30], "every group at once on taking the lead, then every 15 s"
    assert figures.ticks == len(plan.calls) and figures.queued == figures.ticks
    assert (figures.groups, figures.members, figures.last_looked_at) == (3, 4, 1)


async def test_an_outage_skips_the_tick_and_a_lost_lead_drops_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    plan = FakePlan(
        failures={
            1: StorageUnavailable("down"),
            2: LostLeadership("epoch 8"),
            3: StorageUnavailable("x"),
        }
    )
    figures, leadership = PlannerFigures(), Leadership()
    leadership.take(7)
    await _run(plan, leadership, figures, 5.5)
    assert [rescan for _, _, rescan in plan.calls] == [True, True, True, True, False, False]
    assert (figures.skipped_ticks, figures.ticks) == (2, 3), "failed rescans are tried again"


@pytest.fixture
def service_world(empty_database_url: str) -> Iterator[World]:
    """A migrated database of the test's own, with a rule: the service's leader plans here."""
    world = notifier_helpers.service_world(empty_database_url)
    yield world
    world.close()


def _settings(world: World, tmp_path: Path) -> Settings:
    return make_settings(
        world.url,
        tmp_path,
        alert_leader_poll=timedelta(seconds=0.1),
        notifier_tick=timedelta(seconds=0.1),
    )


async def _read_key(url: str) -> str:
    async with open_gateway(
        url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        _, token = await key_store.create_key(
            gateway,
            name="planner test",
            role=Role.READ,
            rate_limit=None,
            expires_at=None,
            by=Attribution(Actor.system("tests")),
        )
    return token


async def _wait_for_deliveries(world: World) -> list[Delivery]:
    with trio.fail_after(30):
        while not (made := await trio.to_thread.run_sync(world.deliveries)):
            await trio.sleep(0.1)
    return made


async def _planner_figures(running: RunningService, token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        stats = (await client.get("/stats", headers={"X-API-Key": token})).json()
    figures: dict[str, Any] = stats["notification_planner"]
    return figures


async def test_a_leading_service_queues_what_a_group_is_due(
    start_service: StartService, service_world: World, tmp_path: Path
) -> None:
    world = service_world
    hook = world.channel()
    world.default_policy([hook], group_wait="0s")
    token = await _read_key(world.url)
    running = await start_service(_settings(world, tmp_path))
    instance = world.fire("a", datetime.now(UTC))
    [delivery] = await _wait_for_deliveries(world)
    assert (delivery.channel_id, delivery.reason, delivery.ids("firing")) == (
        hook,
        "news",
        [instance],
    )
    planner = await _planner_figures(running, token)
    assert planner["queued"] == 1 and planner["transitions"] == 1
    assert planner["groups"] == 1 and planner["ticks"] >= 1


async def test_a_restarted_service_tells_a_waiting_group_once(
    start_service: StartService, service_world: World, tmp_path: Path
) -> None:
    world = service_world
    world.default_policy([world.channel()], group_wait="8s")
    token = await _read_key(world.url)
    first = await start_service(_settings(world, tmp_path))
    instance = world.fire("a", datetime.now(UTC))
    with trio.fail_after(30):  # the first service has read it into its group
        while (
            await trio.to_thread.run_sync(
                world.sql, "select 1 from notification_groups where first_seen is not null"
            )
            == []
        ):
            await trio.sleep(0.1)
    await first.shutdown()
    assert world.deliveries() == [], "stopped within group_wait"
    second = await start_service(_settings(world, tmp_path))
    [delivery] = await _wait_for_deliveries(world)
    assert delivery.ids("firing") == [instance]
    told_at = (await _planner_figures(second, token))["ticks"]
    with trio.fail_after(30):  # twenty more ticks: nothing is queued again
        while (await _planner_figures(second, token))["ticks"] < told_at + 20:
            await trio.sleep(0.1)
    assert len(world.deliveries()) == 1
