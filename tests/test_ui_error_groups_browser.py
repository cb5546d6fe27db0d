"""The Error groups pages in a real browser: a status change persists across a reload,
with JavaScript (htmx swaps the status in place) and without (the form posts and comes
back), and axe-core finds no serious or critical violation, light or dark.

The service runs on a database of its own, so its groups are these tests' only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page

from browser_harness import Console, axe_violations, create_key, own_ui_service, sign_in
from conftest import ThreadedService

MESSAGES = ("payment gateway timeout", "inventory lock lost", "mail bounce storm")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    with own_ui_service(tmp_path_factory.mktemp("groups")) as running:
        # Before the top list's 1-minute tick began, so its answer counts them.
        moment = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
        events = [
            {
                "type": "job",
                "level": "error",
                "source": "worker",
                "message": message,
                "time": moment,
            }
            for count, message in enumerate(MESSAGES, start=1)
            for _ in range(count)
        ]
        posted = httpx.post(
            f"{running.base_url}/api/v1/events/bulk",
            json=events,
            headers={"X-API-Key": running.admin_token},
            timeout=10,
        )
        assert posted.status_code == 201, posted.text
        yield running


@pytest.fixture(scope="module")
def writer(site: ThreadedService) -> str:
    return create_key(site, "groups writer", "write")


def group_id(site: ThreadedService, message: str) -> int:
    listed = httpx.get(
        f"{site.base_url}/api/v1/events/groups",
        params={"status": "open,resolved,ignored", "limit": "50"},
        headers={"X-API-Key": site.admin_token},
        timeout=10,
    ).json()["groups"]
    return next(int(group["id"]) for group in listed if group["message"] == message)


def status_of(page: Page, group: int) -> str:
    return page.locator(f"#status-{group}").inner_text().strip()


def test_a_status_change_is_swapped_in_place_and_persists_across_a_reload(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    group = group_id(site, "mail bounce storm")
    sign_in(page, site.base_url, writer)
    page.get_by_role("navigation").get_by_role("link", name="Error groups").click()
    page.get_by_role("heading", level=1, name="Error groups").wait_for()
    assert page.url == site.base_url + "/ui/error-groups"
    rows = page.locator("table.groups tbody tr")
    assert [rows.nth(n).locator("th a").inner_text() for n in range(rows.count())] == list(
        reversed(MESSAGES)
    )
    assert page.locator(f"#group-{group} svg.spark polyline").count() == 1
    page.get_by_label(f"New status of group #{group}").select_option("resolved")
    button = page.get_by_role("button", name=f"Set the status of group #{group}")
    button.click()
    page.locator(f"#status-{group} .status-resolved").wait_for()
    assert page.url == site.base_url + "/ui/error-groups"  # no navigation: a swap
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        f"Set the status of group #{group}"
    )
    # A reload asks the server again: the open list no longer holds it...
    page.reload()
    page.get_by_role("heading", level=1, name="Error groups").wait_for()
    assert page.locator(f"#group-{group}").count() == 0
    # ...the resolved one does, and so does the group's own page.
    page.get_by_label("Status", exact=True).select_option("resolved")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/ui/error-groups?**status=resolved**")
    assert status_of(page, group) == "resolved"
    page.get_by_role("link", name="mail bounce storm").click()
    page.get_by_role("heading", level=1, name=f"Error group #{group}: mail bounce storm").wait_for()
    assert status_of(page, group) == "resolved"
    assert page.locator("table.data tbody tr").count() == 3  # its three events
    assert console.errors == []


def test_without_javascript_the_status_form_posts_and_comes_back(
    browser: Browser, site: ThreadedService, writer: str
) -> None:
    group = group_id(site, "inventory lock lost")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site.base_url, writer)
        page.goto(f"{site.base_url}/ui/error-groups/{group}?range=6h")
        page.get_by_label(f"New status of group #{group}").select_option("ignored")
        page.get_by_role("button", name=f"Set the status of group #{group}").click()
        page.wait_for_url(f"**/ui/error-groups/{group}?range=6h&changed={group}")
        assert page.get_by_role("status").filter(has_text="is now ignored").count() == 1
        page.reload()
        assert status_of(page, group) == "ignored"
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_the_list_or_a_group(
    page: Page, site: ThreadedService, writer: str, console: Console, scheme: str
) -> None:
    page.emulate_media(color_scheme=scheme)
    sign_in(page, site.base_url, writer)
    page.goto(site.base_url + "/ui/error-groups?status=all")
    page.locator("table.groups").wait_for()
    assert axe_violations(page) == []
    page.goto(f"{site.base_url}/ui/error-groups/{group_id(site, 'payment gateway timeout')}")
    page.get_by_role("heading", name="Recent events").wait_for()
    assert axe_violations(page) == []
    assert console.errors == []


def test_a_read_key_sees_no_status_control(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, create_key(site, "groups reader", "read"))
    page.goto(site.base_url + "/ui/error-groups?status=all")
    page.locator("table.groups").wait_for()
    assert page.locator("form.status-form").count() == 0
    assert page.get_by_role("button", name="Set", exact=False).count() == 0
    assert console.errors == []


def test_on_a_phone_both_pages_fit_the_screen_and_pass_axe(
    browser: Browser, site: ThreadedService, writer: str
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site.base_url, writer)
        group = group_id(site, "payment gateway timeout")
        for path in ("/ui/error-groups?status=all", f"/ui/error-groups/{group}"):
            page.goto(site.base_url + path)
            page.get_by_role("heading", level=1).wait_for()
            # The list's wide table scrolls inside its region, not the page.
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
            assert axe_violations(page) == [], path
    finally:
        context.close()


def test_a_refused_change_through_htmx_shows_the_reason_as_the_page(
    page: Page, site: ThreadedService, writer: str
) -> None:
    group = group_id(site, "payment gateway timeout")
    sign_in(page, site.base_url, writer)
    page.goto(f"{site.base_url}/ui/error-groups/{group}")
    # A value no option offers, as a tampered page would send.
    page.evaluate(f"document.querySelector('#set-status-{group} option').value = 'closed'")
    page.get_by_label(f"New status of group #{group}").select_option(index=0)
    page.get_by_role("button", name=f"Set the status of group #{group}").click()
    page.get_by_role("heading", level=1, name="Refused").wait_for()
    assert "must be open, resolved or ignored" in page.locator("#main").inner_text()
    assert page.locator("#main .status-now").count() == 0  # the page, not a swapped status
