"""Managing dashboards in a real browser: a dashboard created from the list, renamed, made
the default and deleted after confirming; and the widget form's preview redrawn as the
fields are typed, without pressing "Preview". axe-core finds no serious or critical
violation on the new pages.

The service runs on a database of its own, so its dashboards are these tests' only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from browser_harness import Console, api, axe_violations, create_key, own_ui_service, sign_in
from conftest import ThreadedService


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    with own_ui_service(tmp_path_factory.mktemp("manage")) as running:
        moment = (datetime.now(UTC) - timedelta(minutes=40)).isoformat()
        events = [
            {"type": "job", "level": level, "source": "worker", "message": level, "time": moment}
            for level in ["info", "info", "error", "critical", "warning"]
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
    return create_key(site, "manage writer", "write")


def stored(site: ThreadedService) -> dict[str, dict[str, object]]:
    return {board["name"]: board for board in api(site, "GET", "/api/v1/dashboards")["dashboards"]}


def test_a_dashboard_is_created_renamed_made_default_and_deleted(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    sign_in(page, site.base_url, writer)
    page.get_by_role("navigation").get_by_role("link", name="Dashboards").click()
    page.get_by_role("link", name="New dashboard").click()
    page.get_by_role("heading", level=1, name="New dashboard").wait_for()
    assert axe_violations(page) == [], "new dashboard form"
    # A name in use is refused with the reason, the form kept as typed.
    page.get_by_label("Name").fill("overview")
    page.get_by_label("Description").fill("What a release changes")
    page.get_by_role("button", name="Create the dashboard").click()
    expect(page.get_by_role("alert")).to_contain_text("is taken by dashboard 1")
    assert page.get_by_label("Description").input_value() == "What a release changes"
    assert axe_violations(page) == [], "refused form"
    page.get_by_label("Name").fill("Release")
    page.get_by_role("button", name="Create the dashboard").click()
    page.get_by_role("status").filter(has_text="The dashboard is created.").wait_for()
    page.get_by_role("heading", level=1, name="Release").wait_for()
    assert stored(site)["Release"]["description"] == "What a release changes"

    page.get_by_role("link", name="Edit the name and description").click()
    page.get_by_label("Name").fill("Release checks")
    page.get_by_role("button", name="Save the dashboard").click()
    page.get_by_role("status").filter(has_text="The dashboard is saved.").wait_for()
    page.get_by_role("heading", level=1, name="Release checks").wait_for()

    page.get_by_role("button", name="Set as default").click()
    page.get_by_role("status").filter(has_text="This is now the default dashboard.").wait_for()
    page.get_by_role("heading", level=1, name="Release checks default").wait_for()
    boards = stored(site)
    assert boards["Release checks"]["is_default"] and not boards["Overview"]["is_default"]
    # The default cannot be deleted: no link; the confirmation page says why.
    assert page.get_by_role("link", name="Delete…").count() == 0
    assert page.get_by_role("button", name="Set as default").count() == 0

    # Overview back as the default, then Release checks deleted after confirming.
    page.get_by_role("link", name="All dashboards").click()
    page.locator("#main").get_by_role("link", name="Overview", exact=True).click()
    page.get_by_role("button", name="Set as default").click()
    page.get_by_role("heading", level=1, name="Overview default").wait_for()
    page.get_by_role("link", name="All dashboards").click()
    page.locator("#main").get_by_role("link", name="Release checks", exact=True).click()
    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("heading", level=1, name="Delete “Release checks”?").wait_for()
    assert axe_violations(page) == [], "delete confirmation"
    page.get_by_role("button", name="Delete the dashboard").click()
    page.get_by_role("status").filter(has_text="The dashboard is deleted.").wait_for()
    assert page.locator("#main").get_by_role("link", name="Release checks").count() == 0
    assert set(stored(site)) == {"Overview"}
    # The refused name was the one error: Chromium logs the 409 answer as such.
    [refusal] = console.errors
    assert "status of 409" in refusal and refusal.endswith("/ui/dashboards)")


def test_a_widget_is_deleted_after_confirming(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    board = api(site, "POST", "/api/v1/dashboards", json={"name": "Pruned"})["id"]
    widget = api(
        site,
        "POST",
        "/api/v1/dashboard/widgets",
        json={
            "dashboard_id": board,
            "title": "Spare",
            "kind": "stat",
            "query": {"kind": "overview"},
        },
    )
    sign_in(page, site.base_url, writer)
    page.goto(f"{site.base_url}/ui/dashboards/{board}")
    page.get_by_role("link", name="Delete Spare").click()
    page.get_by_role("heading", level=1, name="Delete “Spare” from Pruned?").wait_for()
    page.get_by_role("button", name="Delete the widget").click()
    page.get_by_role("status").filter(has_text="The widget is deleted.").wait_for()
    assert page.locator(f"#widget-{widget['id']}").count() == 0
    assert api(site, "GET", f"/api/v1/dashboards/{board}")["widgets"] == []
    assert console.errors == []


def test_the_widget_preview_redraws_as_the_form_is_typed(
    page: Page, site: ThreadedService, writer: str, console: Console
) -> None:
    previews: list[str] = []

    def note(request: Request) -> None:
        if request.url.endswith("/widgets/preview"):
            previews.append(request.url)

    page.on("request", note)
    sign_in(page, site.base_url, writer)
    form_url = f"{site.base_url}/ui/dashboards/1/widgets/new"
    page.goto(form_url)
    preview = page.locator("#widget-preview")
    # Drawn by the server as the form opens (the form's defaults: events over 24 h).
    preview.locator(".uplot").wait_for()
    assert previews == []

    # A burst of typing (15 keys) is one request after it, not one per key; the last
    # answer is the one shown (a stale one never lands over it).
    page.get_by_label("Title", exact=True).press_sequentially("Errors by level", delay=40)
    expect(preview.get_by_role("heading", level=3)).to_have_text("Errors by level")
    assert 1 <= len(previews) <= 5, previews  # a starved browser may pause mid-burst

    # Another kind and query: the preview becomes a number.
    page.get_by_label("Kind").select_option("stat")
    page.get_by_label("Query (the parameters of the route that draws it)").fill(
        "kind=events&level=error&range=24h"
    )
    expect(preview.locator(".stat-value")).to_have_text("1")

    # A query that is wrong mid-typing: the reasons in the preview, the page kept.
    query = page.get_by_label("Query (the parameters of the route that draws it)")
    query.fill("kind=events&level=error&range=banana")
    expect(preview).to_contain_text("Cannot be drawn yet")
    expect(preview.locator("code").first).to_have_text("query.range")
    assert page.url == form_url
    assert page.get_by_label("Title", exact=True).input_value() == "Errors by level"

    # Back to a chart, drawn again; then the widget is added as previewed.
    page.get_by_label("Kind").select_option("timeseries")
    query.fill("kind=events&group_by=level&range=24h")
    preview.locator(".uplot").wait_for()
    assert axe_violations(page) == [], "live preview"
    page.get_by_role("button", name="Add the widget").click()
    page.get_by_role("status").filter(has_text="The widget is saved.").wait_for()
    added = api(site, "GET", "/api/v1/dashboards/1")["widgets"][-1]
    assert (added["title"], added["kind"], added["query"]) == (
        "Errors by level",
        "timeseries",
        {"kind": "events", "group_by": "level", "range": "24h"},
    )
    assert console.errors == []
