"""The Dashboards pages over HTTP: each widget kind drawn from its route's answer, the
default dashboard of a fresh install, export and import, the widget form and the layout
form through the API's own steps (same audit rows), versions (412), roles, CSRF, outages.

The browser test (test_ui_dashboards_browser.py) draws, moves and edits as a user does.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from conftest import (
    StartService,
    set_connections_allowed,
)
from dashboard_helpers import HeldClock, held_clock
from monitor.web.ui.widget_form_page import parsed_query, query_text
from ui_site import BROWSER_ACCEPT, FOREIGN, SITE, UiSite, own_site

__all__ = ["held_clock"]  # a fixture


class Site(UiSite):
    csrf_page = "/ui/dashboards"

    async def api_get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, params=params, headers=self.api())
        assert response.status_code == 200, response.text
        return response.json()

    async def default_dashboard(self) -> dict[str, Any]:
        listed = await self.api_get("/api/v1/dashboards")
        board = listed["dashboards"][0]
        assert board["is_default"]
        found: dict[str, Any] = await self.api_get(f"/api/v1/dashboards/{board['id']}")
        return found

    async def new_dashboard(self, name: str) -> int:
        made = await self.http.post("/api/v1/dashboards", json={"name": name}, headers=self.api())
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    async def add_widget(self, dashboard_id: int, **fields: Any) -> dict[str, Any]:
        made = await self.http.post(
            "/api/v1/dashboard/widgets",
            json={"dashboard_id": dashboard_id, "w": 6, "h": 4, **fields},
            headers=self.api(),
        )
        assert made.status_code == 201, made.text
        widget: dict[str, Any] = made.json()
        return widget

    async def post(
        self, path: str, data: dict[str, Any], csrf: str | None, origin: str | None = SITE
    ) -> httpx.Response:
        headers = {"Accept": BROWSER_ACCEPT}
        if origin is not None:
            headers["Origin"] = origin
        body = dict(data) if csrf is None else {"csrf_token": csrf, **data}
        return await self.http.post(path, data=body, headers=headers)


@pytest.fixture
async def site(start_service: StartService, tmp_path: Path) -> AsyncIterator[Site]:
    """A service on a database of its own: its dashboards are the fresh install's."""
    async with own_site(start_service, tmp_path, "boards", Site) as running:
        yield running


def audit_rows(database_url: str, resource: str, action: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            "select row_to_json(a)::text from audit_log a "
            "where resource = %s and action = %s order by id",
            (resource, action),
        ).fetchall()
    return [json.loads(text) for (text,) in found]


