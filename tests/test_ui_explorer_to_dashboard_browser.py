"""From the Metrics explorer to a dashboard, in a real browser with JavaScript on, as
an operator would: a query chosen in the explorer's form and shown, then added to a
dashboard with its "Add to a dashboard" form; the new widget moved on the Move and
resize page (a step button, then the place fields); and after a reload the widget
is drawn in its new place on the grid.

The service runs on a database of its own, so its metrics and dashboards are this
test's only. axe is run on these pages by the explorer's and dashboards' own tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page

from browser_harness import Console, api, create_key, own_ui_service, sign_in
from conftest import ThreadedService

HOSTS = ("alpha", "beta")
TITLE = "Queue depth by host"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    with own_ui_service(tmp_path_factory.mktemp("explorer")) as running:
        now = datetime.now(UTC)
        samples = [
            {
                "name": "queue_depth",
                "value": float(number * 10 + minute),
                "time": (now - timedelta(minutes=minute)).isoformat(),
                "labels": {"host": host},
            }
            for number, host in enumerate(HOSTS)
            for minute in range(1, 50, 4)
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
    return create_key(site, "explorer writer", "write")


def box(page: Page, widget_id: int) -> dict[str, float]:
    """The widget's place on the page (not on the screen: the saved page scrolls to it)."""
    found = page.locator(f"#widget-{widget_id}").bounding_box()
    assert found is not None
    scrolled = page.evaluate("[window.scrollX, window.scrollY]")
    return {**found, "x": found["x"] + scrolled[0], "y": found["y"] + scrolled[1]}


def test_a_widget_added_from_the_explorer_is_moved_and_survives_a_reload(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    # A dashboard (not the default one) with one widget in its top-left corner.
    board = api(site, "POST", "/api/v1/dashboards", json={"name": "Queues"})["id"]
    corner = api(
        site,
        "POST",
        "/api/v1/dashboard/widgets",
        json={
            "dashboard_id": board,
            "title": "Corner",
            "kind": "stat",
            "query": {"kind": "overview"},
            "x": 0,
            "y": 0,
            "w": 4,
            "h": 2,
        },
    )
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, site.base_url, writer)

    # The explorer: the query chosen in its form and shown (htmx swaps the page in).
    page.get_by_role("navigation").get_by_role("link", name="Metrics").click()
    page.get_by_role("heading", level=1, name="Metrics").wait_for()
    page.get_by_label("Metric", exact=True).fill("queue_depth")
    page.get_by_label("Aggregation").select_option("max")
    page.get_by_label("Group by (labels)").fill("host")
    page.get_by_label("Range").select_option("1h")
    page.get_by_role("button", name="Show").click()
    page.locator("#metric-chart .u-legend").wait_for()
    assert "name=queue_depth" in page.url

    # "Add to a dashboard": the title and the dashboard chosen, then added.
    adding = page.get_by_role("form", name="Add to a dashboard")
    adding.get_by_label("Title").fill(TITLE)
    adding.get_by_label("Dashboard").select_option(label="Queues")
    adding.get_by_role("button", name="Add timeseries widget").click()
    page.wait_for_url(f"**/ui/dashboards/{board}?saved=widget#widget-*")
    page.get_by_role("status").filter(has_text="The widget is saved.").wait_for()
    found = re.search(r"#widget-(\d+)$", page.url)
    assert found is not None, page.url
    added = int(found.group(1))
    widget = page.locator(f"#widget-{added}")
    widget.get_by_role("heading", name=TITLE).wait_for()
    widget.locator(".uplot").wait_for()
    # Below the corner widget, where a widget without a place goes.
    before, corner_box = box(page, added), box(page, corner["id"])
    assert before["y"] >= corner_box["y"] + corner_box["height"] - 1
    stored = api(site, "GET", f"/api/v1/dashboard/widgets/{added}")
    assert stored["kind"] == "timeseries" and stored["query"]["name"] == "queue_depth"
    assert (stored["x"], stored["y"]) == (0, 2)

    # Move and resize: one step right (saved at once), then beside the corner widget.
    page.get_by_role("link", name="Move and resize").click()
    page.get_by_role("heading", level=1, name="Move and resize: Queues").wait_for()
    page.get_by_role("button", name=f"{TITLE}: right").click()
    page.get_by_role("status").filter(has_text="The layout is saved.").wait_for()
    assert page.get_by_label(f"{TITLE}: column (x)").input_value() == "1"
    page.get_by_label(f"{TITLE}: column (x)").fill("6")
    page.get_by_label(f"{TITLE}: row (y)").fill("0")
    page.get_by_role("button", name="Save the layout").click()
    page.wait_for_url(f"**/ui/dashboards/{board}?saved=layout")

    # After a reload the grid still puts it in its new place: level with the corner
    # widget, to its right.
    page.reload()
    page.locator(f"#widget-{added} .uplot").wait_for()
    after, corner_box = box(page, added), box(page, corner["id"])
    assert after["y"] == corner_box["y"] and after["y"] < before["y"]
    assert after["x"] > corner_box["x"] + corner_box["width"] - 1 and after["x"] > before["x"]
    stored = api(site, "GET", f"/api/v1/dashboard/widgets/{added}")
    assert (stored["x"], stored["y"], stored["w"], stored["h"]) == (6, 0, 6, 4)
    assert console.errors == []
