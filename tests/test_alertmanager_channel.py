"""The alertmanager channel's messages against a real Alertmanager (Debian's
`prometheus-alertmanager`, installed by .ci/run): it takes the postable alerts, lists a
firing one with its labels, annotations and generatorURL, and a resolved notice ends it.

Alertmanager validates what it is posted (label names, times), so this is the check
that the payload is what its API v2 accepts, beyond the shape the local receivers see.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import trio

from monitor.notifications.delivery import deliver
from monitor.notifications.groups import AlertInstance, NotificationGroup
from monitor.outbound import OutboundLimits

LIMITS = OutboundLimits(connect_timeout=2, read_timeout=5, total_timeout=10)
CONFIG = """\
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
    binary = shutil.which("prometheus-alertmanager")
    assert binary, "prometheus-alertmanager is not installed (.ci/run installs it)"
    (tmp_path / "alertmanager.yml").write_text(CONFIG)
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