def dashboard_count(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute("select count(*) from dashboards").fetchone()
    assert row is not None
    return int(row[0])


def widget_section(page: str, widget_id: int) -> str:
    found = re.search(
        rf'<section class="widget[^"]*" id="widget-{widget_id}".*?</section>', page, re.S
    )
    assert found is not None, page[:2000]
    return found[0]


async def sample_events(site: Site, now: datetime) -> None:
    # Two minutes back: inside every window the held clock's ticks have finished.
    moment = (now - timedelta(minutes=2)).isoformat()
    shared = {"type": "order", "time": moment, "source": "shop"}
    events = [
        *({**shared, "level": "error", "message": "card declined"} for _ in range(3)),
        {**shared, "level": "critical", "source": "billing", "message": "ledger <off>"},
        *({**shared, "level": "info", "message": f"paid {n}"} for n in range(4)),
    ]
    # Three hours back, for the heatmap, whose window ends at a whole hour.
    earlier = (now - timedelta(hours=3)).isoformat()
    events += [{**shared, "time": earlier, "level": "info", "message": "old"}] * 2
    response = await site.http.post("/api/v1/events/bulk", json=events, headers=site.api())
    assert response.status_code == 201, response.text


# Reading.


async def test_the_default_dashboard_of_a_fresh_install_renders_every_widget(
    site: Site, held_clock: HeldClock
) -> None:
    await site.sign_in("read")
    board = await site.default_dashboard()
    listed = await site.http.get("/ui/dashboards")
    assert listed.status_code == 200
    assert (
        f'<a href="/ui/dashboards/{board["id"]}">Overview</a> '
        '<span class="default-mark">default</span>' in listed.text
    )
    page = await site.http.get(f"/ui/dashboards/{board['id']}")
    assert page.status_code == 200
    assert len(board["widgets"]) == 4
    for widget in board["widgets"]:
        section = widget_section(page.text, widget["id"])
        assert widget["title"] in section
        assert "refused" not in section
    # Places: a stylesheet of the dashboard's own, x/y/w/h as grid lines.
    assert f'href="/ui/dashboards/{board["id"]}/grid.css?v={board["version"]}"' in page.text
    css = await site.http.get(f"/ui/dashboards/{board['id']}/grid.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for widget in board["widgets"]:
        rule = (
            f"#widget-{widget['id']}{{grid-column:{widget['x'] + 1}/span {widget['w']};"
            f"grid-row:{widget['y'] + 1}/span {widget['h']}}}"
        )
        assert rule in css.text
    assert "<script>" not in page.text and " style=" not in page.text


async def test_each_widget_kind_is_drawn_from_its_routes_answer(
    site: Site, held_clock: HeldClock
) -> None:
    await sample_events(site, held_clock.now)
    board = await site.new_dashboard("Kinds")
    chart = await site.add_widget(
        board,
        title="By level",
        kind="timeseries",
        query={"kind": "events", "group_by": "level", "range": "1h"},
    )
    stat = await site.add_widget(
        board,
        title="Errors",
        kind="stat",
        query={"kind": "events", "level": ["error", "critical"], "range": "1h"},
        options={"unit": "events"},
    )
    gauge = await site.add_widget(
        board,
        title="All events",
        kind="gauge",
        query={"kind": "overview", "range": "1h"},
        options={"field": "events.total", "max": 20},
    )
    top = await site.add_widget(
        board, title="Sources", kind="top", query={"type": "sources", "range": "1h"}
    )
    events = await site.add_widget(
        board, title="Latest bad", kind="events", query={"min_level": "error"}
    )
    heat = await site.add_widget(
        board, title="When", kind="heatmap", query={"kind": "events", "range": "7d"}
    )
    await site.sign_in("read")
    page = await site.http.get(f"/ui/dashboards/{board}")
    assert page.status_code == 200, page.text

    section = widget_section(page.text, chart["id"])
    answer = await site.api_get(
        "/api/v1/dashboard/timeseries", kind="events", group_by="level", range="1h"
    )
    block = re.search(
        r'<script type="application/json" id="chart-\d+">(.*?)</script>', section, re.S
    )
    assert block is not None
    data = json.loads(block[1])
    assert data["times"] == answer["buckets"]
    assert {s["label"]: s["values"] for s in data["series"]} == {
        s["group"]: s["counts"] for s in answer["series"]
    }
    assert '<th scope="row">error</th><td class="number">3</td>' in section  # the no-JS table

    assert '<span class="stat-value">4</span> <span class="unit">events</span>' in widget_section(
        page.text, stat["id"]
    )
    gauge_html = widget_section(page.text, gauge["id"])
    assert '<span class="stat-value">8</span>' in gauge_html
    assert '<meter class="gauge" min="0.0" max="20.0" value="8.0"' in gauge_html

    top_html = widget_section(page.text, top["id"])
    ranked = await site.api_get("/api/v1/dashboard/top/sources", range="1h")
    rows = re.findall(
        r'<tr><th scope="row">([^<]+)</th>\s*<td class="number">([\d,]+)</td>', top_html
    )
    assert rows == [(item["source"], str(item["count"])) for item in ranked["items"]]

    events_html = widget_section(page.text, events["id"])
    assert events_html.count("<li>") == 4
    assert "ledger &lt;off&gt;" in events_html and "<off>" not in events_html
    assert "paid" not in events_html

    heat_html = widget_section(page.text, heat["id"])
    cells = re.findall(r"<td class=\"shade-(\d)\">(\d+)</td>", heat_html)
    assert len(cells) == 7 * 24
    heat_answer = await site.api_get("/api/v1/dashboard/heatmap", kind="events", range="7d")
    assert [int(count) for _, count in cells] == [n for row in heat_answer["counts"] for n in row]
    assert sum(int(count) for _, count in cells) >= 2  # the old ones at least
    busiest = max(int(count) for _, count in cells)
    assert {shade for shade, count in cells if int(count) == busiest} == {"5"}
    assert {shade for shade, count in cells if count == "0"} == {"0"}


async def test_metric_and_slow_request_widgets_are_drawn_from_their_routes_answers(
    site: Site, held_clock: HeldClock
) -> None:
    moment = (held_clock.now - timedelta(minutes=2)).isoformat()
    samples = [
        {"name": "queue_depth", "value": value, "labels": {"queue": queue}, "time": moment}
        for queue, value in (("mail", 7), ("jobs", 19))
    ]
    posted = await site.http.post("/api/v1/metrics/bulk", json=samples, headers=site.api())
    assert posted.status_code == 201, posted.text
    requests = [
        {
            "type": "http.request",
            "level": "info",
            "source": "api",
            "time": moment,
            "attributes": {"route": "/login", "duration_ms": ms},
        }
        for ms in (10, 20, 400)
    ]
    posted = await site.http.post("/api/v1/events/bulk", json=requests, headers=site.api())
    assert posted.status_code == 201, posted.text
    board = await site.new_dashboard("Metrics")
    made = [
        await site.add_widget(board, title=title, kind=kind, query=query)
        for title, kind, query in (
            (
                "Depth",
                "timeseries",
                {
                    "kind": "metric",
                    "name": "queue_depth",
                    "aggregation": "max",
                    "group_by": "queue",
                    "range": "1h",
                },
            ),
            (
                "Deepest",
                "stat",
                {"kind": "metric", "name": "queue_depth", "aggregation": "max", "range": "1h"},
            ),
            ("By count", "top", {"type": "metrics", "range": "1h"}),
            ("By value", "top", {"type": "metrics", "by": "value", "range": "1h"}),
            ("Slow", "top", {"type": "slow-requests", "range": "1h"}),
            ("Spread", "heatmap", {"kind": "metric", "name": "queue_depth", "range": "1h"}),
        )
    ]
    await site.sign_in("read")
    page = await site.http.get(f"/ui/dashboards/{board}")
    assert page.status_code == 200, page.text
    sections = [widget_section(page.text, widget["id"]) for widget in made]
    for section in sections:
        assert "refused" not in section and "No data" not in section, section
    chart = json.loads(
        re.search(
            r'<script type="application/json" id="chart-\d+">(.*?)</script>', sections[0], re.S
        )[1]  # type: ignore[index]
    )
    assert sorted(series["label"] for series in chart["series"]) == [
        "queue_depth max {queue=jobs}",
        "queue_depth max {queue=mail}",
    ]
    assert '<span class="stat-value">19</span>' in sections[1]
    assert '<th scope="row">queue_depth</th>' in sections[2]
    assert "queue_depth {queue=jobs}" in sections[3]
    assert '<th scope="row">/login</th>' in sections[4]
    assert re.search(r'<td class="shade-5">\d+</td>', sections[5])


async def test_a_widget_whose_query_is_refused_now_says_so_and_the_rest_draws(
    site: Site, held_clock: HeldClock
) -> None:
    board = await site.new_dashboard("Partly")
    good = await site.add_widget(board, title="Fine", kind="stat", query={"kind": "overview"})
    bad = await site.add_widget(board, title="Broken", kind="top", query={"type": "errors"})
    with psycopg.connect(site.database_url) as connection:
        connection.execute(
            "update widgets set query = %s where id = %s", ('{"type": "nope"}', bad["id"])
        )
    await site.sign_in("read")
    page = await site.http.get(f"/ui/dashboards/{board}")
    assert page.status_code == 200
    assert "Its query is refused now: type: required once" in widget_section(page.text, bad["id"])
    assert "stat-value" in widget_section(page.text, good["id"])


async def test_every_page_is_whole_or_a_fragment_without_inline_script(
    site: Site, held_clock: HeldClock
) -> None:
    board = await site.default_dashboard()
    await site.sign_in("write")
    base = f"/ui/dashboards/{board['id']}"
    for path in (
        "/ui/dashboards",
        base,
        f"{base}/arrange",
        f"{base}/widgets/new",
        f"{base}/widgets/{board['widgets'][0]['id']}",
    ):
        whole = await site.http.get(path)
        part = await site.http.get(path, headers={"HX-Request": "true"})
        assert whole.status_code == part.status_code == 200, path
        assert whole.text.startswith("<!doctype html>") and "<html" not in part.text
        assert "no-store" in whole.headers["cache-control"]
        for text in (whole.text, part.text):
            assert " style=" not in text and "<style" not in text
            scripts = re.findall(r"<script[^>]*>", text)
            assert all("src=" in tag or 'type="application/json"' in tag for tag in scripts)


@pytest.mark.parametrize("path", ["/ui/dashboards/999999", "/ui/dashboards/99999999999999999999"])
async def test_an_unknown_dashboard_is_a_404_page(
    site: Site, held_clock: HeldClock, path: str
) -> None:
    await site.sign_in("read")
    for suffix in ("", "/grid.css", "/export"):
        page = await site.http.get(path + suffix)
        assert page.status_code == 404
        assert "Not found" in page.text


async def test_without_a_session_the_pages_lead_to_sign_in(site: Site) -> None:
    board = await site.default_dashboard()
    for path in ("/ui/dashboards", f"/ui/dashboards/{board['id']}"):
        page = await site.http.get(path)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/ui/sign-in?next=")


# Export and import.


async def test_export_is_the_apis_document_as_a_download(site: Site, held_clock: HeldClock) -> None:
    board = await site.default_dashboard()
    await site.sign_in("read")
    page = await site.http.get(f"/ui/dashboards/{board['id']}/export")
    assert page.status_code == 200
    assert page.headers["content-disposition"] == 'attachment; filename="Overview.json"'
    assert page.json() == await site.api_get(f"/api/v1/dashboards/{board['id']}/export")


async def test_import_makes_a_dashboard_with_the_apis_audit_row(
    site: Site, held_clock: HeldClock
) -> None:
    board = await site.default_dashboard()
    exported = await site.api_get(f"/api/v1/dashboards/{board['id']}/export")
    exported["dashboard"]["name"] = "Copy"
    csrf = await site.sign_in("write")
    done = await site.http.post(
        "/ui/dashboards/import",
        data={"csrf_token": csrf},
        files={"file": ("copy.json", json.dumps(exported).encode(), "application/json")},
        headers={"Origin": SITE, "Accept": BROWSER_ACCEPT},
    )
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    new_id = int(re.fullmatch(r"/ui/dashboards/(\d+)\?saved=imported", location)[1])  # type: ignore[index]
    shown = await site.http.get(location)
    assert "The dashboard is imported." in shown.text
    assert await site.api_get(f"/api/v1/dashboards/{new_id}/export") == exported
    [row] = audit_rows(site.database_url, "dashboard", "import")
    assert row["resource_id"] == str(new_id)
    # Pasted JSON works as well as a file.
    exported["dashboard"]["name"] = "Pasted"
    pasted = await site.post("/ui/dashboards/import", {"document": json.dumps(exported)}, csrf)
    assert pasted.status_code == 303, pasted.text


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ("{not json", "(body)"),
        (
            '{"format": "other", "format_version": 1, "dashboard": {"name": "x"}, "widgets": []}',
            "format",
        ),
        (
            '{"format": "monitor.dashboard", "format_version": 1, "dashboard": {"name": "x"},'
            ' "widgets": [{"title": "t", "kind": "top", "query": {"type": "nope"}}]}',
            "widgets.0.query.type",
        ),
        ("", "document"),
    ],
)
async def test_a_bad_import_is_a_400_page_and_stores_nothing(
    site: Site, held_clock: HeldClock, document: str, field: str
) -> None:
    csrf = await site.sign_in("write")
    before = dashboard_count(site.database_url)
    refused = await site.post("/ui/dashboards/import", {"document": document}, csrf)
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith("text/html")
    assert f"<code>{field}</code>" in refused.text
    assert dashboard_count(site.database_url) == before
    assert audit_rows(site.database_url, "dashboard", "import") == []


