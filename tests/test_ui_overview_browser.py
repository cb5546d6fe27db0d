"""The overview in a real browser: real numbers, live updates without a reload, no JavaScript.

The service runs on a database of its own, so the overview's numbers are
exactly the events these tests send. How fast an update arrives is measured
by bench/ui_pages.py, not here: these tests only wait (generously) for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request

from browser_harness import Console, axe_violations, own_ui_service, sign_in
from conftest import ThreadedService

LIVE_WAIT_MS = 45_000  # a 10 s tick, the refetch, and a busy machine
FIRST_VISIT_LIMIT = 250_000  # bytes, everything a first visit transfers (issue 15)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    with own_ui_service(tmp_path_factory.mktemp("overview")) as running:
        post_events(running, "checkout", ["info", "info", "warning", "error", "critical"])
        yield running


def post_events(
    site: ThreadedService, source: str, levels: list[str], *, ago_s: float = 120
) -> None:
    moment = (datetime.now(UTC) - timedelta(seconds=ago_s)).isoformat()
    response = httpx.post(
        f"{site.base_url}/api/v1/events/bulk",
        json=[
            {
                "type": "order",
                "level": level,
                "source": source,
                "message": f"{level} at {source}",
                "time": moment,
            }
            for level in levels
        ],
        headers={"X-API-Key": site.admin_token},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def tile_value(page: Page, label: str) -> str:
    tile = page.locator(".tile").filter(has=page.locator("dt", has_text=re.compile(f"^{label}$")))
    return tile.locator(".tile-value").inner_text()


def test_signed_in_the_overview_shows_real_numbers_and_charts(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    assert page.url == site.base_url + "/"
    assert page.get_by_role("heading", level=1).inner_text() == "Overview"
    assert int(tile_value(page, "Events")) >= 5
    assert int(tile_value(page, "Errors")) >= 2
    # The charts are drawn (uPlot canvases), one per chart.
    page.locator("#overview-live .uplot canvas").nth(2).wait_for()
    assert page.locator("#overview-live .uplot").count() == 3
    critical = page.get_by_role("region", name="Latest critical events")
    assert "critical at checkout" in critical.inner_text()
    # Times are shown in the browser's zone, not as the server's UTC label.
    assert " UTC" not in page.locator("#overview-live time").first.inner_text()
    assert axe_violations(page) == []
    assert console.errors == []


def test_an_event_posted_through_the_api_shows_up_without_a_reload(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    page.locator(".live-state", has_text="live").wait_for()  # the websocket is subscribed
    page.evaluate("window.__kept = 'same document'")
    before = int(tile_value(page, "Events"))
    post_events(site, "live-test", ["critical"], ago_s=0)
    page.wait_for_function(
        "expected => [...document.querySelectorAll('.tile')].some(tile =>"
        " tile.querySelector('dt').textContent === 'Events' &&"
        " Number(tile.querySelector('.tile-value').textContent.replace(/,/g, '')) >= expected)",
        arg=before + 1,
        timeout=LIVE_WAIT_MS,
    )
    assert page.evaluate("window.__kept") == "same document"  # not reloaded
    # In the latest critical events (its group may be among the top errors too, once
    # that list's own tick has passed).
    latest = page.get_by_role("region", name="Latest critical events")
    latest.get_by_text("critical at live-test").wait_for(timeout=LIVE_WAIT_MS)
    assert page.locator("#overview-live .uplot").count() == 3  # redrawn after the swap
    assert console.errors == []


def test_the_overview_reads_without_javascript(browser: Browser, site: ThreadedService) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, site.base_url, site.admin_token)
        assert page.url == site.base_url + "/"
        assert int(tile_value(page, "Events")) >= 5
        # The server's own rendering: times in UTC, said so; the tables are there.
        assert page.locator("#overview-live time").first.inner_text().endswith(" UTC")
        assert page.get_by_role("columnheader", name="critical", exact=True).count() == 1
        assert page.locator(".uplot").count() == 0
        # The range form submits as a plain GET.
        page.get_by_label("Range").select_option("1h")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(site.base_url + "/?range=1h")
        assert page.get_by_label("Range").input_value() == "1h"
        # (axe-core needs JavaScript: it checks this page in the tests above.)
    finally:
        context.close()


def test_htmx_navigation_away_and_back_starts_the_charts_again(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    page.locator("#overview-live .uplot").nth(2).wait_for()
    page.get_by_role("link", name="Events").click()
    page.wait_for_url(site.base_url + "/ui/events")
    page.get_by_role("link", name="Overview").click()
    page.wait_for_url(site.base_url + "/")
    page.locator("#overview-live .uplot").nth(2).wait_for()
    page.locator(".live-state", has_text="live").wait_for()
    assert console.errors == []


def test_a_first_visit_transfers_less_than_250_kb(
    page: Page, site: ThreadedService, record_property: pytest.RecordProperty
) -> None:
    requests: list[Request] = []
    page.on("requestfinished", lambda request: requests.append(request))
    sign_in(page, site.base_url, site.admin_token)
    page.locator("#overview-live .uplot").nth(2).wait_for()
    page.wait_for_load_state("networkidle")
    transferred = 0
    for request in requests:
        sizes = request.sizes()
        transferred += sizes["responseBodySize"] + sizes["responseHeadersSize"]
    record_property("first_visit_bytes", transferred)
    print(f"first visit: {len(requests)} requests, {transferred} bytes")
    assert transferred < FIRST_VISIT_LIMIT
    assert any(re.search(r"uPlot-1\.6\.32\.iife\.min\.[0-9a-f]{10}\.js", r.url) for r in requests)
