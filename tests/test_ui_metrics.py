"""The Metrics explorer over HTTP: its data is the dashboard API's answer for the same
query, a bad query is a 400 page naming the fields, "add to dashboard" is the widget
API's create (same audit row), roles, CSRF and outages.

The browser test (test_ui_metrics_browser.py) draws the chart.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from conftest import (
    StartService,
    set_connections_allowed,
)
from dashboard_helpers import HeldClock, held_clock
from monitor.web.ui.metric_form import api_args, matcher_pair, widget_query
from ui_site import BROWSER_ACCEPT, SITE, UiSite, own_site

__all__ = ["held_clock"]  # a fixture

GROUPED = {"name": "cpu", "aggregation": "max", "group_by": "host", "range": "1h"}


class Site(UiSite):
    csrf_page = "/ui/metrics"

    async def post_samples(self, samples: list[dict[str, object]]) -> None:
        response = await self.http.post("/api/v1/metrics/bulk", json=samples, headers=self.api())
        assert response.status_code == 201, response.text

    async def add(self, data: dict[str, str]) -> httpx.Response:
        return await self.http.post(
            "/ui/metrics/add-to-dashboard",
            data=data,
            headers={"Origin": SITE, "Accept": BROWSER_ACCEPT},
        )


@pytest.fixture
async def site(start_service: StartService, tmp_path: Path) -> AsyncIterator[Site]:
    """A service on a database of its own, so its metrics, widgets and audit rows are
    only this test's."""
    async with own_site(start_service, tmp_path, "metrics", Site) as running:
        yield running


def cpu_samples(now: datetime) -> list[dict[str, object]]:
    """Two hosts in eu, one in us, over the last half hour (before the held tick's end)."""
    samples: list[dict[str, object]] = []
    for minutes in range(2, 32, 5):
        moment = (now - timedelta(minutes=minutes)).isoformat()
        for host, region, value in (("a", "eu", 10.0), ("b", "eu", 20.5), ("c", "us", 99.0)):
            samples.append(
                {
                    "name": "cpu",
                    "value": value + minutes,
                    "time": moment,
                    "labels": {"host": host, "region": region},
                }
            )
    return samples


