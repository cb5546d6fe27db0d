"""A service of a UI test's own: its own database (so its lists hold only that test's
data), a key per role, and a browser's HTTP client (cookies, no key) signing in."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

import httpx

from conftest import RUN_ID, StartService, create_database, drop_database, make_settings
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations

SITE = "http://monitor.test"
FOREIGN = "http://evil.test"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ROLES = (Role.ADMIN, Role.WRITE, Role.READ)


@dataclass
class UiSite:
    http: httpx.AsyncClient  # a browser's client: cookies, no key
    database_url: str
    tokens: dict[str, str]  # role label -> key

    csrf_page: ClassVar[str] = "/"  # a page read after signing in for its CSRF token

    def api(self, role: str = "admin") -> dict[str, str]:
        return {"X-API-Key": self.tokens[role]}

    async def sign_in(self, role: str) -> str:
        """Sign in with the role's key; the session's CSRF token."""
        response = await self.http.post(
            "/ui/sign-in", data={"key": self.tokens[role]}, headers={"Origin": SITE}
        )
        assert response.status_code == 303, response.text
        page = await self.http.get(self.csrf_page)
        found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
        assert found, page.text[:500]
        return found[1]


SiteT = TypeVar("SiteT", bound=UiSite)


@contextlib.asynccontextmanager
async def own_site(
    start_service: StartService,
    tmp_path: Path,
    key_names: str,
    make: Callable[[httpx.AsyncClient, str, dict[str, str]], SiteT],
) -> AsyncIterator[SiteT]:
    name = f"monitor_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        apply_migrations(url)
        running = await start_service(make_settings(url, tmp_path, public_url=SITE))
        tokens = {}
        async with open_gateway(
            url, pool_size=2, statement_timeout=10, acquire_timeout=5, connect_timeout=5
        ) as gateway:
            for role in ROLES:
                _, tokens[role.label] = await key_store.create_key(
                    gateway,
                    name=f"{key_names} {role.label}",
                    role=role,
                    rate_limit=None,
                    expires_at=None,
                    by=Attribution(Actor.system("tests")),
                )
        async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
            yield make(http, url, tokens)
        await running.shutdown()
    finally:
        drop_database(name)
