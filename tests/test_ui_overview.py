"""The overview page over HTTP: real numbers from posted events, its live part, guards, outages.

The page shows the dashboard API's answers (shared per tick), so the
numbers here are the ones GET /api/v1/dashboard/overview gives; the browser
test (test_ui_overview_browser.py) sees them update without a reload.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import httpx
import pytest
import trio

from conftest import (
    RUN_ID,
    StartService,
    create_database,
    drop_database,
    make_settings,
    set_connections_allowed,
)
from dashboard_helpers import HeldClock, held_clock
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations

__all__ = ["held_clock"]  # a fixture

SITE = "http://monitor.test"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@dataclass
class Site:
    http: httpx.AsyncClient  # no key: a browser's client, signed in or not
    database_url: str
    tokens: dict[str, str]  # role label -> key

    async def sign_in(self, role: str = "admin") -> None:
        response = await self.http.post(
            "/ui/sign-in", data={"key": self.tokens[role]}, headers={"Origin": SITE}
        )
        assert response.status_code == 303, response.text

    async def cache_computations(self) -> int:
        stats = await self.http.get("/stats", headers={"X-API-Key": self.tokens["read"]})
        computations: int = stats.json()["dashboard_cache"]["computations"]
        return computations

    async def post_events(self, events: list[dict[str, object]]) -> None:
        response = await self.http.post(
            "/api/v1/events/bulk", json=events, headers={"X-API-Key": self.tokens["admin"]}
        )
        assert response.status_code == 201, response.text


@pytest.fixture
async def site(start_service: StartService, tmp_path: Path) -> AsyncIterator[Site]:
    """A service on a database of its own: the overview counts every event there is."""
    name = f"monitor_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        apply_migrations(url)
        running = await start_service(make_settings(url, tmp_path, public_url=SITE))
        tokens = {}
        async with open_gateway(
            url, pool_size=2, statement_timeout=10, acquire_timeout=5, connect_timeout=5
        ) as gateway:
            for role in (Role.ADMIN, Role.READ):
                _, tokens[role.label] = await key_store.create_key(
                    gateway,
                    name=f"overview {role.label}",
                    role=role,
                    rate_limit=None,
                    expires_at=None,
                    by=Attribution(Actor.system("tests")),
                )
        async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
            yield Site(http, url, tokens)
        await running.shutdown()
    finally:
        drop_database(name)


def tile(page: str, label: str) -> tuple[str, str]:
    """A tile's value and change, as the page states them."""
    found = re.search(
        rf"<dt>{re.escape(label)}</dt>\s*<dd class=\"tile-value\">([^<]*)</dd>\s*"
        r"<dd class=\"tile-change\">([^<]*)</dd>",
        page,
    )
    assert found, f"no tile {label!r}"
    return unescape(found[1]), unescape(found[2])


def sample_events(now: datetime) -> list[dict[str, object]]:
    # Before the top list's 1-minute tick began, so every answer of the page counts them.
    moment = (now - timedelta(minutes=2)).isoformat()
    shared = {"type": "order", "time": moment}
    return [
        *({**shared, "level": "info", "source": "shop", "message": f"paid {n}"} for n in range(5)),
        *(
            {**shared, "level": "error", "source": "shop", "message": "card declined"}
            for _ in range(2)
        ),
        {**shared, "level": "critical", "source": "billing", "message": "ledger <out> of balance"},
    ]