def embedded(page: str, block: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{block}">(.*?)</script>', page, re.S)
    assert found, page[:1000]
    return json.loads(found[1])


def widget_rows(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            "select row_to_json(t)::text from widgets t order by id"
        ).fetchall()
    return [json.loads(text) for (text,) in found]


def widget_audit(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            "select row_to_json(a)::text from audit_log a where resource = 'widget' order by id"
        ).fetchall()
    return [json.loads(text) for (text,) in found]


# The chart's data.


async def test_the_chart_data_is_the_apis_answer_for_the_same_query(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_samples(cpu_samples(held_clock.now))
    await site.sign_in("read")
    page = await site.http.get("/ui/metrics", params={**GROUPED, "label": "region=eu"})
    assert page.status_code == 200, page.text
    api = await site.http.get(
        "/api/v1/dashboard/timeseries",
        params={"kind": "metric", **GROUPED, "label.region": "eu"},
        headers=site.api("read"),
    )
    assert api.status_code == 200
    assert embedded(page.text, "metric-answer") == api.json()
    chart = embedded(page.text, "metric-chart-data")
    assert chart["times"] == api.json()["buckets"]
    assert [s["label"] for s in chart["series"]] == ["host=a", "host=b"]
    assert [s["values"] for s in chart["series"]] == [
        s["values"] for s in api.json()["queries"][0]["series"]
    ]
    # The table, the page without JavaScript: a column per series, a row per bucket.
    headers = re.findall(r'<th scope="col" class="number">([^<]*)</th>', page.text)
    assert headers == ["host=a", "host=b"]
    rows = re.findall(r"<tr><td><time datetime=", page.text)
    assert len(rows) == len(api.json()["buckets"])
    assert '<td class="number">42.5</td>' in page.text  # host b, 22 minutes ago (20.5 + 22)
    assert "2 series" in page.text
    # The query stays in the form, and suggestions come from the stored series.
    assert 'value="region=eu"' in page.text and '<option value="max" selected>' in page.text
    assert '<option value="1h" selected>' in page.text
    for suggested in ("cpu", "host", "region", "region=eu", "region=us", "host=c"):
        assert f'<option value="{suggested}">' in page.text


async def test_a_query_without_series_and_a_first_visit_say_so(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_samples(cpu_samples(held_clock.now))
    await site.sign_in("read")
    first = await site.http.get("/ui/metrics")
    assert first.status_code == 200
    assert "Pick a metric (1 stored)" in first.text and "metric-answer" not in first.text
    none = await site.http.get("/ui/metrics", params={"name": "cpu", "label": "host=zz"})
    assert none.status_code == 200
    assert "No series of <code>cpu</code> match this query." in none.text
    assert "<table" not in none.text


async def test_htmx_gets_the_main_part_only(site: Site, held_clock: HeldClock) -> None:
    await site.post_samples(cpu_samples(held_clock.now))
    await site.sign_in("read")
    part = await site.http.get("/ui/metrics", params=GROUPED, headers={"HX-Request": "true"})
    assert part.status_code == 200
    assert "<html" not in part.text and 'id="metric-answer"' in part.text


# Bad queries.


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"name": "1cpu"}, "name"),
        ({"name": "<script>"}, "name"),
        ({"name": "cpu", "aggregation": "median"}, "aggregation"),
        ({"name": "cpu", "interval": "abc"}, "interval"),
        ({"name": "cpu", "interval": "1s", "range": "7d"}, "interval"),
        ({"name": "cpu", "range": "abc"}, "range"),
        ({"name": "cpu", "group_by": "a b"}, "group_by"),
        ({"name": "cpu", "label": "novalue"}, "label"),
        ({"name": "cpu", "label": "bad-label=1"}, "label.bad-label"),
        ({"name": "cpu", "sort": "1"}, "sort"),
        ([("name", "cpu"), ("name", "mem")], "name"),
        ({"group_by": "host"}, "name"),
    ],
)
async def test_a_bad_query_is_a_400_page_naming_the_field(
    site: Site, held_clock: HeldClock, query: Any, field: str
) -> None:
    await site.sign_in("read")
    page = await site.http.get("/ui/metrics", params=query)
    assert page.status_code == 400, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert f"<code>{html.escape(field)}</code>" in page.text
    assert "<script>" not in page.text
    assert 'id="metric-answer"' not in page.text
    assert '<form class="filters metric-query"' in page.text  # to correct it


# Add to dashboard.


async def test_add_to_dashboard_creates_the_widget_with_the_apis_audit_row(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_samples(cpu_samples(held_clock.now))
    csrf = await site.sign_in("write")
    page = await site.http.get("/ui/metrics", params={**GROUPED, "label": "region!=us"})
    assert 'action="/ui/metrics/add-to-dashboard"' in page.text
    default = re.search(r'<option value="(\d+)" selected>([^<]*) \(default\)</option>', page.text)
    assert default, page.text
    before = len(widget_rows(site.database_url))
    added = await site.add(
        {
            "csrf_token": csrf,
            "dashboard_id": default[1],
            "title": "CPU by host",
            **GROUPED,
            "label": "region!=us",
        }
    )
    assert added.status_code == 303, added.text
    location = urlsplit(added.headers["location"])
    assert (location.path, location.query) == (f"/ui/dashboards/{default[1]}", "saved=widget")
    widget_id = int(location.fragment.removeprefix("widget-"))
    widget = (
        await site.http.get(f"/api/v1/dashboard/widgets/{widget_id}", headers=site.api())
    ).json()
    assert widget["dashboard_id"] == int(default[1]) and widget["kind"] == "timeseries"
    assert widget["title"] == "CPU by host"
    assert widget["query"] == {"kind": "metric", **GROUPED, "label.region!": "us"}
    assert len(widget_rows(site.database_url)) == before + 1
    (row,) = widget_audit(site.database_url)[-1:]
    assert (row["action"], row["resource_id"]) == ("create", str(widget_id))
    assert (row["actor_kind"], row["actor_name"]) == ("key", "metrics write")
    assert row["after"]["query"] == widget["query"]
    # The saved query draws what the page drew.
    drawn = await site.http.get(
        "/api/v1/dashboard/timeseries", params=widget["query"], headers=site.api()
    )
    assert drawn.json() == embedded(page.text, "metric-answer")


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"dashboard_id": "abc"}, 400),
        ({"dashboard_id": "999999"}, 404),
        ({"title": ""}, 400),
        ({"title": "x" * 201}, 400),
        ({"name": "1cpu"}, 400),
        ({"aggregation": "median"}, 400),
        ({"label": "novalue"}, 400),
        ({"interval": "1s", "range": "7d"}, 400),
        ({"csrf_token": "forged"}, 403),
    ],
)
async def test_a_bad_add_is_refused_as_a_page_and_nothing_is_stored(
    site: Site, held_clock: HeldClock, change: dict[str, str], status: int
) -> None:
    csrf = await site.sign_in("write")
    dashboards = await site.http.get("/api/v1/dashboards", headers=site.api())
    default_id = str(dashboards.json()["dashboards"][0]["id"])
    before = (widget_rows(site.database_url), widget_audit(site.database_url))
    data = {"csrf_token": csrf, "dashboard_id": default_id, "title": "t", **GROUPED, **change}
    refused = await site.add(data)
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"].startswith("text/html")
    assert (widget_rows(site.database_url), widget_audit(site.database_url)) == before


