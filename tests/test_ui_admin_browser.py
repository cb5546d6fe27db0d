"""The admin pages in a real browser: an admin creates and revokes a key, a read key sees
no admin action, and axe-core finds no serious or critical violation on any of them.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from browser_harness import Console, axe_violations, create_key, sign_in, ui_service
from conftest import ThreadedService

ADMIN_PAGES = ("/ui/keys", "/ui/system", "/ui/audit")


@pytest.fixture(scope="module")
def site(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    with ui_service(database_url, tmp_path_factory.mktemp("ui-admin")) as running:
        yield running


def test_an_admin_creates_a_key_sees_it_once_and_revokes_it(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    page.get_by_role("link", name="API keys").click()
    page.get_by_role("heading", level=1, name="API keys").wait_for()
    page.get_by_label("Name").fill("browser-made")
    page.get_by_label("Role").select_option("read")
    page.get_by_label("Expires").select_option("7")
    page.get_by_role("button", name="Create key").click()
    shown = page.get_by_label("The new read key")
    shown.wait_for()
    new_key = shown.input_value()
    assert new_key.startswith("mon_")
    copy = page.get_by_role("button", name="Copy")
    assert copy.is_visible()
    copy.click()
    page.locator(".copy-status").filter(has_text="C").wait_for()  # copied, or selected
    assert axe_violations(page) == []
    # The key works against the API...
    works = httpx.get(site.base_url + "/api/v1/events", headers={"X-API-Key": new_key}, timeout=10)
    assert works.status_code == 200
    # ...and a reload shows it no more: only its prefix is listed.
    page.reload()
    page.get_by_role("heading", level=1, name="API keys").wait_for()
    assert new_key not in page.content()
    assert page.get_by_label("The new read key").count() == 0
    row = page.locator("tr", has_text="browser-made")
    assert new_key.split("_")[1] in row.inner_text()
    # Revoking asks first.
    row.get_by_role("link", name="Revoke browser-made").click()
    page.get_by_role("heading", level=1, name="Revoke “browser-made”?").wait_for()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Revoke the key").click()
    page.get_by_role("status").filter(has_text="is revoked").wait_for()
    assert page.url.startswith(site.base_url + "/ui/keys?revoked=")
    assert "revoked" in page.locator("tr", has_text="browser-made").inner_text()
    refused = httpx.get(
        site.base_url + "/api/v1/events", headers={"X-API-Key": new_key}, timeout=10
    )
    assert refused.status_code == 401
    assert console.errors == []


def test_the_audit_log_shows_the_change_in_local_time_and_filters_it(
    page: Page, site: ThreadedService, console: Console
) -> None:
    create_key(site, "audited-in-browser", "ingest")
    sign_in(page, site.base_url, site.admin_token)
    page.goto(site.base_url + "/ui/audit")
    page.get_by_label("Resource").fill("api_key")
    page.get_by_label("Action").fill("create")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/ui/audit?**resource=api_key**")
    cell = page.locator("tr", has_text="audited-in-browser").locator("time")
    # Written in UTC by the server, shown by the script in the browser's own way
    # (after htmx's swap, which may land after the address changed).
    expect(cell).not_to_contain_text("UTC")
    assert (cell.get_attribute("datetime") or "").endswith("+00:00")
    assert axe_violations(page) == []
    assert console.errors == []


def test_every_admin_page_passes_axe_for_an_admin(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    for path in ADMIN_PAGES:
        page.goto(site.base_url + path)
        page.get_by_role("heading", level=1).wait_for()
        assert axe_violations(page) == [], path
    page.goto(site.base_url + "/ui/audit?from=yesterday")
    assert page.get_by_role("alert").inner_text().startswith("These filters cannot be used")
    assert axe_violations(page) == []
    assert [e for e in console.errors if "status of 400" not in e] == []


def test_a_read_key_sees_no_admin_action_and_is_refused_when_it_forges_one(
    page: Page, site: ThreadedService, console: Console
) -> None:
    reader = create_key(site, "browser-reader-2", "read")
    sign_in(page, site.base_url, reader)
    page.get_by_role("link", name="System").click()
    page.get_by_role("heading", level=1, name="System").wait_for()
    assert page.get_by_role("heading", name="Readiness").is_visible()
    assert page.get_by_role("heading", name="Settings in force").count() == 0
    assert page.get_by_role("link", name="API keys").count() == 0
    assert page.get_by_role("link", name="Audit log").count() == 0
    assert axe_violations(page) == []
    # A forged create, from this very page with its own CSRF token: still refused.
    status = page.evaluate(
        """async () => {
            const token = document.querySelector('meta[name=csrf-token]').content;
            const body = new URLSearchParams({csrf_token: token, name: 'forged', role: 'admin'});
            const response = await fetch('/ui/keys', {method: 'POST', body});
            return response.status;
        }"""
    )
    assert status == 403
    listed = httpx.get(
        site.base_url + "/api/v1/keys", headers={"X-API-Key": site.admin_token}, timeout=10
    ).json()["keys"]
    assert "forged" not in [key["name"] for key in listed]
    assert [e for e in console.errors if "status of 403" not in e] == []


def test_without_javascript_a_key_is_created_and_revoked_with_plain_forms(
    browser: Browser, site: ThreadedService
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, site.base_url, site.admin_token)
        page.goto(site.base_url + "/ui/keys")
        assert page.get_by_role("button", name="Copy").count() == 0  # nothing to run it
        page.get_by_label("Name").fill("no-script key")
        page.get_by_label("Role").select_option("ingest")
        page.get_by_role("button", name="Create key").click()
        new_key = page.get_by_label("The new ingest key").input_value()
        assert new_key.startswith("mon_")
        page.get_by_role("link", name="Revoke no-script key").click()
        assert page.url.endswith("/revoke")
        page.get_by_role("button", name="Revoke the key").click()
        assert "/ui/keys?revoked=" in page.url
        assert "is revoked" in page.get_by_role("status").inner_text()
        refused = httpx.get(
            site.base_url + "/api/v1/events", headers={"X-API-Key": new_key}, timeout=10
        )
        assert refused.status_code == 401
    finally:
        context.close()


def test_the_keyboard_alone_creates_a_key_and_reaches_its_copy_button(
    page: Page, site: ThreadedService, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    page.goto(site.base_url + "/ui/keys")
    page.get_by_label("Name").focus()
    page.keyboard.type("typed key")
    page.keyboard.press("Enter")  # submits the form, as a text field does
    shown = page.get_by_label("The new read key")
    shown.wait_for()
    shown.focus()
    assert page.evaluate("document.activeElement.selectionEnd") == len(shown.input_value())
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Copy"
    page.keyboard.press("Enter")
    page.locator(".copy-status").filter(has_text="C").wait_for()
    assert console.errors == []


def test_on_a_phone_the_admin_pages_fit_the_screen_and_pass_axe(
    browser: Browser, site: ThreadedService
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, site.base_url, site.admin_token)
        for path in ADMIN_PAGES:
            page.goto(site.base_url + path)
            page.get_by_role("heading", level=1).wait_for()
            # Wide tables scroll in their own box; the page itself does not.
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
            assert axe_violations(page) == [], path
    finally:
        context.close()
