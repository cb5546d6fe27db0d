"""The Dashboards pages in a real browser: the fresh install's default dashboard draws
every widget on its grid, a widget moved survives a reload, two people editing one widget
(the second is told of the conflict), and axe-core finds no serious or critical
violation, light or dark.

The service runs on a database of its own, so its dashboards are these tests' only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from browser_harness import Console, api, axe_violations, create_key, own_ui_service, sign_in
from conftest import ThreadedService


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    with own_ui_service(tmp_path_factory.mktemp("boards")) as running:
        moment = (datetime.now(UTC) - timedelta(minutes=40)).isoformat()
        events = [
            {
                "type": "job",
                "level": level,
                "source": "worker",
                "message": f"{level} {n}",
                "time": moment,
            }
            for n, level in enumerate(["info", "info", "error", "critical", "warning"])
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
    return create_key(site, "boards writer", "write")


def new_board(site: ThreadedService, name: str) -> tuple[int, list[dict[str, Any]]]:
    board = api(site, "POST", "/api/v1/dashboards", json={"name": name})["id"]
    widgets = [
        api(
            site,
            "POST",
            "/api/v1/dashboard/widgets",
            json={
                "dashboard_id": board,
                "title": title,
                "kind": "stat",
                "query": {"kind": "overview"},
                "x": x,
                "y": 0,
                "w": 4,
                "h": 2,
            },
        )
        for title, x in (("Left", 0), ("Middle", 4))
    ]
    return board, widgets


def box(page: Page, widget_id: int) -> dict[str, float]:
    found = page.locator(f"#widget-{widget_id}").bounding_box()
    assert found is not None
    return dict(found)


def test_the_default_dashboard_draws_every_widget_on_its_grid(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, site.base_url, writer)
    page.get_by_role("navigation").get_by_role("link", name="Dashboards").click()
    page.get_by_role("heading", level=1, name="Dashboards").wait_for()
    page.locator("#main").get_by_role("link", name="Overview", exact=True).click()
    page.get_by_role("heading", level=1, name="Overview default").wait_for()
    widgets = api(site, "GET", "/api/v1/dashboards/1")["widgets"]
    by_title = {widget["title"]: widget for widget in widgets}
    # Both charts drawn by uPlot (their tables kept for screen readers only).
    page.locator(".dash-grid .uplot").nth(1).wait_for()
    assert page.locator(".dash-grid .uplot canvas").count() == 2
    assert page.locator("table.summary.visually-hidden").count() == 2
    # ... and hidden inside their widgets: the page does not scroll sideways.
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    stat = page.locator(f"#widget-{by_title['Ingest rate']['id']} .stat-value").inner_text()
    assert stat.replace(",", "").replace(".", "").isdigit()
    top = page.locator(f"#widget-{by_title['Top errors']['id']} table.top tbody tr")
    assert top.count() == 2
    # The grid: 8 + 4 columns side by side, then 6 + 6 below.
    rate, ingest = (
        box(page, by_title["Event rate by level"]["id"]),
        box(page, by_title["Ingest rate"]["id"]),
    )
    errors, top_box = (
        box(page, by_title["Error rate"]["id"]),
        box(page, by_title["Top errors"]["id"]),
    )
    assert rate["y"] == ingest["y"] and ingest["x"] > rate["x"] + rate["width"] - 1
    assert abs(rate["width"] / ingest["width"] - 2) < 0.1
    assert errors["y"] > rate["y"] + rate["height"] - 1 and errors["y"] == top_box["y"]
    assert abs(errors["width"] - top_box["width"]) < 1
    assert console.errors == []


def test_a_widget_moved_survives_a_reload(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    board, (left, middle) = new_board(site, "Movable")
    sign_in(page, site.base_url, writer)
    page.goto(f"{site.base_url}/ui/dashboards/{board}")
    before = box(page, middle["id"])
    page.get_by_role("link", name="Move and resize").click()
    page.get_by_role("button", name="Middle: right").click()
    page.get_by_role("status").filter(has_text="The layout is saved.").wait_for()
    page.get_by_role("button", name="Middle: down").click()
    page.get_by_role("status").filter(has_text="The layout is saved.").wait_for()
    page.get_by_label("Left: width (w)").fill("3")
    page.get_by_role("button", name="Save the layout").click()
    page.wait_for_url(f"**/ui/dashboards/{board}?saved=layout")
    page.reload()
    after = box(page, middle["id"])
    assert after["x"] > before["x"] and after["y"] > before["y"]
    assert box(page, left["id"])["width"] < before["width"]
    stored = {w["title"]: w for w in api(site, "GET", f"/api/v1/dashboards/{board}")["widgets"]}
    assert (stored["Middle"]["x"], stored["Middle"]["y"], stored["Left"]["w"]) == (5, 1, 3)
    assert console.errors == []


def test_the_second_of_two_editors_is_told_of_the_conflict(
    browser: Browser, site: ThreadedService, writer: str
) -> None:
    board, (left, _) = new_board(site, "Contested")
    editors = [browser.new_context() for _ in range(2)]
    try:
        pages = [context.new_page() for context in editors]
        for page in pages:
            page.set_default_timeout(15_000)
            sign_in(page, site.base_url, writer)
            page.goto(f"{site.base_url}/ui/dashboards/{board}")
            page.get_by_role("link", name="Edit Left").click()
            page.get_by_label("Title", exact=True).wait_for()
        first, second = pages
        first.get_by_label("Title", exact=True).fill("First's title")
        first.get_by_role("button", name="Save the widget").click()
        first.get_by_role("status").filter(has_text="The widget is saved.").wait_for()
        second.get_by_label("Title", exact=True).fill("Second's title")
        second.get_by_role("button", name="Save the widget").click()
        second.get_by_role("heading", level=1, name="Someone else changed it").wait_for()
        assert "nothing was changed" in second.get_by_role("alert").inner_text()
        second.get_by_role("link", name="Reload the widget").click()
        assert second.get_by_label("Title", exact=True).input_value() == "First's title"
        stored = api(site, "GET", f"/api/v1/dashboard/widgets/{left['id']}")
        assert (stored["title"], stored["version"]) == ("First's title", 2)
    finally:
        for context in editors:
            context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_serious_on_the_dashboards_pages(
    page: Page, site: ThreadedService, writer: str, console: Console, scheme: str
) -> None:
    page.emulate_media(color_scheme=scheme)
    sign_in(page, site.base_url, writer)
    for path, ready in (
        ("/ui/dashboards", "table.dashboards"),
        ("/ui/dashboards/1", ".dash-grid .uplot"),
        ("/ui/dashboards/1/arrange", "table.arrange"),
        ("/ui/dashboards/1/widgets/new", "form.widget-form"),
    ):
        page.goto(site.base_url + path)
        page.locator(ready).first.wait_for()
        assert axe_violations(page) == [], path
    # The new widget's preview (the form's defaults: events over 24 h), drawn by uPlot.
    page.get_by_label("Title", exact=True).fill("Everything")
    page.get_by_role("button", name="Preview").click()
    page.locator(".preview-grid .uplot").wait_for()
    assert page.get_by_label("Title", exact=True).input_value() == "Everything"
    assert axe_violations(page) == [], "preview"
    assert console.errors == []
