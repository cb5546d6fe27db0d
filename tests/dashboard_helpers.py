"""Helpers of the dashboard read tests: a service on a database of its own, a held clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import (
    RUN_ID,
    RunningService,
    StartService,
    create_database,
    drop_database,
    make_settings,
)
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.storage.gateway import Gateway, open_gateway
from monitor.storage.migrate import apply_migrations
from monitor.web.api.dashboard import answers


@dataclass
class Isolated:
    """A service whose database holds only what the test put there."""

    service: RunningService
    database_url: str
    gateway: Gateway
    token: str  # admin

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.service.base_url, headers={"X-API-Key": self.token}, timeout=10
        )


@pytest.fixture
async def isolated(start_service: StartService, tmp_path: Path) -> AsyncIterator[Isolated]:
    name = f"monitor_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        apply_migrations(url)
        running = await start_service(make_settings(url, tmp_path))
        async with open_gateway(
            url, pool_size=2, statement_timeout=10, acquire_timeout=5, connect_timeout=5
        ) as gateway:
            _, token = await key_store.create_key(
                gateway,
                name="dashboard tests",
                role=Role.ADMIN,
                rate_limit=None,
                expires_at=None,
                by=Attribution(Actor.system("tests")),
            )
            yield Isolated(running, url, gateway, token)
            await running.shutdown()
    finally:
        drop_database(name)


@dataclass
class HeldClock:
    """The dashboard routes' clock, standing still at `now` until moved."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def held_clock(monkeypatch: pytest.MonkeyPatch) -> HeldClock:
    """Held 1 s into the second 10 s tick after now: every request of a test is answered
    in one tick, and data the test sends in its first 10 s lies before the window's end."""
    real = datetime.now(UTC)
    tick_start = real.replace(microsecond=0) - timedelta(seconds=real.second % 10)
    clock = HeldClock(tick_start + timedelta(seconds=21))
    monkeypatch.setattr(answers, "now", clock)
    return clock


def problem_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return {error["field"] for error in body["errors"]}