# The widget form.


async def test_a_widget_saved_from_the_form_writes_the_apis_audit_row(
    site: Site, held_clock: HeldClock
) -> None:
    board = await site.default_dashboard()
    widget = board["widgets"][1]  # the ingest rate stat
    csrf = await site.sign_in("write")
    form = await site.http.get(f"/ui/dashboards/{board['id']}/widgets/{widget['id']}")
    assert form.status_code == 200
    assert 'value="kind=overview&amp;range=24h"' in form.text
    assert f'name="version" value="{widget["version"]}"' in form.text
    saved = await site.post(
        f"/ui/dashboards/{board['id']}/widgets/{widget['id']}",
        {
            "version": str(widget["version"]),
            "title": "Ingest now",
            "kind": "gauge",
            "query": "kind=overview&range=1h",
            "options": '{"field": "ingest.events_per_second"}',
            "x": "8",
            "y": "0",
            "w": "4",
            "h": "4",
        },
        csrf,
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/ui/dashboards/{board['id']}?saved=widget"
    now = await site.api_get(f"/api/v1/dashboard/widgets/{widget['id']}")
    assert (now["title"], now["kind"], now["query"], now["version"]) == (
        "Ingest now",
        "gauge",
        {"kind": "overview", "range": "1h"},
        widget["version"] + 1,
    )
    [by_page] = audit_rows(site.database_url, "widget", "update")
    assert by_page["before"]["title"] == "Ingest rate" and by_page["after"]["title"] == "Ingest now"
    assert by_page["after"] == {key: now[key] for key in by_page["after"]}
    # Added from the form: below the others, as the API places it.
    added = await site.post(
        f"/ui/dashboards/{board['id']}/widgets",
        {
            "title": "Errors",
            "kind": "events",
            "query": "level=error&level=critical",
            "options": "",
            "x": "",
            "y": "",
            "w": "12",
            "h": "2",
        },
        csrf,
    )
    assert added.status_code == 303, added.text
    after = await site.default_dashboard()
    new = after["widgets"][-1]
    assert (new["title"], new["query"], new["x"], new["y"], new["w"], new["h"]) == (
        "Errors",
        {"level": ["error", "critical"]},
        0,
        8,
        12,
        2,
    )
    assert len(audit_rows(site.database_url, "widget", "create")) == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"query": "kind=events&range=forever"}, "query.range"),
        ({"options": "{oops"}, "options"),
        ({"x": "11", "w": "4"}, "x"),
        ({"w": "wide"}, "w"),
        ({"kind": "pie"}, "kind"),
        ({"title": ""}, "title"),
        ({"title": "a\x00b"}, "title"),
        ({"query": "kind=events&" + "&".join(f"p{n}=1" for n in range(300))}, "query"),
    ],
)
async def test_a_bad_widget_form_is_a_400_page_and_changes_nothing(
    site: Site, held_clock: HeldClock, fields: dict[str, str], field: str
) -> None:
    board = await site.default_dashboard()
    widget = board["widgets"][0]
    csrf = await site.sign_in("write")
    data = {
        "version": str(widget["version"]),
        "title": "T",
        "kind": "timeseries",
        "query": "kind=events&range=1h",
        "options": "{}",
        "x": "0",
        "y": "0",
        "w": "8",
        "h": "4",
        **fields,
    }
    refused = await site.post(f"/ui/dashboards/{board['id']}/widgets/{widget['id']}", data, csrf)
    assert refused.status_code == 400, refused.text
    assert f"<code>{field}</code>" in refused.text
    # The form again, as it was typed, to correct.
    assert 'id="widget-query"' in refused.text
    assert f'value="{html.escape(data["query"])}"' in refused.text
    assert f'name="version" value="{widget["version"]}"' in refused.text
    assert await site.default_dashboard() == board
    assert audit_rows(site.database_url, "widget", "update") == []


