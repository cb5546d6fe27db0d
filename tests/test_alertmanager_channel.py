"""The alertmanager channel's messages against a real Alertmanager (Debian's
`prometheus-alertmanager`, installed by .ci/run): it takes the postable alerts, lists a
firing one with its labels, annotations and generatorURL, and a resolved notice ends it.

Alertmanager validates what it is posted (label names, times), so this is the check
that the payload is what its API v2 accepts, beyond the shape the local receivers see.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import trio

from conftest import StartService, make_settings
from monitor.notifications.delivery import deliver
from monitor.notifications.groups import AlertInstance, NotificationGroup
from monitor.outbound import OutboundLimits
from notifier_helpers import service_world

LIMITS = OutboundLimits(connect_timeout=2, read_timeout=5, total_timeout=10)
CONFIG = """\
global:
  resolve_timeout: {resolve_timeout}
route:
  receiver: nobody
receivers:
  - name: nobody
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def alertmanager(tmp_path: Path) -> AsyncIterator[str]:
    async with running_alertmanager(tmp_path, "5m") as url:
        yield url


@contextlib.asynccontextmanager
async def running_alertmanager(tmp_path: Path, resolve_timeout: str) -> AsyncIterator[str]:
    binary = shutil.which("prometheus-alertmanager")
    assert binary, "prometheus-alertmanager is not installed (.ci/run installs it)"
    (tmp_path / "alertmanager.yml").write_text(CONFIG.format(resolve_timeout=resolve_timeout))
    port = free_port()
    process = await trio.lowlevel.open_process(
        [
            binary,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip listener on 0.0.0.0
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            with trio.fail_after(30):
                while True:  # readiness is polled: there is no event to wait on
                    try:
                        if (await client.get(f"{url}/-/ready")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert process.returncode is None, "alertmanager exited at start"
                    await trio.sleep(0.1)
        yield url
    finally:
        process.kill()
        await process.wait()


def group(alert: AlertInstance, now: datetime) -> NotificationGroup:
    return NotificationGroup(
        group_labels={"rule": "disk full"},
        alerts=(alert,),
        idempotency_key="am-1",
        public_url="https://monitor.example.com",
        sent_at=now,
    )


async def listed(url: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/api/v2/alerts", params={"filter": "rule=disk full"})
    assert response.status_code == 200, response.text
    found: list[dict[str, object]] = response.json()
    return found


async def test_alertmanager_lists_the_firing_alert_and_the_resolved_notice_ends_it(
    alertmanager: str,
) -> None:
    now = datetime.now(UTC)
    firing = AlertInstance(
        labels={"rule": "disk full", "severity": "critical", "host": "db-1"},
        annotations={"summary": "disk 97% on db-1", "runbook-url": "https://runbooks/disk"},
        status="firing",
        starts_at=now - timedelta(minutes=2),
        value=97.0,
        rule_id=4,
    )
    result = await deliver("alertmanager", {"url": alertmanager}, {}, group(firing, now), LIMITS)
    assert result.delivered, result

    [shown] = await listed(alertmanager)
    assert shown["labels"] == {
        "alertname": "disk full",
        "rule": "disk full",
        "severity": "critical",
        "host": "db-1",
    }
    assert shown["annotations"] == {
        "summary": "disk 97% on db-1",
        "runbook_url": "https://runbooks/disk",
    }
    assert shown["generatorURL"] == "https://monitor.example.com/ui/alerts/rules/4"
    assert shown["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}

    # Posted again while it fires (as the notifier will), it stays one alert.
    assert (
        await deliver("alertmanager", {"url": alertmanager}, {}, group(firing, now), LIMITS)
    ).delivered
    assert len(await listed(alertmanager)) == 1

    resolved = AlertInstance(
        labels=firing.labels,
        annotations=firing.annotations,
        status="resolved",
        starts_at=firing.starts_at,
        ends_at=datetime.now(UTC),
        rule_id=4,
    )
    later = datetime.now(UTC)
    result = await deliver(
        "alertmanager", {"url": alertmanager}, {}, group(resolved, later), LIMITS
    )
    assert result.delivered, result
    assert await listed(alertmanager) == []


RESOLVE_TIMEOUT_S = 2


async def test_the_notifier_keeps_a_firing_alert_listed_past_resolve_timeout_then_ends_it(
    start_service: StartService, empty_database_url: str, tmp_path: Path
) -> None:
    world = service_world(empty_database_url)
    try:
        async with running_alertmanager(tmp_path, f"{RESOLVE_TIMEOUT_S}s") as url:
            channel = world.channel("alertmanager", url=url)
            world.default_policy([channel], group_wait="0s", group_interval="10s")
            await start_service(
                make_settings(
                    empty_database_url,
                    tmp_path,
                    alert_leader_poll=timedelta(seconds=0.1),
                    notifier_tick=timedelta(seconds=0.1),
                    notification_poll=timedelta(seconds=0.1),
                    notifier_alertmanager_repost=timedelta(seconds=0.5),
                )
            )
            instance = world.fire("db-1", datetime.now(UTC))
            with trio.fail_after(30):
                while not await listed(url):
                    await trio.sleep(0.1)  # Alertmanager has no event to wait on
            # Told once, never re-posted, Alertmanager would resolve it after its
            # resolve_timeout; the notifier's re-posts keep it listed for three of them.
            kept_until = trio.current_time() + 3 * RESOLVE_TIMEOUT_S
            while trio.current_time() < kept_until:
                [shown] = await listed(url)
                assert shown["labels"]["host"] == "db-1"  # type: ignore[index]
                assert shown["status"]["state"] == "active"  # type: ignore[index]
                await trio.sleep(0.25)  # sampling the listing over the span
            world.resolve(instance, datetime.now(UTC))
            resolved = "select status from notification_deliveries where reason = 'resolved'"
            with trio.fail_after(30):  # told after the group's 10 s group_interval
                while world.sql(resolved) != [("delivered",)]:
                    await trio.sleep(0.2)
            assert await listed(url) == []
        refreshes = [d for d in world.deliveries() if d.reason == "refresh"]
        assert len(refreshes) >= 3 * RESOLVE_TIMEOUT_S, "re-posted about every 0.5 s"
        [told] = [d for d in world.deliveries() if d.reason == "resolved"]
        [alert] = told.message["alerts"]
        assert (alert["instance_id"], alert["status"]) == (instance, "resolved")
    finally:
        world.close()
