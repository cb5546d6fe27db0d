"""The Metrics explorer in a real browser: a grouped query, chosen in the form, draws
one uPlot series (and legend entry) per group and keeps the query in the URL; the
chart is redrawn from the page's own URL each interval; axe-core finds no serious or
critical violation, light or dark; on a phone the page fits the screen.

The service runs on a database of its own, so its metrics are these tests' only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page

from browser_harness import Console, axe_violations, create_key, own_ui_service, sign_in
from conftest import ThreadedService

HOSTS = ("alpha", "beta", "gamma")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    with own_ui_service(tmp_path_factory.mktemp("metrics")) as running:
        now = datetime.now(UTC)
        samples = [
            {
                "name": "request_seconds",
                "value": 0.1 * (number + 1) + minute / 100,
                "time": (now - timedelta(minutes=minute)).isoformat(),
                "labels": {"host": host, "region": "eu" if host != "gamma" else "us"},
            }
            for number, host in enumerate(HOSTS)
            for minute in range(1, 50, 3)
        ]
        posted = httpx.post(
            f"{running.base_url}/api/v1/metrics/bulk",
            json=samples,
            headers={"X-API-Key": running.admin_token},
            timeout=10,
        )
        assert posted.status_code == 201, posted.text
        yield running


@pytest.fixture(scope="module")
def writer(site: ThreadedService) -> str:
    return create_key(site, "metrics writer", "write")


def series_count(page: Page) -> int:
    """uPlot's series in the chart's legend (its first row is the time)."""
    return page.locator("#metric-chart .u-legend .u-series").count() - 1


def test_a_grouped_query_draws_a_series_per_group_and_stays_in_the_url(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    sign_in(page, site.base_url, writer)
    page.get_by_role("navigation").get_by_role("link", name="Metrics").click()
    page.get_by_role("heading", level=1, name="Metrics").wait_for()
    page.get_by_label("Metric", exact=True).fill("request_seconds")
    page.get_by_label("Aggregation").select_option("max")
    page.get_by_label("Group by (labels)").fill("host")
    page.get_by_label("Range").select_option("1h")
    page.get_by_role("button", name="Show").click()
    page.locator("#metric-chart .u-legend").wait_for()
    assert "name=request_seconds" in page.url and "group_by=host" in page.url
    assert series_count(page) == 3
    legend = page.locator("#metric-chart .u-legend .u-series .u-label").all_inner_texts()
    assert legend[1:] == [f"host={host}" for host in HOSTS]
    assert page.locator("table.metric-table thead th").count() == 4  # time + 3 series
    # A matcher narrows it to the two hosts in eu; the URL holds it, so a reload keeps it.
    page.get_by_label("Label (label=value or label!=value)").fill("region=eu")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**label=region%3Deu**")
    page.locator("#metric-chart .u-legend").wait_for()
    page.wait_for_function("document.querySelectorAll('#metric-chart .u-series').length === 3")
    assert series_count(page) == 2
    page.reload()
    page.locator("#metric-chart .u-legend").wait_for()
    assert series_count(page) == 2
    assert page.get_by_label("Label 1 (label=value or label!=value)").input_value() == "region=eu"
    assert console.errors == []


def test_the_chart_is_redrawn_from_the_page_each_interval(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    page.clock.install()
    sign_in(page, site.base_url, writer)
    page.goto(site.base_url + "/ui/metrics?name=request_seconds&group_by=host&range=15m")
    page.locator("#metric-chart .u-legend").wait_for()
    with page.expect_request(lambda request: "/ui/metrics?" in request.url) as refetched:
        page.clock.run_for(20_000)  # the interval (15 m / 300 buckets) is shorter than 10 s
    assert refetched.value.headers.get("hx-request") == "true"
    page.wait_for_function("document.querySelectorAll('#metric-chart .u-series').length === 4")
    assert console.errors == []


def test_without_javascript_the_form_submits_and_the_table_holds_the_values(
    browser: Browser, site: ThreadedService, writer: str
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site.base_url, writer)
        page.goto(site.base_url + "/ui/metrics")
        page.get_by_label("Metric", exact=True).fill("request_seconds")
        page.get_by_label("Group by (labels)").fill("host")
        page.get_by_label("Label (label=value or label!=value)").fill("region!=us")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**/ui/metrics?**name=request_seconds**")
        headers = page.locator("table.metric-table thead th").all_inner_texts()
        assert headers == ["Time", "host=alpha", "host=beta"]
        assert page.locator("table.metric-table tbody tr").count() > 10
        assert page.locator("#metric-chart .u-legend").count() == 0  # no script, no chart
        # Adding it to a dashboard is a plain form post too.
        page.get_by_label("Title").fill("Request time by host")
        page.get_by_role("button", name="Add timeseries widget").click()
        page.wait_for_url("**/ui/dashboards/*?saved=widget#widget-*")
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_the_explorer(
    page: Page, site: ThreadedService, writer: str, console: Console, scheme: str
) -> None:
    page.emulate_media(color_scheme=scheme)
    sign_in(page, site.base_url, writer)
    page.goto(site.base_url + "/ui/metrics")
    page.get_by_role("heading", level=1, name="Metrics").wait_for()
    assert axe_violations(page) == []
    page.goto(site.base_url + "/ui/metrics?name=request_seconds&group_by=host&range=1h")
    page.locator("#metric-chart .u-legend").wait_for()
    assert axe_violations(page) == []
    assert console.errors == []
    # The 400 page too (its status is the only console message the browser writes).
    page.goto(site.base_url + "/ui/metrics?name=request_seconds&interval=abc")
    page.get_by_role("alert").wait_for()
    assert axe_violations(page) == []


def test_on_a_phone_the_explorer_fits_the_screen(
    browser: Browser, site: ThreadedService, writer: str
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        sign_in(page, site.base_url, writer)
        page.goto(site.base_url + "/ui/metrics?name=request_seconds&group_by=host&range=1h")
        page.locator("#metric-chart .u-legend").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert axe_violations(page) == []
    finally:
        context.close()
