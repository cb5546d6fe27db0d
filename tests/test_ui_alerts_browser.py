"""The Alerts pages in a real browser: a firing instance is acknowledged, then resolved,
and each change persists across a reload, with JavaScript and without; axe-core finds
no serious or critical violation on the three pages, light or dark, nor on a phone.

The service runs on a database of its own; its rules are saved disabled, so the
instances written here (tests/alert_helpers.py) are touched by nobody else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page

from alert_helpers import add_instance
from browser_harness import Console, api, axe_violations, create_key, sign_in, ui_service
from conftest import RUN_ID, ThreadedService, create_database, drop_database
from monitor.storage.migrate import apply_migrations

RULE = {
    "kind": "metric_threshold",
    "enabled": False,
    "selector": {"name": "http_request_seconds", "labels": {"service": "api"}},
    "aggregation": "p95",
    "window": "5m",
    "group_by": ["host"],
    "comparator": ">",
    "threshold": 0.5,
    "severity": "warning",
    "annotations": {"summary": "p95 {{ value }} s on {{ labels.host }}"},
}


@dataclass(frozen=True)
class Site:
    service: ThreadedService
    database_url: str  # where the tests write instances

    @property
    def base_url(self) -> str:
        return self.service.base_url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """browser_harness.own_ui_service, keeping the database's address for add_instance."""
    name = f"monitor_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        apply_migrations(url)
        with ui_service(url, tmp_path_factory.mktemp("alerts")) as running:
            yield Site(running, url)
    finally:
        drop_database(name)


@pytest.fixture(scope="module")
def rule_id(site: Site) -> int:
    created = api(site.service, "POST", "/api/v1/alerts", json={**RULE, "name": "api latency high"})
    return int(created["id"])


@pytest.fixture(scope="module")
def writer(site: Site) -> str:
    return create_key(site.service, "on call", "write")


def test_a_firing_instance_is_acknowledged_then_resolved_and_stays_so(
    page: Page, site: Site, rule_id: int, writer: str, console: Console
) -> None:
    instance = add_instance(site.database_url, rule_id, host="web-1")
    sign_in(page, site.base_url, writer)
    page.get_by_role("navigation").get_by_role("link", name="Alerts").click()
    page.get_by_role("heading", level=1, name="Alerts").wait_for()
    row = page.locator(f"#instance-{instance}")
    assert "firing" in row.locator(".alert-state").inner_text()
    assert row.get_by_role("link", name="api latency high").count() == 1
    row.get_by_role("link", name=f"Acknowledge instance #{instance}").click()
    page.get_by_role("heading", level=1, name=f"Acknowledge instance #{instance}").wait_for()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Acknowledge").click()  # no comment: the browser asks
    assert page.get_by_label("Comment").evaluate("field => field.validity.valueMissing")
    page.get_by_label("Comment").fill("rolling back the deploy")
    page.get_by_role("button", name="Acknowledge").click()
    page.get_by_role("status").filter(has_text="is acknowledged by on call").wait_for()
    assert page.url.endswith(f"/ui/alerts?acknowledged={instance}")
    page.reload()
    row = page.locator(f"#instance-{instance}")
    assert "rolling back the deploy" in row.inner_text()
    assert row.locator(".acked").count() == 1
    row.get_by_role("link", name=f"Resolve instance #{instance}").click()
    page.get_by_role("button", name="Resolve the instance").click()
    page.get_by_role("status").filter(has_text=f"Instance #{instance}").wait_for()
    page.reload()
    open_now = page.locator("section[aria-labelledby=open-heading]")
    resolved = page.locator("section[aria-labelledby=resolved-heading]")
    assert open_now.locator(f"#instance-{instance}").count() == 0
    assert "resolved" in resolved.locator(f"#instance-{instance} .alert-state").inner_text()
    # The rule's page has the whole story, newest first.
    resolved.get_by_role("link", name="api latency high").click()
    page.get_by_role("heading", level=1, name="Rule “api latency high”").wait_for()
    steps = page.locator("table.history tbody tr")
    assert "resolved" in steps.first.inner_text() and "on call" in steps.first.inner_text()
    assert console.errors == []


def test_without_javascript_the_forms_post_and_come_back(
    browser: Browser, site: Site, rule_id: int, writer: str
) -> None:
    instance = add_instance(site.database_url, rule_id, host="web-2")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site.base_url, writer)
        page.goto(f"{site.base_url}/ui/alerts?severity=warning")
        page.get_by_role("link", name=f"Acknowledge instance #{instance}").click()
        page.get_by_label("Comment").fill("looking")
        page.get_by_label("Until").fill("2099-01-01T10:00")
        page.get_by_role("button", name="Acknowledge").click()
        page.wait_for_url(f"**/ui/alerts?severity=warning&acknowledged={instance}")
        assert "until 2099-01-01 10:00 UTC" in page.locator(f"#instance-{instance}").inner_text()
        page.get_by_role("link", name=f"Resolve instance #{instance}").click()
        page.get_by_role("button", name="Resolve the instance").click()
        page.wait_for_url(f"**/ui/alerts?severity=warning&resolved={instance}")
        page.reload()
        resolved = page.locator("section[aria-labelledby=resolved-heading]")
        assert resolved.locator(f"#instance-{instance}").count() == 1
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_the_three_pages(
    page: Page, site: Site, rule_id: int, writer: str, console: Console, scheme: str
) -> None:
    add_instance(site.database_url, rule_id, host=f"axe-{scheme}")
    page.emulate_media(color_scheme=scheme)
    sign_in(page, site.base_url, writer)
    for path, heading in (
        ("/ui/alerts", "Alerts"),
        ("/ui/alerts/rules", "Alert rules"),
        (f"/ui/alerts/rules/{rule_id}", "Rule “api latency high”"),
    ):
        page.goto(site.base_url + path)
        page.get_by_role("heading", level=1, name=heading).wait_for()
        assert axe_violations(page) == [], path
    assert console.errors == []


def test_on_a_phone_the_pages_fit_the_screen_and_pass_axe(
    browser: Browser, site: Site, rule_id: int, writer: str
) -> None:
    add_instance(site.database_url, rule_id, host="phone")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site.base_url, writer)
        for path in ("/ui/alerts", "/ui/alerts/rules", f"/ui/alerts/rules/{rule_id}"):
            page.goto(site.base_url + path)
            page.get_by_role("heading", level=1).wait_for()
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
            assert axe_violations(page) == [], path
    finally:
        context.close()
