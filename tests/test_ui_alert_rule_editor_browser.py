"""The alert rule editor in a real browser: a rule is created from the form while its
preview chart (series and threshold lines) follows the typing, backtested, saved, edited
and saved again; without JavaScript the same is done by whole-page posts, and the rule is
deleted; axe-core finds no serious or critical violation, light or dark.

The service runs on a database of its own with an hour of one metric (host a above 5
from 40 to 20 minutes ago; host b never).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Locator, Page

from browser_harness import Console, api, axe_violations, own_ui_service, sign_in
from conftest import ThreadedService
from rule_editor_helpers import hour_of_samples


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    with own_ui_service(tmp_path_factory.mktemp("editor")) as running:
        yield running


@pytest.fixture(scope="module")
def metric(site: ThreadedService) -> str:
    name = f"editor_{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = hour_of_samples(name, now)
    api(site, "POST", "/api/v1/metrics/bulk", json=rows)
    return name


def field(page: Page, name: str) -> Locator:
    """A form field by its name (labels carry the kinds that read them without script)."""
    return page.locator(f"#rule-{name}")


def fill_rule(page: Page, name: str, metric: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    field(page, "metric").fill(metric)
    field(page, "aggregation").select_option("max")
    field(page, "window").fill("5m")
    field(page, "group_by").fill("host")
    field(page, "threshold").fill("5")
    field(page, "resolve_threshold").fill("4")
    page.get_by_label("Evaluated every").fill("1m")
    page.get_by_label("Offset").fill("0s")
    field(page, "for").fill("2m")
    page.get_by_label("Annotations").fill("summary=max {{ value }} on {{ labels.host }}")


def test_a_rule_is_created_with_its_live_preview_and_backtest_then_edited(
    page: Page, site: ThreadedService, metric: str, console: Console
) -> None:
    sign_in(page, site.base_url, site.admin_token)
    page.goto(site.base_url + "/ui/alerts/rules")
    page.get_by_role("link", name="New rule").click()
    page.get_by_role("heading", level=1, name="New alert rule").wait_for()
    # Only the chosen kind's fields are shown, once the page's script runs.
    page.locator("#rule-form.kind-switched").wait_for()
    assert field(page, "metric").is_visible()
    assert not field(page, "filters").is_visible()
    page.get_by_label("Kind").select_option("event_count")
    assert field(page, "filters").is_visible()
    assert not field(page, "metric").is_visible()
    page.get_by_label("Kind").select_option("metric_threshold")
    fill_rule(page, "host over five", metric)
    preview = page.locator("#rule-preview")
    legend = preview.locator(".u-legend")
    legend.wait_for()
    assert "threshold (> 5)" in legend.inner_text()
    assert "resolve threshold (4)" in legend.inner_text()
    assert "host=a" in legend.inner_text() and "host=b" in legend.inner_text()
    assert preview.locator("canvas").count() == 1
    assert "max 1.0 on a" in preview.locator("table.trials").inner_text()
    # Typing more redraws it: a threshold of 0.5 makes both hosts breach now.
    field(page, "threshold").fill("0.5")
    field(page, "resolve_threshold").fill("")
    preview.locator("table.trials .state-pending").nth(1).wait_for()
    assert "threshold (> 0.5)" in preview.locator(".u-legend").inner_text()
    field(page, "threshold").fill("5")
    field(page, "resolve_threshold").fill("4")
    preview.locator(".u-legend").filter(has_text="threshold (> 5)").wait_for()
    assert axe_violations(page) == []
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    field(page, "from").fill((now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    field(page, "to").fill(now.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Backtest").click()
    result = page.locator("#backtest-result")
    result.locator("table.transitions").wait_for()
    assert page.url.endswith("/ui/alerts/rules/new")  # only the region was swapped
    steps = result.locator("table.transitions tbody tr")
    assert [steps.nth(i).locator("td").nth(3).inner_text() for i in range(steps.count())] == [
        "pending",
        "firing",
        "resolved",
    ]
    assert "host=a" in result.locator("table.firing").inner_text()
    result.locator(".u-legend").wait_for()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Create the rule").click()
    page.get_by_role("status").filter(has_text="The rule is created.").wait_for()
    assert re.search(r"/ui/alerts/rules/\d+\?saved=created$", page.url)
    assert '"threshold": 5' in page.locator("pre.definition").inner_text()
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_role("heading", level=1, name="Edit rule “host over five”").wait_for()
    page.locator("#rule-preview .u-legend").wait_for()  # drawn as the form opens
    field(page, "threshold").fill("7.5")
    page.get_by_role("button", name="Save the rule").click()
    page.get_by_role("status").filter(has_text="The rule is saved.").wait_for()
    assert '"threshold": 7.5' in page.locator("pre.definition").inner_text()
    assert console.errors == []


def test_without_javascript_the_editor_posts_whole_pages(
    browser: Browser, site: ThreadedService, metric: str
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        sign_in(page, site.base_url, site.admin_token)
        page.goto(site.base_url + "/ui/alerts/rules/new")
        # Every kind's fields are there, each saying which kinds read it.
        assert field(page, "filters").is_visible()
        fill_rule(page, "no script rule", metric)
        page.get_by_role("button", name="Preview").click()
        page.locator("#rule-preview table.rule-series").wait_for()
        assert "host=a" in page.locator("#rule-preview table.rule-series").inner_text()
        page.get_by_role("button", name="Backtest").click()
        page.locator("#backtest-result table.transitions").wait_for()
        assert page.get_by_label("Name", exact=True).input_value() == "no script rule"
        field(page, "threshold").fill("lots")
        page.get_by_role("button", name="Create the rule").click()
        assert "must be a number" in page.locator("[data-field=threshold]").inner_text()
        field(page, "threshold").fill("5")
        page.get_by_role("button", name="Create the rule").click()
        page.get_by_role("status").filter(has_text="The rule is created.").wait_for()
        page.get_by_role("button", name="Disable").click()
        page.get_by_role("status").filter(has_text="The rule is disabled").wait_for()
        page.get_by_role("link", name="Delete", exact=True).click()
        page.get_by_role("button", name="Delete the rule").click()
        page.get_by_role("status").filter(has_text="The rule is deleted").wait_for()
        assert page.locator("table.rules").filter(has_text="no script rule").count() == 0
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_the_editor_with_problems_or_results(
    page: Page, site: ThreadedService, metric: str, console: Console, scheme: str
) -> None:
    page.emulate_media(color_scheme=scheme)
    sign_in(page, site.base_url, site.admin_token)
    page.goto(site.base_url + "/ui/alerts/rules/new")
    page.get_by_label("Name", exact=True).fill(f"axe {scheme}")
    field(page, "threshold").fill("lots")
    page.get_by_role("button", name="Create the rule").click()
    page.get_by_role("alert").wait_for()
    assert page.locator('[aria-invalid="true"]').count() >= 2
    assert axe_violations(page) == []
    fill_rule(page, f"axe {scheme}", metric)
    page.get_by_role("button", name="Backtest").click()
    page.locator("#backtest-result table.transitions").wait_for()
    assert axe_violations(page) == []
    # The refused form's 400 is the only failed load the browser reports.
    assert [e for e in console.errors if "status of 400" not in e] == []


def test_on_a_phone_the_editor_fits_the_screen_and_passes_axe(
    browser: Browser, site: ThreadedService, metric: str
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        sign_in(page, site.base_url, site.admin_token)
        page.goto(site.base_url + "/ui/alerts/rules/new")
        page.locator("#rule-form.kind-switched").wait_for()
        fill_rule(page, "phone", metric)
        page.locator("#rule-preview .u-legend").wait_for()
        page.get_by_role("button", name="Backtest").click()
        page.locator("#backtest-result table.transitions").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert axe_violations(page) == []
    finally:
        context.close()
