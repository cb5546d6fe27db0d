"""The Delivery log pages in a real browser: the filter form narrows the list and its pages
follow, a hostile error is shown as text, the form works without JavaScript, and axe-core
finds no serious or critical violation on the list and on one delivery, light and dark on a
desktop and dark on a phone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page

from browser_harness import Console, api, axe_violations, create_key, sign_in, ui_service
from conftest import RUN_ID, ThreadedService, create_database, drop_database
from delivery_log_helpers import message, put
from monitor.storage.migrate import apply_migrations

PHONE = {"width": 390, "height": 844}
HOSTILE = "<img src=x onerror=alert(1)> refused"


@dataclass(frozen=True)
class Site:
    service: ThreadedService
    channel: int
    delivered: int
    failed: int

    @property
    def base_url(self) -> str:
        return self.service.base_url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    name = f"monitor_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    database_url = create_database(name)
    try:
        apply_migrations(database_url)
        with ui_service(database_url, tmp_path_factory.mktemp("delivery-log")) as running:
            yield seeded(running, database_url)
    finally:
        drop_database(name)


def seeded(running: ThreadedService, database_url: str) -> Site:
    """A channel (never sent to: its deliveries are finished when made), one delivery after a
    retry and one failed with markup in its error and answer."""
    channel = api(
        running,
        "POST",
        "/api/v1/channels",
        json={
            "name": "ops hook",
            "kind": "webhook",
            "url": "https://hooks.example.com/ops",
            "secret": "a-long-enough-signing-secret",
        },
    )["id"]
    delivered = put(
        database_url,
        channel,
        attempts=[
            {"outcome": "retrying", "status_code": 503, "error_kind": "status", "error": "503"},
            {"outcome": "delivered", "status_code": 200, "response": '{"ok": true}'},
        ],
        body=message(host="web-1"),
    )
    failed = put(
        database_url,
        channel,
        status="failed",
        last_error=HOSTILE,
        attempts=[{"outcome": "failed", "status_code": 400, "response": HOSTILE}],
    )
    return Site(running, channel, delivered, failed)


@pytest.fixture(scope="module")
def reader(site: Site) -> str:
    return create_key(site.service, "log reader", "read")


def test_the_filter_form_narrows_the_list_and_errors_stay_text(
    page: Page, site: Site, reader: str, console: Console
) -> None:
    sign_in(page, site.base_url, reader)
    page.goto(f"{site.base_url}/ui/notifications")
    rows = page.locator("table.deliveries tbody tr")
    assert rows.count() == 2
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/ui/notifications?status=failed*")
    assert rows.count() == 1
    row = page.locator(f"#delivery-{site.failed}")
    assert HOSTILE in row.inner_text()
    assert row.locator("img").count() == 0, "the error is text, not markup"
    row.get_by_role("link").first.click()
    page.get_by_role("heading", level=1, name=f"Delivery #{site.failed}").wait_for()
    assert page.locator("pre img").count() == 0
    # A refused filter (to before from) is the API's 400, shown in place by htmx.
    page.goto(f"{site.base_url}/ui/notifications")
    page.evaluate("window.__kept = 'same document'")
    page.get_by_label("Queued from (UTC)").fill("2026-12-02T00:00")
    page.get_by_label("Queued before (UTC)").fill("2026-12-01T00:00")
    page.get_by_role("button", name="Filter").click()
    refusal = page.get_by_role("alert").filter(has_text="These filters cannot be used")
    refusal.wait_for()
    assert "to: must be after from" in refusal.inner_text()
    assert page.evaluate("window.__kept") == "same document"
    assert [error for error in console.errors if "status of 400" not in error] == []


def test_a_rules_deliveries_stay_filtered_by_it_through_the_form(
    page: Page, site: Site, reader: str, console: Console
) -> None:
    # The seeded messages tell of rule 7's instance 70 (delivery_log_helpers.message).
    sign_in(page, site.base_url, reader)
    page.goto(f"{site.base_url}/ui/notifications?rule_id=7")
    told = page.get_by_role("status").filter(has_text="Only deliveries telling of rule #7")
    told.wait_for()
    assert page.locator("table.deliveries tbody tr").count() == 2
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/ui/notifications?rule_id=7&status=failed*")
    assert page.locator("table.deliveries tbody tr").count() == 1
    told.wait_for()
    page.get_by_role("link", name="Show all").click()
    page.wait_for_url(f"{site.base_url}/ui/notifications")
    assert page.locator("table.deliveries tbody tr").count() == 2
    assert console.errors == []


def test_without_javascript_the_form_still_filters(
    browser: Browser, site: Site, reader: str
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site.base_url, reader)
        page.goto(f"{site.base_url}/ui/notifications")
        page.get_by_label("Channel").select_option(str(site.channel))
        page.get_by_label("Status").select_option("delivered")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**/ui/notifications?status=delivered*")
        assert page.locator("table.deliveries tbody tr").count() == 1
        assert page.locator(f"#delivery-{site.delivered}").count() == 1
    finally:
        context.close()


@pytest.mark.parametrize(("scheme", "phone"), [("light", False), ("dark", False), ("dark", True)])
def test_axe_finds_nothing_serious_on_the_pages(
    browser: Browser, site: Site, reader: str, scheme: str, phone: bool
) -> None:
    context = browser.new_context(
        color_scheme=scheme, **({"viewport": PHONE, "is_mobile": True} if phone else {})
    )
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        console = Console()
        console.watch(page)
        sign_in(page, site.base_url, reader)
        for path, heading in (
            ("/ui/notifications", "Delivery log"),
            ("/ui/notifications?status=lost", "Delivery log"),
            ("/ui/notifications?rule_id=7&instance_id=70", "Delivery log"),
            (f"/ui/notifications/{site.delivered}", f"Delivery #{site.delivered}"),
            (f"/ui/notifications/{site.failed}", f"Delivery #{site.failed}"),
        ):
            page.goto(site.base_url + path)
            page.get_by_role("heading", level=1, name=heading).wait_for()
            assert axe_violations(page) == [], path
            if phone:  # the page fits the phone's width (tables scroll inside their region)
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"], (path, width)
        # The refused filter's page is a 400, which Chromium logs; nothing else is.
        assert [error for error in console.errors if "status of 400" not in error] == []
    finally:
        context.close()