async def test_a_preview_draws_the_widget_from_the_form_and_stores_nothing(
    site: Site, held_clock: HeldClock
) -> None:
    await sample_events(site, held_clock.now)
    board = await site.default_dashboard()
    widget = board["widgets"][0]
    csrf = await site.sign_in("write")
    data = {
        "version": str(widget["version"]),
        "title": "Sources now",
        "kind": "top",
        "query": "type=sources&range=1h",
        "options": "{}",
        "x": "0",
        "y": "0",
        "w": "8",
        "h": "4",
        "preview": "1",
    }
    for path in (
        f"/ui/dashboards/{board['id']}/widgets/{widget['id']}",
        f"/ui/dashboards/{board['id']}/widgets",
    ):
        shown = await site.post(path, data, csrf)
        assert shown.status_code == 200, shown.text
        assert "Preview (not saved)" in shown.text
        section = widget_section(shown.text, 0)
        assert '<th scope="row">shop</th>' in section and "Sources now" in section
        assert 'value="type=sources&amp;range=1h"' in shown.text  # the form as sent
    assert await site.default_dashboard() == board
    assert audit_rows(site.database_url, "widget", "update") == []
    assert audit_rows(site.database_url, "widget", "create") == []


async def test_a_widget_placed_over_another_is_a_409_form_and_changes_nothing(
    site: Site, held_clock: HeldClock
) -> None:
    board = await site.default_dashboard()
    csrf = await site.sign_in("write")
    data = {
        "title": "Over",
        "kind": "stat",
        "query": "kind=overview",
        "options": "{}",
        "x": "9",
        "y": "1",
        "w": "2",
        "h": "2",
    }
    refused = await site.post(f"/ui/dashboards/{board['id']}/widgets", data, csrf)
    assert refused.status_code == 409, refused.text
    assert "Not saved:" in refused.text and 'value="Over"' in refused.text
    assert await site.default_dashboard() == board