async def test_the_overview_shows_the_numbers_of_posted_events(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    await site.sign_in()
    page = await site.http.get("/")
    assert page.status_code == 200
    text = page.text
    assert tile(text, "Events") == ("8", "up from none")
    assert tile(text, "Errors") == ("3", "up from none")
    assert tile(text, "Error rate")[0] == "37.5 %"
    assert tile(text, "New open error groups") == ("2", "up from none")
    assert tile(text, "Firing alerts")[0] == "0"
    # The text of an event is shown as text, never as markup.
    assert "ledger &lt;out&gt; of balance" in text and "<out>" not in text
    assert "card declined" in text
    # Chart data rides along as JSON data blocks, `<` escaped inside them.
    levels = re.search(r'<script type="application/json" id="levels-data">(.*?)</script>', text)
    assert levels and '"label":"error"' in levels[1]
    assert "\\u003cout" not in levels[1]  # no text of events in the chart data at all
    critical = re.search(r'id="critical-heading".*?</section>', text, re.S)
    assert critical and "billing" in critical[0] and "shop" not in critical[0]
    # Times are written in UTC, labelled as such, for the browser to show in its own zone.
    assert re.search(r'<time datetime="[^"]+\+00:00">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>', text)


async def test_the_page_and_the_api_share_one_computation(
    site: Site, held_clock: HeldClock
) -> None:
    await site.sign_in()
    assert (await site.http.get("/", params={"range": "1h"})).status_code == 200
    before = await site.cache_computations()
    api = await site.http.get(
        "/api/v1/dashboard/overview",
        params={"range": "1h"},
        headers={"X-API-Key": site.tokens["read"]},
    )
    assert api.status_code == 200
    assert await site.cache_computations() == before
    page_again = await site.http.get("/ui/overview/live", params={"range": "1h"})
    assert page_again.status_code == 200
    assert await site.cache_computations() == before


async def test_the_live_part_is_a_fragment_and_htmx_gets_the_main_part(
    site: Site, held_clock: HeldClock
) -> None:
    await site.sign_in()
    live = await site.http.get(
        "/ui/overview/live", params={"range": "6h"}, headers={"HX-Request": "true"}
    )
    assert live.status_code == 200
    assert live.text.lstrip().startswith('<div id="overview-live"')
    assert "<nav" not in live.text and "<!doctype" not in live.text.lower()
    assert 'data-live-url="/ui/overview/live?range=6h"' in live.text
    assert live.headers["cache-control"] == "no-store"
    main = await site.http.get("/", headers={"HX-Request": "true"})
    assert "<title>Overview · monitor</title>" in main.text
    assert 'id="overview-live"' in main.text and "<nav" not in main.text
    assert "data-page-script=" in main.text
    whole = await site.http.get("/")
    assert whole.text.lstrip().lower().startswith("<!doctype html>")
    # Opened by a browser itself, the live part's address is a whole page too.
    opened = await site.http.get("/ui/overview/live")
    assert opened.text.lstrip().lower().startswith("<!doctype html>")
    assert '<option value="24h" selected>' in whole.text


async def test_an_absolute_range_is_shown_as_such(site: Site, held_clock: HeldClock) -> None:
    await site.sign_in()
    page = await site.http.get(
        "/", params={"from": "2026-11-30T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
    )
    assert page.status_code == 200
    assert "24 h from" in page.text and "The last" not in page.text
    assert '<time datetime="2026-11-30T00:00:00+00:00">2026-11-30 00:00 UTC</time>' in page.text


async def test_a_read_key_sees_the_overview(site: Site, held_clock: HeldClock) -> None:
    await site.sign_in("read")
    page = await site.http.get("/")
    assert page.status_code == 200
    assert tile(page.text, "Events")[0] == "0"
    assert tile(page.text, "Error rate") == ("0.0 %", "no change")


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/", "/ui/sign-in"),
        ("/?range=1h", "/ui/sign-in?next=%2F%3Frange%3D1h"),
        ("/ui/overview/live", "/ui/sign-in?next=%2Fui%2Foverview%2Flive"),
    ],
)
async def test_without_a_session_the_overview_leads_to_sign_in(
    site: Site, path: str, location: str
) -> None:
    response = await site.http.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == location
    by_key = await site.http.get(path, headers={"X-API-Key": site.tokens["admin"]})
    assert by_key.status_code == 303  # a key is for the API, not for pages
    htmx = await site.http.get(path, headers={"HX-Request": "true"})
    assert htmx.headers["hx-redirect"] == location


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"range": "abc"}, "range"),
        ({"range": "0s"}, "range"),
        ({"range": "9" * 300}, "range"),
        ({"range": "401d"}, "range"),
        ({"from": "2026-01-01T00:00:00Z"}, "to"),
        ({"from": "yesterday", "to": "today"}, "from"),
        ({"range": "1h", "limit": "5"}, "limit"),
        ({"kind": "metric"}, "kind"),
        ({"range": "<script>"}, "range"),
    ],
)
async def test_a_hostile_query_gets_a_400_page_naming_the_parameter(
    site: Site, held_clock: HeldClock, query: dict[str, str], field: str
) -> None:
    await site.sign_in()
    for path in ("/", "/ui/overview/live"):
        page = await site.http.get(path, params=query, headers={"Accept": BROWSER_ACCEPT})
        assert page.status_code == 400, (path, page.text)
        assert page.headers["content-type"].startswith("text/html")
        assert f"<code>{field}</code>" in page.text
        assert "<script>" not in page.text


async def test_the_edge_refuses_a_query_no_parameter_parser_should_see(site: Site) -> None:
    await site.sign_in()
    response = await site.http.get("/?range=%00")
    assert 400 <= response.status_code < 500


async def test_while_the_database_is_down_the_page_says_503_and_comes_back(
    site: Site, held_clock: HeldClock
) -> None:
    await site.sign_in()
    assert (await site.http.get("/")).status_code == 200  # the session is known now
    held_clock.now += timedelta(seconds=10)  # a new tick: nothing shared to reuse
    set_connections_allowed(site.database_url, False)
    try:
        down = await site.http.get("/", headers={"Accept": BROWSER_ACCEPT})
    finally:
        set_connections_allowed(site.database_url, True)
    assert down.status_code == 503, down.text
    assert down.headers["content-type"].startswith("text/html")
    assert int(down.headers["retry-after"]) > 0
    assert "database cannot be reached" in down.text
    with trio.fail_after(10):
        while (back := await site.http.get("/")).status_code == 503:
            await trio.sleep(0.2)  # the gateway probes the database about once a second
    assert back.status_code == 200
    assert tile(back.text, "Events")[0] == "0"
