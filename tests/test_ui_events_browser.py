"""The events page in a real browser: the live tail shows new matching events without a
reload and nothing else; filters live in the URL (reload, back and forward); axe on
the list and an event's detail.

How fast the live tail is, and how busy it keeps the page, is measured by
bench/ui.py; here the tests only wait (generously) for a row.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from browser_harness import Console, axe_violations, create_key, sign_in, ui_service
from conftest import ThreadedService

LIVE_WAIT_MS = 30_000  # the coalesce window and a busy machine


@pytest.fixture(scope="module")
def site(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    with ui_service(database_url, tmp_path_factory.mktemp("ui-events")) as running:
        yield running


@pytest.fixture(scope="module")
def reader(site: ThreadedService) -> str:
    return create_key(site, f"events-reader-{uuid.uuid4().hex[:6]}", "read")


def post(site: ThreadedService, events: list[dict[str, Any]]) -> list[str]:
    response = httpx.post(
        f"{site.base_url}/api/v1/events/bulk",
        json=events,
        headers={"X-API-Key": site.admin_token},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    ids: list[str] = response.json()["ids"]
    return ids


def api_ids(site: ThreadedService, token: str, params: dict[str, str]) -> list[str]:
    response = httpx.get(
        f"{site.base_url}/api/v1/events", params=params, headers={"X-API-Key": token}, timeout=10
    )
    assert response.status_code == 200, response.text
    return [event["id"] for event in response.json()["events"]]


def shown_ids(page: Page) -> list[str]:
    hrefs = page.locator("#event-rows a").evaluate_all("links => links.map(a => a.pathname)")
    return [href.rsplit("/", 1)[1] for href in hrefs]


def test_live_tail_prepends_matching_events_without_a_reload_and_only_those(
    page: Page, site: ThreadedService, reader: str, console: Console
) -> None:
    source = f"live-{uuid.uuid4().hex[:8]}"
    [older] = post(site, [{"type": "job", "level": "error", "source": source, "message": "older"}])
    sign_in(page, site.base_url, reader)
    page.goto(f"{site.base_url}/ui/events?source={source}&min_level=warning&q=Wanted")
    assert shown_ids(page) == []
    page.get_by_label("Live tail").check()
    expect(page.get_by_role("status").filter(has_text="live")).to_be_visible(timeout=LIVE_WAIT_MS)
    page.evaluate("window.notReloaded = true")
    # Not matching: one the server's subscription filters out (level), one the page
    # does (its message), one of another source; then the one that matches.
    refused = post(
        site,
        [
            {"type": "job", "level": "info", "source": source, "message": "wanted, too quiet"},
            {"type": "job", "level": "error", "source": source, "message": "something else"},
            {"type": "job", "level": "error", "source": source + "x", "message": "wanted there"},
        ],
    )
    [wanted] = post(
        site,
        [{"type": "job", "level": "critical", "source": source, "message": "<b>WANTED</b> here"}],
    )
    row = page.locator("#event-rows tr").filter(has_text="<b>WANTED</b> here")
    expect(row).to_be_visible(timeout=LIVE_WAIT_MS)
    # Events arrive in commit order, so the refused ones were seen before it.
    assert shown_ids(page) == [wanted]
    assert not set(refused) & set(shown_ids(page)) and older not in shown_ids(page)
    assert page.evaluate("window.notReloaded") is True
    assert row.locator("span.level").inner_text() == "critical"
    assert "UTC" not in row.locator("time").inner_text()  # in the browser's zone
    assert axe_violations(page) == []
    # Switched off, nothing more arrives; the row links to the event's detail.
    page.get_by_label("Live tail").uncheck()
    row.get_by_role("link").click()
    page.wait_for_url(f"**/ui/events/{wanted}")
    page.get_by_role("heading", level=1, name="<b>WANTED</b> here").wait_for()
    assert console.errors == []


def test_the_live_tail_checks_what_the_subscription_cannot_as_the_api_does(
    page: Page, site: ThreadedService, reader: str, console: Console
) -> None:
    """Two types and an attribute: the websocket's filter says neither, the page checks both,
    and what it shows is what the API lists for the same filters."""
    source = f"attr-{uuid.uuid4().hex[:8]}"
    sign_in(page, site.base_url, reader)
    page.goto(f"{site.base_url}/ui/events?source={source}&type=a,b&attr=code%3D500")
    page.get_by_label("Live tail").check()
    expect(page.get_by_role("status").filter(has_text="live")).to_be_visible(timeout=LIVE_WAIT_MS)
    events = [
        ("c", {"code": 500}),  # another type
        ("a", {"code": "501"}),  # another value
        ("b", {"other": 500}),  # no such attribute
        ("a", {"code": [500]}),  # a list holding it: not equal, as the API's containment
        ("b", {"code": "500"}),  # matches as text
        ("a", {"code": 500}),  # matches as a number
    ]
    ids = post(
        site,
        [
            {
                "type": kind,
                "level": "info",
                "source": source,
                "message": f"{kind} {attributes}",
                "attributes": attributes,
            }
            for kind, attributes in events
        ],
    )
    expect(page.locator("#event-rows tr")).to_have_count(2, timeout=LIVE_WAIT_MS)
    listed = api_ids(site, reader, {"source": source, "type": "a,b", "attr.code": "500"})
    assert sorted(shown_ids(page)) == sorted(listed) == sorted(ids[-2:])
    assert console.errors == []


def test_after_a_filter_change_the_live_tail_follows_the_new_filters(
    page: Page, site: ThreadedService, reader: str, console: Console
) -> None:
    source = f"swap-{uuid.uuid4().hex[:8]}"
    sign_in(page, site.base_url, reader)
    page.goto(f"{site.base_url}/ui/events?source={source}")
    page.get_by_label("Live tail").check()
    expect(page.get_by_role("status").filter(has_text="live")).to_be_visible(timeout=LIVE_WAIT_MS)
    page.get_by_label("Message contains").fill("second")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/ui/events?**q=second**")
    page.wait_for_function(  # the new list (its live filter has the new text)
        "() => document.getElementById('events-live-filter').textContent.includes('second')"
    )
    # The new list has a tail of its own, still on (the choice is kept for the tab).
    expect(page.get_by_label("Live tail")).to_be_checked()
    expect(page.get_by_role("status").filter(has_text="live")).to_be_visible(timeout=LIVE_WAIT_MS)
    page.evaluate("window.notReloaded = true")
    [_, second] = post(
        site,
        [
            {"type": "t", "level": "info", "source": source, "message": "the first"},
            {"type": "t", "level": "info", "source": source, "message": "the second"},
        ],
    )
    expect(page.locator("#event-rows tr")).to_have_count(1, timeout=LIVE_WAIT_MS)
    assert shown_ids(page) == [second]
    assert page.evaluate("window.notReloaded") is True
    assert console.errors == []


def test_a_filter_change_updates_the_url_and_reload_back_and_forward_show_the_same_lists(
    page: Page, site: ThreadedService, reader: str, console: Console
) -> None:
    source = f"url-{uuid.uuid4().hex[:8]}"
    post(
        site,
        [
            {"type": ("http", "job")[n % 2], "level": "info", "source": source, "message": f"m{n}"}
            for n in range(6)
        ],
    )
    newest_first = api_ids(site, reader, {"source": source})
    http_only = api_ids(site, reader, {"source": source, "type": "http"})
    assert len(newest_first) == 6 and len(http_only) == 3
    sign_in(page, site.base_url, reader)
    page.goto(f"{site.base_url}/ui/events?source={source}")
    assert shown_ids(page) == newest_first
    page.get_by_label("Type").fill("http")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/ui/events?**type=http**")
    expect(page.locator("#event-rows tr")).to_have_count(3)
    assert shown_ids(page) == http_only
    assert page.get_by_label("Type").input_value() == "http"
    filtered_url = page.url
    page.reload()
    assert page.url == filtered_url
    assert shown_ids(page) == http_only
    page.go_back()
    page.wait_for_url(f"**/ui/events?source={source}")
    expect(page.locator("#event-rows tr")).to_have_count(6)
    assert shown_ids(page) == newest_first
    page.go_forward()
    page.wait_for_url(filtered_url)
    expect(page.locator("#event-rows tr")).to_have_count(3)
    assert console.errors == []


def test_the_list_the_detail_and_a_bad_filter_pass_axe(
    page: Page, site: ThreadedService, reader: str, console: Console
) -> None:
    source = f"axe-{uuid.uuid4().hex[:8]}"
    [event_id] = post(
        site,
        [
            {
                "type": "exception",
                "level": "error",
                "source": source,
                "message": "a long message " * 40,
                "attributes": {"url": "https://example.test/" + "a" * 400, "nested": {"k": [1, 2]}},
            }
        ],
    )
    sign_in(page, site.base_url, reader)
    page.goto(f"{site.base_url}/ui/events?source={source}")
    page.get_by_role("heading", level=1, name="Events").wait_for()
    assert axe_violations(page) == []
    page.goto(f"{site.base_url}/ui/events/{event_id}")
    page.get_by_role("heading", level=2, name="Attributes").wait_for()
    assert page.get_by_role("link", name=re.compile(r"^group \d+$")).count() == 1
    # A long value wraps rather than widening the page.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert axe_violations(page) == []
    page.goto(f"{site.base_url}/ui/events?level=loud")
    assert page.get_by_role("alert").inner_text().startswith("These filters cannot be used")
    assert axe_violations(page) == []
    assert [e for e in console.errors if "status of 400" not in e] == []


def test_the_events_pages_read_and_filter_without_javascript(
    browser: Browser, site: ThreadedService, reader: str
) -> None:
    source = f"nojs-{uuid.uuid4().hex[:8]}"
    post(
        site,
        [
            {"type": kind, "level": "warning", "source": source, "message": f"{kind} happened"}
            for kind in ("deploy", "job")
        ],
    )
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, site.base_url, reader)
        page.goto(f"{site.base_url}/ui/events?source={source}")
        expect(page.locator("#event-rows tr")).to_have_count(2)
        assert page.locator("#event-rows time").first.inner_text().endswith(" UTC")
        # No live tail without the script that runs it.
        assert not page.get_by_label("Live tail").is_visible()
        page.get_by_label("Type").fill("job")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**/ui/events?**type=job**")
        expect(page.locator("#event-rows tr")).to_have_count(1)
        page.get_by_role("link", name="job happened").click()
        page.get_by_role("heading", level=1, name="job happened").wait_for()
    finally:
        context.close()