async def test_a_stale_widget_form_is_a_412_page_and_changes_nothing(
    site: Site, held_clock: HeldClock
) -> None:
    board = await site.default_dashboard()
    widget = board["widgets"][0]
    csrf = await site.sign_in("write")
    changed = await site.http.put(
        f"/api/v1/dashboard/widgets/{widget['id']}",
        json={k: widget[k] for k in ("title", "kind", "query", "options", "x", "y", "w", "h")}
        | {"title": "Theirs"},
        headers=site.api(),
    )
    assert changed.status_code == 200
    stale = await site.post(
        f"/ui/dashboards/{board['id']}/widgets/{widget['id']}",
        {
            "version": str(widget["version"]),
            "title": "Mine",
            "kind": "timeseries",
            "query": "kind=events&range=1h",
            "options": "{}",
            "x": "0",
            "y": "0",
            "w": "8",
            "h": "4",
        },
        csrf,
    )
    assert stale.status_code == 412
    assert "Someone else changed it" in stale.text
    assert (
        f'<a href="/ui/dashboards/{board["id"]}/widgets/{widget["id"]}">Reload the widget</a>'
        in stale.text
    )
    now = await site.api_get(f"/api/v1/dashboard/widgets/{widget['id']}")
    assert now["title"] == "Theirs" and now["version"] == widget["version"] + 1


