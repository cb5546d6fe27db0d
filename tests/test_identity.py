"""The instance's id and public URL: given, or derived from the bind address; where they show."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from conftest import StartService
from monitor.config import Settings, load_settings
from monitor.config.identity import identify, public_url_warning
from monitor.logs import JsonFormatter


def settings_for(**environ: str) -> Settings:
    return load_settings(environ)


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", "8080", "http://127.0.0.1:8080"),
        ("::1", "9000", "http://[::1]:9000"),
        ("2001:db8::7", "80", "http://[2001:db8::7]:80"),
        ("localhost", "8080", "http://localhost:8080"),
        ("Monitor.Internal", "8080", "http://monitor.internal:8080"),
        ("0.0.0.0", "8080", "http://web-1:8080"),  # nobody can browse to 0.0.0.0
        ("::", "8080", "http://web-1:8080"),
    ],
)
def test_the_public_url_is_derived_from_host_and_port(host: str, port: str, expected: str) -> None:
    identity = identify(settings_for(MONITOR_HOST=host, MONITOR_PORT=port), hostname="web-1")
    assert identity.public_url == expected
    assert not identity.public_url_given


def test_a_given_public_url_wins() -> None:
    settings = settings_for(MONITOR_HOST="0.0.0.0", MONITOR_PUBLIC_URL="https://mon.example.com/")
    identity = identify(settings, hostname="web-1")
    assert identity.public_url == "https://mon.example.com"
    assert identity.public_url_given
    assert public_url_warning(settings, identity) is None


@pytest.mark.parametrize(
    ("host", "warned"),
    [
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("::", True),
        ("10.1.2.3", True),
        ("monitor.internal", True),
    ],
)
def test_the_missing_public_url_is_warned_about_only_when_others_can_connect(
    host: str, warned: bool
) -> None:
    settings = settings_for(MONITOR_HOST=host)
    warning = public_url_warning(settings, identify(settings, hostname="web-1"))
    assert (warning is not None) == warned
    if warning is not None:
        assert "MONITOR_PUBLIC_URL" in warning and host in warning


def test_the_instance_id_is_host_and_port_unless_given() -> None:
    assert identify(settings_for(MONITOR_PORT="8080"), hostname="Web-1").instance_id == "web-1:8080"
    # Port 0 is picked at start; the process id tells processes on one machine apart.
    assert identify(settings_for(MONITOR_PORT="0"), hostname="web-1", pid=42).instance_id == (
        "web-1:pid42"
    )
    given = settings_for(MONITOR_INSTANCE_ID="eu-1")
    assert identify(given, hostname="web-1").instance_id == "eu-1"


@pytest.fixture
def log_lines() -> Iterator[list[dict[str, object]]]:
    """Every log line as the service writes it (formatted when logged, as stderr gets it)."""
    lines: list[dict[str, object]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    handler = Collect(logging.INFO)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lines
    root.removeHandler(handler)
    root.setLevel(previous_level)


async def test_stats_and_every_log_line_name_the_instance(
    start_service: StartService,
    settings: Settings,
    admin_token: str,
    log_lines: list[dict[str, object]],
) -> None:
    service = await start_service(settings.replace(instance_id="test-instance-7"))
    assert service.running.identity.instance_id == "test-instance-7"
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        stats = await client.get("/stats", headers={"X-API-Key": admin_token})
    assert stats.json()["instance_id"] == "test-instance-7"
    assert stats.json()["realtime"]["instance_id"] == "test-instance-7"  # the `stats` channel's
    await service.shutdown()
    by_message = {line["msg"]: line for line in log_lines}
    for message in ("listening", "request", "stopped"):
        assert by_message[message]["instance_id"] == "test-instance-7", by_message[message]


async def test_listening_everywhere_without_a_public_url_warns_once_at_start(
    start_service: StartService, settings: Settings, log_lines: list[dict[str, object]]
) -> None:
    service = await start_service(settings.replace(host="0.0.0.0"))
    await service.shutdown()
    warnings = [line for line in log_lines if "MONITOR_PUBLIC_URL" in str(line["msg"])]
    assert len(warnings) == 1, warnings
    assert warnings[0]["level"] == "warning"
    assert warnings[0]["public_url"] == service.running.identity.public_url
    assert str(warnings[0]["public_url"]).startswith("http://")


async def test_a_loopback_service_does_not_warn(
    start_service: StartService, settings: Settings, log_lines: list[dict[str, object]]
) -> None:
    service = await start_service(settings)  # 127.0.0.1
    await service.shutdown()
    assert not [line for line in log_lines if "MONITOR_PUBLIC_URL" in str(line["msg"])]
    listening = next(line for line in log_lines if line["msg"] == "listening")
    assert str(listening["public_url"]).startswith("http://127.0.0.1:")
