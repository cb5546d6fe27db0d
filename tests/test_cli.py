"""The `monitor` command against the shared PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from processes import clean_environment, run_monitor

pytestmark = pytest.mark.slow


async def test_keys_create_prints_the_key_alone_on_the_last_line(database_url: str) -> None:
    env = clean_environment(DATABASE_URL=database_url)
    result = await run_monitor(
        "keys",
        "create",
        "--name",
        "deploy bot",
        "--role",
        "write",
        "--rate-limit",
        "3600",
        "--expires",
        "2099-01-01T00:00:00+00:00",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.decode().rstrip("\n").splitlines()[-1]
    assert re.fullmatch(r"mon_[a-z0-9]{8}_[A-Za-z0-9]{40}", last)

    listed = await run_monitor("keys", "list", env=env)
    assert "deploy bot" in listed.stdout.decode()
    assert last.split("_")[1] in listed.stdout.decode()  # the prefix is shown
    assert last.split("_")[2] not in listed.stdout.decode()  # the secret is not


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--role", "root"], "--role"),
        (["--role", "read", "--expires", "tomorrow"], "ISO 8601"),
        (["--role", "read", "--expires", "2020-01-01T00:00:00+00:00"], "future"),
        (["--role", "read", "--rate-limit", "-5"], "--rate-limit"),
    ],
)
async def test_keys_create_rejects_bad_arguments(
    database_url: str, args: list[str], complaint: str
) -> None:
    env = clean_environment(DATABASE_URL=database_url)
    result = await run_monitor("keys", "create", "--name", "x", *args, env=env)
    assert result.returncode == 2
    assert complaint in result.stderr.decode()


async def test_keys_create_makes_ingest_keys_for_agents(database_url: str) -> None:
    env = clean_environment(DATABASE_URL=database_url)
    name = f"agent {uuid.uuid4().hex[:8]}"
    result = await run_monitor("keys", "create", "--name", name, "--role", "ingest", env=env)
    assert result.returncode == 0, result.stderr
    assert "role ingest" in result.stdout.decode()
    listed = await run_monitor("keys", "list", "--json", env=env)
    rows = [json.loads(line) for line in listed.stdout.decode().splitlines()]
    assert [row["role"] for row in rows if row["name"] == name] == ["ingest"]


async def test_an_unknown_role_is_refused_naming_the_four(database_url: str) -> None:
    env = clean_environment(DATABASE_URL=database_url)
    result = await run_monitor("keys", "create", "--name", "x", "--role", "root", env=env)
    assert result.returncode == 2
    assert "'ingest', 'read', 'write', 'admin'" in result.stderr.decode()


async def test_revoking_an_unknown_key_fails(database_url: str) -> None:
    result = await run_monitor(
        "keys", "revoke", "999999", env=clean_environment(DATABASE_URL=database_url)
    )
    assert result.returncode == 1
    assert "no API key with id 999999" in result.stderr.decode()


async def test_config_shows_effective_settings_with_secrets_redacted() -> None:
    env = clean_environment(
        DATABASE_URL="postgresql://monitor:hunter2@db.internal:5432/monitor", PORT="9999"
    )
    result = await run_monitor("config", env=env)
    assert result.returncode == 0
    text = result.stdout.decode()
    assert "hunter2" not in text
    assert "db.internal" in text
    assert re.search(r"MONITOR_PORT\s+9999", text)


async def test_an_invalid_setting_stops_start_up_with_one_line() -> None:
    result = await run_monitor("serve", env=clean_environment(MONITOR_DB_POOL_SIZE="lots"))
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert lines == [
        "monitor: invalid setting MONITOR_DB_POOL_SIZE: must be a whole number, got 'lots'"
    ]


async def test_an_unreachable_database_is_reported_plainly() -> None:
    env = clean_environment(
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/nothing", MONITOR_DB_CONNECT_TIMEOUT="1"
    )
    result = await run_monitor("serve", "--port", "0", env=env)
    assert result.returncode == 1
    last = result.stderr.decode().strip().splitlines()[-1]
    assert last.startswith("monitor: database unavailable: could not connect")


async def test_sigterm_with_an_idle_keep_alive_client_exits_at_once(
    empty_database_url: str,
) -> None:
    import signal

    import httpx
    import trio

    from processes import serving

    env = clean_environment(DATABASE_URL=empty_database_url, MONITOR_SHUTDOWN_TIMEOUT="30")
    async with serving(env=env) as serve, httpx.AsyncClient(base_url=serve.base_url) as client:
        assert (await client.get("/health")).status_code == 200  # connection stays open
        serve.signal(signal.SIGTERM)
        # Not held for the 30 s shutdown timeout by the idle connection.
        with trio.fail_after(5):
            assert await serve.wait() == 0
