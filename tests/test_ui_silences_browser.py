"""The Silences pages in a real browser: from an open instance on the Alerts page an
admin clicks Silence, trims the prefilled matchers, saves, and sees the instance marked
silenced; then expires the silence from the Silences page. The form also works without
JavaScript; axe-core finds no serious or critical violation on the pages, light or dark.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
}


@dataclass(frozen=True)
class Site:
    service: ThreadedService
    database_url: str

    @property
    def base_url(self) -> str:
        return self.service.base_url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    name = f"monitor_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        apply_migrations(url)
        with ui_service(url, tmp_path_factory.mktemp("silences")) as running:
            yield Site(running, url)
    finally:
        drop_database(name)


@pytest.fixture(scope="module")
def rule_id(site: Site) -> int:
    created = api(site.service, "POST", "/api/v1/alerts", json={**RULE, "name": "api latency"})
    return int(created["id"])


@pytest.fixture(scope="module")
def admin(site: Site) -> str:
    return create_key(site.service, "on call lead", "admin")


def test_an_instance_is_silenced_in_one_click_and_the_silence_expired(
    page: Page, site: Site, rule_id: int, admin: str, console: Console
) -> None:
    instance = add_instance(site.database_url, rule_id, host="web-1")
    sign_in(page, site.base_url, admin)
    page.goto(f"{site.base_url}/ui/alerts")
    row = page.locator(f"#instance-{instance}")
    row.get_by_role("link", name=f"Silence instance #{instance}").click()
    page.get_by_role("heading", level=1, name="New silence").wait_for()
    assert page.get_by_label("Matcher 1 label name").input_value() == "host"
    assert page.get_by_label("Matcher 1 value").input_value() == "web-1"
    # Drop the `rule` label's row (row 2 of host, rule, severity, team): fewer labels.
    assert page.get_by_label("Matcher 2 label name").input_value() == "rule"
    page.get_by_label("Matcher 2 label name").fill("")
    page.get_by_label("Matcher 2 value").fill("")
    page.get_by_role("button", name="Add a matcher").click()
    page.get_by_label("Matcher 6 label name").fill("env")
    page.get_by_label("Matcher 6 operator").select_option("!=")
    page.get_by_label("Matcher 6 value").fill("staging")
    page.get_by_label("For", exact=True).select_option("4h")
    page.get_by_label("Comment").fill("replacing the disk of web-1")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Save the silence").click()
    notice = page.get_by_role("status").filter(has_text="is saved")
    notice.wait_for()
    silence_id = int(notice.inner_text().split("#", 1)[1].split(" ", 1)[0])
    listed = page.locator(f"#silence-{silence_id}")
    assert 'host="web-1"' in listed.inner_text()
    assert 'rule="r"' not in listed.inner_text()
    assert 'env!="staging"' in listed.inner_text()
    assert "in 4 h" in listed.inner_text()
    page.goto(f"{site.base_url}/ui/alerts")
    mark = page.locator(f"#instance-{instance}").get_by_role(
        "link", name=f"silenced (#{silence_id})"
    )
    assert mark.count() == 1
    mark.click()
    page.get_by_role("heading", level=1, name=f"Silence #{silence_id}").wait_for()
    page.get_by_role("navigation").get_by_role("link", name="Silences").click()
    page.get_by_role("link", name=f"Expire silence #{silence_id}").click()
    page.get_by_role("heading", level=1, name=f"Expire silence #{silence_id}?").wait_for()
    page.get_by_role("button", name="Expire the silence").click()
    page.get_by_role("status").filter(has_text=f"Silence #{silence_id} is expired.").wait_for()
    assert page.locator(f"#silence-{silence_id}").count() == 0
    page.get_by_role("link", name="Expired", exact=True).click()
    assert page.locator(f"#silence-{silence_id}").count() == 1
    page.goto(f"{site.base_url}/ui/alerts")
    assert "silenced" not in page.locator(f"#instance-{instance}").inner_text()
    assert console.errors == []


def test_without_javascript_the_form_saves_and_refuses_beside_the_field(
    browser: Browser, site: Site, rule_id: int, admin: str
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site.base_url, admin)
        page.goto(f"{site.base_url}/ui/silences/new")
        assert not page.get_by_role("button", name="Add a matcher").is_visible()
        page.get_by_label("Matcher 1 label name").fill("host")
        page.get_by_label("Matcher 1 operator").select_option("=~")
        page.get_by_label("Matcher 1 value").fill("(?=x)")
        page.get_by_label("Comment").fill("nojs")
        page.get_by_role("button", name="Save the silence").click()
        page.get_by_role("alert").filter(has_text="The silence was not saved").wait_for()
        assert "RE2" in page.locator("#matcher-0-error").inner_text()
        assert page.get_by_label("Matcher 1 value").input_value() == "(?=x)"
        page.get_by_label("Matcher 1 value").fill("web-.*")
        page.get_by_label("For", exact=True).select_option("custom")
        ends = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
        page.get_by_label("Ends").fill(ends.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name="Save the silence").click()
        page.wait_for_url("**/ui/silences?created=*")
        assert ends.strftime("%Y-%m-%d %H:%M UTC") in page.locator("table.silences").inner_text()
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_the_pages(
    page: Page, site: Site, rule_id: int, admin: str, console: Console, scheme: str
) -> None:
    instance = add_instance(site.database_url, rule_id, host=f"axe-{scheme}")
    made = api(
        site.service,
        "POST",
        "/api/v1/silences",
        json={
            "matchers": [{"name": "host", "op": "=", "value": f"axe-{scheme}"}],
            "duration": "1h",
            "comment": "axe",
        },
    )
    page.emulate_media(color_scheme=scheme)
    sign_in(page, site.base_url, admin)
    for path, heading in (
        ("/ui/silences", "Silences"),
        (f"/ui/silences/new?instance_id={instance}", "New silence"),
        (f"/ui/silences/{made['id']}", f"Silence #{made['id']}"),
        (f"/ui/silences/{made['id']}/expire", f"Expire silence #{made['id']}?"),
        ("/ui/alerts", "Alerts"),
    ):
        page.goto(site.base_url + path)
        page.get_by_role("heading", level=1, name=heading).wait_for()
        assert axe_violations(page) == [], path
    assert console.errors == []
