"""The web UI in a real browser: Chromium driven by Playwright against the running service.

Every page built so far is visited signed in as an admin and as a read key;
on each, the console must stay free of errors (a CSP violation is one) and
axe-core must find no serious or critical accessibility violation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from browser_harness import (
    ADMIN_NAME,
    Console,
    axe_violations,
    create_key,
    sign_in,
    ui_service,
)
from conftest import ThreadedService
from monitor.web.ui.navigation import PAGES

ADMIN_ONLY = {"API keys", "Audit log"}


@pytest.fixture(scope="module")
def site(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    with ui_service(database_url, tmp_path_factory.mktemp("ui")) as running:
        yield running


@pytest.fixture(scope="module")
def read_key(site: ThreadedService) -> str:
    return create_key(site, "browser-reader", "read")


def nav_labels(page: Page) -> list[str]:
    return page.locator("nav[aria-label=Pages] a").all_inner_texts()


def test_signed_out_the_root_leads_to_the_sign_in_form(
    page: Page, site: ThreadedService, console: Console
) -> None:
    page.goto(site.base_url + "/")
    assert page.url == site.base_url + "/ui/sign-in"
    assert page.get_by_label("API key").get_attribute("type") == "password"
    assert page.locator("form[action='/ui/sign-in']").get_attribute("autocomplete") == "off"
    assert axe_violations(page) == []
    assert console.errors == []


def test_an_admin_signs_in_and_sees_every_page_with_its_name_and_role(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    assert page.url == site.base_url + "/"
    assert page.locator(".who-name").inner_text() == ADMIN_NAME
    assert page.locator(".who .role").inner_text() == "admin"
    assert nav_labels(page) == [p.label for p in PAGES]
    for shown in PAGES:
        page.goto(site.base_url + shown.path)
        assert page.get_by_role("heading", level=1).inner_text() == shown.label
        assert page.locator(f"nav a[aria-current=page][href='{shown.path}']").count() == 1
        assert axe_violations(page) == [], shown.path
    assert console.errors == []


def test_a_wrong_key_shows_why_and_never_the_key(
    page: Page, site: ThreadedService, console: Console
) -> None:
    wrong = "mon_" + "x" * 40
    page.goto(site.base_url + "/ui/sign-in")
    page.get_by_label("API key").fill(wrong)
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert alert.inner_text() == "Invalid API key"
    assert wrong not in page.content()
    assert page.get_by_label("API key").input_value() == ""
    assert axe_violations(page) == []
    # The browser reports the 401 of the form post itself; nothing else.
    assert [e for e in console.errors if "status of 401" not in e] == []


def test_a_read_key_sees_no_admin_pages_and_is_refused_one_it_types(
    page: Page, site: ThreadedService, read_key: str, console: Console
) -> None:
    sign_in(page, site.base_url, read_key)
    assert page.locator(".who-name").inner_text() == "browser-reader"
    assert page.locator(".who .role").inner_text() == "read"
    labels = nav_labels(page)
    assert not ADMIN_ONLY & set(labels)
    assert "Overview" in labels
    response = page.goto(site.base_url + "/ui/keys")
    assert response is not None and response.status == 403
    assert "admin role" in page.get_by_role("alert").inner_text()
    assert axe_violations(page) == []
    assert [e for e in console.errors if "status of 403" not in e] == []


def test_navigation_by_htmx_swaps_the_main_part_and_moves_the_current_page(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    page.evaluate("window.__kept = 'same document'")
    page.get_by_role("link", name="Events").click()
    page.wait_for_url(site.base_url + "/ui/events")
    page.get_by_role("heading", level=1, name="Events").wait_for()
    # Not a reload: the page's own state survived, and the shell is still one.
    assert page.evaluate("window.__kept") == "same document"
    assert page.locator("header.top-bar").count() == 1
    assert page.locator("nav a[aria-current=page]").all_inner_texts() == ["Events"]
    assert page.title() == "Events · monitor"
    assert console.errors == []


def test_sign_out_ends_the_session_and_its_cookie(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "monitor_session"]
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(site.base_url + "/ui/sign-in")
    assert not [c for c in page.context.cookies() if c["name"] == "monitor_session"]
    # The old cookie, replayed, no longer opens anything.
    replayed = httpx.get(
        site.base_url + "/ui/session",
        cookies={"monitor_session": cookie["value"]},
        timeout=10,
    )
    assert replayed.status_code == 401
    page_again = httpx.get(
        site.base_url + "/", cookies={"monitor_session": cookie["value"]}, timeout=10
    )
    assert page_again.status_code == 303
    assert console.errors == []


def test_the_page_and_its_assets_come_compressed_and_cacheable(
    page: Page, site: ThreadedService
) -> None:
    seen: dict[str, dict[str, str]] = {}
    page.on("response", lambda response: seen.update({response.url: response.all_headers()}))
    with page.expect_response(site.base_url + "/") as home:
        sign_in(page, site.base_url, site.admin_token)
    seen[home.value.url] = home.value.all_headers()
    assets = {url: headers for url, headers in seen.items() if "/static/" in url}
    # The icon is fetched whenever the browser gets round to it: not awaited.
    loaded = sorted(re.sub(r"\.[0-9a-f]{10}\.", ".", url.rsplit("/", 1)[1]) for url in assets)
    assert {"app.css", "app.js", "htmx-4.0.1.min.js"} <= set(loaded), loaded
    for url, headers in assets.items():
        assert headers["cache-control"] == "public, max-age=31536000, immutable", url
        if url.endswith((".js", ".css")):
            assert headers["content-encoding"] == "gzip", url
    assert seen[site.base_url + "/"]["content-encoding"] == "gzip"


def test_the_api_docs_still_work_under_the_policy(
    page: Page, site: ThreadedService, console: Console
) -> None:
    page.goto(site.base_url + "/docs")
    page.locator(".swagger-ui .info .title").wait_for()
    assert page.locator(".opblock").count() > 10
    assert console.errors == []


def test_the_keyboard_reaches_the_main_part_first_through_the_skip_link(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("link => link === document.activeElement")
    assert skip.bounding_box() is not None and skip.bounding_box()["y"] >= 0  # type: ignore[index]
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    assert console.errors == []


def test_htmx_requests_carry_the_sessions_csrf_token(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    assert token
    with page.expect_request(site.base_url + "/ui/metrics") as asked:
        page.get_by_role("link", name="Metrics").click()
    headers = asked.value.headers
    assert headers["hx-request"] == "true"
    assert headers["x-csrf-token"] == token
    assert console.errors == []


def test_without_javascript_signing_in_and_moving_between_pages_still_work(
    browser: Browser, site: ThreadedService
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(site.base_url + "/ui/events")
        assert page.url.startswith(site.base_url + "/ui/sign-in?next=")
        page.get_by_label("API key").fill(site.admin_token)
        page.get_by_role("button", name="Sign in").click()
        assert page.url == site.base_url + "/ui/events"  # back where it started
        page.get_by_role("link", name="System").click()
        assert page.url == site.base_url + "/ui/system"
        assert page.get_by_role("heading", level=1).inner_text() == "System"
        page.get_by_role("button", name="Sign out").click()
        assert page.url == site.base_url + "/ui/sign-in"
    finally:
        context.close()


def test_a_session_that_ended_sends_htmx_navigation_to_a_whole_sign_in_page(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    page.context.clear_cookies()  # as if it had expired
    page.get_by_role("link", name="Events").click()
    page.wait_for_url(site.base_url + "/ui/sign-in?next=%2Fui%2Fevents")
    assert page.locator("header .who").count() == 0  # not inside the old shell
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in"
    assert console.errors == []