async def test_a_read_key_sees_no_add_form_and_a_forged_post_is_refused(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_samples(cpu_samples(held_clock.now))
    csrf = await site.sign_in("read")
    page = await site.http.get("/ui/metrics", params=GROUPED)
    assert page.status_code == 200
    assert "add-to-dashboard" not in page.text and "Add to a dashboard" not in page.text
    before = widget_rows(site.database_url)
    forged = await site.add({"csrf_token": csrf, "dashboard_id": "1", "title": "t", **GROUPED})
    assert forged.status_code == 403
    assert forged.headers["content-type"].startswith("text/html")
    assert "write role" in forged.text
    assert widget_rows(site.database_url) == before


async def test_without_a_session_the_page_leads_to_sign_in(site: Site) -> None:
    shown = await site.http.get("/ui/metrics?name=cpu")
    assert shown.status_code == 303
    assert shown.headers["location"] == "/ui/sign-in?next=%2Fui%2Fmetrics%3Fname%3Dcpu"


# An outage.


async def test_while_the_database_is_down_the_page_says_503_and_nothing_is_added(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_samples(cpu_samples(held_clock.now))
    csrf = await site.sign_in("write")
    before = widget_rows(site.database_url)
    held_clock.now += timedelta(minutes=2)  # a new tick: no shared answer to reuse
    set_connections_allowed(site.database_url, False)
    try:
        shown = await site.http.get(
            "/ui/metrics", params=GROUPED, headers={"Accept": BROWSER_ACCEPT}
        )
        added = await site.add({"csrf_token": csrf, "dashboard_id": "1", "title": "t", **GROUPED})
    finally:
        set_connections_allowed(site.database_url, True)
    for down in (shown, added):
        assert down.status_code == 503, down.text
        assert down.headers["content-type"].startswith("text/html")
        assert int(down.headers["retry-after"]) > 0
        assert "database cannot be reached" in down.text
    assert widget_rows(site.database_url) == before


# The form's parts.

LABEL_NAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
VALUES = st.text(max_size=30).map(str.strip)


@given(LABEL_NAMES, VALUES, st.booleans())
def test_a_matcher_field_is_the_apis_label_parameter(label: str, value: str, equal: bool) -> None:
    raw = f"{label}{'=' if equal else '!='}{value}"
    assert matcher_pair(raw) == (f"label.{label}{'' if equal else '!'}", value)
    args, errors = api_args(MultiDict([("name", "m"), ("label", raw)]))
    assert errors == []
    assert widget_query(args) == {
        "kind": "metric",
        "name": "m",
        f"label.{label}{'' if equal else '!'}": value,
    }


@given(st.text(max_size=40))
def test_any_matcher_text_is_a_pair_or_a_named_error(raw: str) -> None:
    args, errors = api_args(MultiDict([("label", raw)]))
    if not raw.strip():
        assert errors == [] and list(args) == ["kind"]
    elif matcher_pair(raw.strip()) is None:
        assert [error["field"] for error in errors] == ["label"]
    else:
        assert errors == [] and any(key.startswith("label.") for key in args)