# The layout form.


async def test_a_layout_change_persists_and_writes_its_audit_row(
    site: Site, held_clock: HeldClock
) -> None:
    board = await site.default_dashboard()
    csrf = await site.sign_in("write")
    form = await site.http.get(f"/ui/dashboards/{board['id']}/arrange")
    assert form.status_code == 200
    widgets = board["widgets"]
    # Swap the two lower widgets (overlapping one at a time, fine as a whole).
    places = {w["id"]: [w["x"], w["y"], w["w"], w["h"]] for w in widgets}
    low_left, low_right = widgets[2]["id"], widgets[3]["id"]
    places[low_left][0], places[low_right][0] = 6, 0
    data: dict[str, Any] = {
        "version": str(board["version"]),
        "id": [str(i) for i in places],
        "x": [str(p[0]) for p in places.values()],
        "y": [str(p[1]) for p in places.values()],
        "w": [str(p[2]) for p in places.values()],
        "h": [str(p[3]) for p in places.values()],
    }
    saved = await site.post(f"/ui/dashboards/{board['id']}/layout", data, csrf)
    assert saved.status_code == 303, saved.text
    after = await site.default_dashboard()
    assert {w["id"]: w["x"] for w in after["widgets"]}[low_left] == 6
    assert after["version"] == board["version"] + 1
    [row] = audit_rows(site.database_url, "dashboard", "layout")
    assert row["resource_id"] == str(board["id"])
    # A nudge button saves one step at once, and comes back to the form.
    data = {
        **data,
        "version": str(after["version"]),
        "x": [str(p[0]) for p in places.values()],
        "nudge": f"{widgets[1]['id']}:down",
    }
    nudged = await site.post(f"/ui/dashboards/{board['id']}/layout", data, csrf)
    assert nudged.status_code == 409, nudged.text  # down onto the widget below: refused
    assert "nothing was changed" in nudged.text
    data["nudge"] = f"{widgets[0]['id']}:narrower"
    nudged = await site.post(f"/ui/dashboards/{board['id']}/layout", data, csrf)
    assert nudged.status_code == 303
    assert nudged.headers["location"].endswith("/arrange?saved=layout")
    assert (await site.default_dashboard())["widgets"][0]["w"] == widgets[0]["w"] - 1


async def test_a_stale_layout_is_a_412_page_and_changes_nothing(
    site: Site, held_clock: HeldClock
) -> None:
    board = await site.default_dashboard()
    csrf = await site.sign_in("write")
    first = board["widgets"][0]
    data = {
        "version": str(board["version"] - 1 if board["version"] > 1 else 99),
        "id": str(first["id"]),
        "x": "0",
        "y": "20",
        "w": "8",
        "h": "4",
    }
    stale = await site.post(f"/ui/dashboards/{board['id']}/layout", data, csrf)
    assert stale.status_code == 412
    assert "Someone else changed it" in stale.text
    assert await site.default_dashboard() == board


