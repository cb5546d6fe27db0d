"""`monitor serve` as a new user runs it: no configuration, the embedded PostgreSQL.

These are the smoke tests on PostgreSQL 18 (the embedded server); the rest of
the suite runs on the shared server.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from processes import clean_environment, run_monitor, serving

pytestmark = pytest.mark.slow

KEY = re.compile(r"^\s*(mon_[a-z0-9]+_[A-Za-z0-9]+)\s*$", re.MULTILINE)


def postgres_running(data_dir: Path) -> bool:
    pid_file = data_dir / "postgres" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_first_start_serves_prints_an_admin_key_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # No configuration at all: the secret key is generated too.
    env = clean_environment(MONITOR_KEY_CACHE_TTL="0", MONITOR_SECRET_KEY="")
    began = time.monotonic()
    async with serving("--data-dir", str(data_dir), env=env, timeout=15) as serve:
        startup_s = time.monotonic() - began
        async with httpx.AsyncClient(base_url=serve.base_url) as client:
            assert (await client.get("/health")).status_code == 200
            ready = (await client.get("/health/ready")).json()
            assert ready["status"] == "ok", ready
            keys = KEY.findall(serve.stdout.decode())
            assert len(keys) == 1, serve.stdout.decode()
            admin = keys[0]
            listing = await client.get("/api/v1/keys", headers={"X-API-Key": admin})
            assert listing.status_code == 200
            assert listing.json()["keys"][0]["role"] == "admin"
        assert postgres_running(data_dir)
        serve.signal(signal.SIGTERM)
        assert await serve.wait(timeout=10) == 0
    assert not postgres_running(data_dir)
    # The secret never reached the log, only stdout.
    assert admin not in serve.stderr.decode()
    assert admin.rsplit("_", 1)[1] not in serve.stderr.decode()
    print(json.dumps({"embedded_cold_start_s": round(startup_s, 2)}))
    key_file = data_dir / "secret_key"
    assert oct(key_file.stat().st_mode & 0o777) == oct(0o600)
    secret_key = key_file.read_text().strip()
    assert [
        line["path"] for line in serve.log_lines() if line.get("msg") == "created a secret key"
    ] == [str(key_file)]
    assert secret_key not in serve.stderr.decode() + serve.stdout.decode()

    # Second start reuses the database: no new key is printed.
    async with serving("--data-dir", str(data_dir), env=env, timeout=15) as again:
        async with httpx.AsyncClient(base_url=again.base_url) as client:
            assert (await client.get("/stats", headers={"X-API-Key": admin})).status_code == 200
        assert not KEY.findall(again.stdout.decode())
        again.signal(signal.SIGINT)
        assert await again.wait(timeout=10) == 0
    assert key_file.read_text().strip() == secret_key  # and so is the secret key
    assert "created a secret key" not in again.stderr.decode()


async def test_a_second_serve_fails_clearly_while_cli_commands_share_the_database(
    tmp_path: Path,
) -> None:
    data_dir = str(tmp_path / "data")
    env = clean_environment(MONITOR_KEY_CACHE_TTL="0")
    async with serving("--data-dir", data_dir, env=env) as serve:
        second = await run_monitor("serve", "--port", "0", "--data-dir", data_dir, env=env)
        assert second.returncode == 1
        message = second.stderr.decode().strip().splitlines()[-1]
        assert "already using data directory" in message

        created = await run_monitor(
            "keys", "create", "--name", "ci", "--role", "write", "--data-dir", data_dir, env=env
        )
        assert created.returncode == 0, created.stderr
        token = created.stdout.decode().strip().splitlines()[-1]
        assert KEY.fullmatch(token)

        async with httpx.AsyncClient(base_url=serve.base_url) as client:
            assert (await client.get("/stats", headers={"X-API-Key": token})).status_code == 200
            assert (
                await client.get("/api/v1/keys", headers={"X-API-Key": token})
            ).status_code == 403

            listed = await run_monitor("keys", "list", "--json", "--data-dir", data_dir, env=env)
            rows = [json.loads(line) for line in listed.stdout.decode().splitlines()]
            ours = next(row for row in rows if row["name"] == "ci")
            assert token not in listed.stdout.decode()

            revoked = await run_monitor(
                "keys", "revoke", str(ours["id"]), "--data-dir", data_dir, env=env
            )
            assert revoked.returncode == 0, revoked.stderr
            refused = await client.get("/stats", headers={"X-API-Key": token})
            assert refused.status_code == 401
            assert "revoked" in refused.json()["detail"]

        # The CLI commands left the server running for `serve`.
        assert postgres_running(Path(data_dir))
        serve.signal(signal.SIGTERM)
        assert await serve.wait() == 0
    assert not postgres_running(Path(data_dir))


async def test_restart_after_kill_9_starts_cleanly_and_stops_the_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = clean_environment()
    async with serving("--data-dir", str(data_dir), env=env) as serve:
        admin = KEY.findall(serve.stdout.decode())[0]
        serve.signal(signal.SIGKILL)
        assert await serve.wait() == -signal.SIGKILL
    # The killed process left PostgreSQL running and its PID registered.
    assert postgres_running(data_dir)
    async with serving("--data-dir", str(data_dir), env=env, timeout=15) as again:
        async with httpx.AsyncClient(base_url=again.base_url) as client:
            assert (await client.get("/health/ready")).json()["status"] == "ok"
            assert (await client.get("/stats", headers={"X-API-Key": admin})).status_code == 200
        again.signal(signal.SIGTERM)
        assert await again.wait() == 0
    assert not postgres_running(data_dir)


async def test_cli_commands_work_without_serve_and_leave_nothing_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = clean_environment()
    migrated = await run_monitor("migrate", "--data-dir", str(data_dir), env=env)
    assert migrated.returncode == 0, migrated.stderr
    created = await run_monitor(
        "keys", "create", "--name", "first", "--role", "admin", "--data-dir", str(data_dir), env=env
    )
    assert created.returncode == 0, created.stderr
    assert KEY.fullmatch(created.stdout.decode().strip().splitlines()[-1])
    assert not postgres_running(data_dir)