# Roles, CSRF, outages.


async def test_a_read_key_sees_no_control_and_a_forged_post_is_refused(
    site: Site, held_clock: HeldClock
) -> None:
    board = await site.default_dashboard()
    widget = board["widgets"][0]
    csrf = await site.sign_in("read")
    listed = await site.http.get("/ui/dashboards")
    page = await site.http.get(f"/ui/dashboards/{board['id']}")
    for text in (listed.text, page.text):
        assert "Import" not in text and "/arrange" not in text
        assert "widgets/new" not in text and "widget-edit" not in text
    for path, data in (
        (
            f"/ui/dashboards/{board['id']}/layout",
            {
                "version": str(board["version"]),
                "id": str(widget["id"]),
                "x": "0",
                "y": "30",
                "w": "8",
                "h": "4",
            },
        ),
        (
            f"/ui/dashboards/{board['id']}/widgets/{widget['id']}",
            {
                "version": str(widget["version"]),
                "title": "x",
                "kind": "stat",
                "query": "kind=overview",
                "x": "0",
                "y": "0",
                "w": "8",
                "h": "4",
            },
        ),
        ("/ui/dashboards/import", {"document": "{}"}),
    ):
        refused = await site.post(path, data, csrf)
        assert refused.status_code == 403, refused.text
        assert "Not for this key" in refused.text
    for path in (
        f"/ui/dashboards/{board['id']}/arrange",
        f"/ui/dashboards/{board['id']}/widgets/new",
    ):
        assert (await site.http.get(path)).status_code == 403
    assert await site.default_dashboard() == board


@pytest.mark.parametrize(
    ("csrf", "origin"), [(None, SITE), ("wrong", SITE), ("session", FOREIGN), ("session", None)]
)
async def test_a_form_without_the_token_or_from_elsewhere_is_refused(
    site: Site, held_clock: HeldClock, csrf: str | None, origin: str | None
) -> None:
    board = await site.default_dashboard()
    widget = board["widgets"][0]
    token = await site.sign_in("write")
    data = {
        "version": str(board["version"]),
        "id": str(widget["id"]),
        "x": "0",
        "y": "30",
        "w": "8",
        "h": "4",
    }
    refused = await site.post(
        f"/ui/dashboards/{board['id']}/layout", data, token if csrf == "session" else csrf, origin
    )
    assert refused.status_code == 403
    assert await site.default_dashboard() == board


async def test_while_the_database_is_down_the_pages_say_503_and_nothing_changes(
    site: Site, held_clock: HeldClock
) -> None:
    board = await site.default_dashboard()
    widget = board["widgets"][0]
    csrf = await site.sign_in("write")
    held_clock.now += timedelta(minutes=2)  # a new tick: no shared answer to reuse
    set_connections_allowed(site.database_url, False)
    try:
        listed = await site.http.get("/ui/dashboards", headers={"Accept": BROWSER_ACCEPT})
        shown = await site.http.get(f"/ui/dashboards/{board['id']}")
        moved = await site.post(
            f"/ui/dashboards/{board['id']}/layout",
            {
                "version": str(board["version"]),
                "id": str(widget["id"]),
                "x": "0",
                "y": "30",
                "w": "8",
                "h": "4",
            },
            csrf,
        )
    finally:
        set_connections_allowed(site.database_url, True)
    for down in (listed, shown, moved):
        assert down.status_code == 503, down.text
        assert down.headers["content-type"].startswith("text/html")
        assert int(down.headers["retry-after"]) > 0
        assert "database cannot be reached" in down.text
    with trio.fail_after(10):
        while (await site.http.get("/ui/dashboards")).status_code == 503:
            await trio.sleep(0.2)  # the gateway probes the database about once a second
    assert await site.default_dashboard() == board


# The query field.

_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.", min_size=1, max_size=8)
_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)


@given(
    st.dictionaries(
        _names, st.one_of(_values, st.lists(_values, min_size=2, max_size=3)), max_size=5
    )
)
def test_a_query_shown_in_the_form_reads_back_as_the_same_query(query: dict[str, Any]) -> None:
    assert parsed_query(query_text(query)) == query
