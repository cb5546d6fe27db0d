"""The Error groups pages over HTTP: the list is the API's ranking, a status change is the
API's (same audit row), roles, CSRF, hostile input, unknown groups and outages.

The browser test (test_ui_error_groups_browser.py) changes a status as a user does.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
from monitor.web.ui.error_groups_page import return_to
from monitor.web.ui.sparkline import HEIGHT, PAD, WIDTH, coordinates, sparkline
from ui_site import BROWSER_ACCEPT, FOREIGN, SITE, UiSite, own_site

__all__ = ["held_clock"]  # a fixture


class Site(UiSite):
    csrf_page = "/ui/error-groups"

    async def post_events(self, events: list[dict[str, object]]) -> None:
        response = await self.http.post("/api/v1/events/bulk", json=events, headers=self.api())
        assert response.status_code == 201, response.text

    async def api_groups(self, **params: str) -> list[dict[str, Any]]:
        response = await self.http.get(
            "/api/v1/dashboard/top/errors", params={"limit": "50", **params}, headers=self.api()
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def group_id(self, message: str) -> int:
        listed = await self.http.get(
            "/api/v1/events/groups", params={"limit": "200"}, headers=self.api()
        )
        return next(int(g["id"]) for g in listed.json()["groups"] if g["message"] == message)

    async def status_post(
        self, group_id: int, data: dict[str, str], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.http.post(
            f"/ui/error-groups/{group_id}/status",
            data=data,
            headers={"Origin": SITE, "Accept": BROWSER_ACCEPT} if headers is None else headers,
        )


@pytest.fixture
async def site(start_service: StartService, tmp_path: Path) -> AsyncIterator[Site]:
    """A service on a database of its own, so the list holds only this test's groups."""
    async with own_site(start_service, tmp_path, "groups", Site) as running:
        yield running


def sample_events(now: datetime) -> list[dict[str, object]]:
    # Before the top list's 1-minute tick began, so its shared answer counts them.
    moment = (now - timedelta(minutes=2)).isoformat()
    shared = {"type": "order", "time": moment, "source": "shop"}
    return [
        *({**shared, "level": "error", "message": "card declined"} for _ in range(3)),
        *({**shared, "level": "error", "message": "stock <gone>", "trace_id": "t-1"},) * 2,
        {**shared, "level": "critical", "source": "billing", "message": "ledger off"},
        *({**shared, "level": "info", "message": f"paid {n}"} for n in range(4)),
    ]


def listed_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="group-(\d+)">', page)]


def group_row(database_url: str, group_id: int) -> tuple[Any, ...]:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "select status, count, last_seen from event_groups where id = %s", (group_id,)
        ).fetchone()
    assert row is not None
    return tuple(row)


def audit_rows(database_url: str, group_id: int) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            "select row_to_json(a)::text from audit_log a "
            "where resource = 'event_group' and resource_id = %s order by id",
            (str(group_id),),
        ).fetchall()
    return [json.loads(text) for (text,) in found]


# The list.


async def test_the_list_is_the_apis_ranking_with_trend_counts_and_times(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    await site.sign_in("read")
    for status in ("open", "all"):
        page = await site.http.get("/ui/error-groups", params={"status": status})
        assert page.status_code == 200
        api = await site.api_groups(**({} if status == "all" else {"status": status}))
        assert listed_ids(page.text) == [group["id"] for group in api]
        assert len(api) == 3
    default = await site.http.get("/ui/error-groups")
    assert listed_ids(default.text) == [g["id"] for g in await site.api_groups(status="open")]
    assert '<option value="open" selected>' in default.text
    assert '<option value="24h" selected>' in default.text
    text = default.text
    declined = await site.group_id("card declined")
    row = re.search(rf'<tr id="group-{declined}">.*?</tr>', text, re.S)
    assert row is not None
    cells = row[0]
    assert f'href="/ui/error-groups/{declined}"' in cells
    assert '<td class="number">3</td>' in cells
    assert '<svg class="spark"' in cells and 'aria-label="3 events, at most 3 per 1 h"' in cells
    assert re.search(r'<polyline points="[\d., ]+"/>', cells)
    assert re.search(r'<time datetime="[^"]+\+00:00">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>', cells)
    assert '<span class="source">shop</span>' in cells
    assert '<span class="kind">order · <span class="level level-error">error</span>' in cells
    # An event's text is text, never markup.
    assert "stock &lt;gone&gt;" in text and "<gone>" not in text
    assert "at most 50" in text
    # A read key sees no control to change a status.
    assert "status-form" not in text and 'name="status" id' not in text
    assert '<span class="group-status status-open">open</span>' in cells


async def test_a_group_without_a_message_still_has_a_link_and_heading_to_read(
    site: Site, held_clock: HeldClock
) -> None:
    moment = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    await site.post_events([{"type": "order", "time": moment, "level": "error", "message": ""}])
    await site.sign_in("read")
    page = await site.http.get("/ui/error-groups")
    (group_id,) = listed_ids(page.text)
    assert re.search(rf'<a href="/ui/error-groups/{group_id}[^"]*">\(no message\)</a>', page.text)
    one = await site.http.get(f"/ui/error-groups/{group_id}")
    assert re.search(r"<h1[^>]*>.*\(no message\)</h1>", one.text, re.S)


async def test_a_range_with_no_groups_says_so(site: Site, held_clock: HeldClock) -> None:
    await site.sign_in("read")
    page = await site.http.get("/ui/error-groups", params={"range": "15m", "status": "ignored"})
    assert page.status_code == 200
    assert "No ignored error groups had events in the last 15 min." in page.text
    assert '<option value="15m" selected>' in page.text


async def test_the_page_is_whole_or_a_fragment_without_inline_script(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    await site.sign_in("write")
    group_id = await site.group_id("card declined")
    for path, title in (
        ("/ui/error-groups", "Error groups"),
        (f"/ui/error-groups/{group_id}", f"Error group #{group_id}"),
    ):
        full = await site.http.get(path)
        assert full.status_code == 200
        assert full.text.lstrip().lower().startswith("<!doctype html>")
        assert full.headers["cache-control"] == "no-store"
        assert 'aria-current="page">Error groups</a>' in full.text
        fragment = await site.http.get(path, headers={"HX-Request": "true"})
        assert not fragment.text.lstrip().lower().startswith("<!doctype")
        assert f"<title>{title} · monitor</title>" in fragment.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", full.text)
        assert not re.search(r"\son[a-z]+=", full.text)
        assert not re.search(r"\sstyle=", full.text)


# One group.


async def test_one_group_shows_its_fields_trend_and_recent_events(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    await site.sign_in("read")
    group_id = await site.group_id("stock <gone>")
    page = await site.http.get(f"/ui/error-groups/{group_id}", params={"range": "6h"})
    assert page.status_code == 200
    text = page.text
    assert "stock &lt;gone&gt;" in text and "<gone>" not in text
    assert "<dt>Events, all time</dt><dd>2</dd>" in text
    assert "<dt>Source</dt><dd>shop</dd>" in text
    assert '<option value="6h" selected>' in text
    assert "2 events in the last 6 h" in text
    assert 'aria-label="2 events, at most 2 per 15 min"' in text
    events = (
        await site.http.get("/api/v1/events", params={"q": "stock"}, headers=site.api())
    ).json()["events"]
    assert len(events) == 2
    for event in events:
        assert f'href="/ui/events/{event["id"]}"' in text
    assert "<code>t-1</code>" in text
    assert "status-form" not in text  # read key


@pytest.mark.parametrize("group_id", ["999999", str(2**63), str(10**30)])
async def test_an_unknown_group_is_a_404_page(
    site: Site, held_clock: HeldClock, group_id: str
) -> None:
    csrf = await site.sign_in("write")
    shown = await site.http.get(f"/ui/error-groups/{group_id}")
    assert shown.status_code == 404
    assert shown.headers["content-type"].startswith("text/html")
    assert "No error group with id" in shown.text
    changed = await site.status_post(int(group_id), {"csrf_token": csrf, "status": "resolved"})
    assert changed.status_code == 404
    assert changed.headers["content-type"].startswith("text/html")


# Changing a status.


async def test_a_status_change_persists_writes_the_apis_audit_row_and_comes_back(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    csrf = await site.sign_in("write")
    declined = await site.group_id("card declined")
    changed = await site.status_post(
        declined,
        {"csrf_token": csrf, "status": "resolved", "return_to": "/ui/error-groups?range=6h"},
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == (
        f"/ui/error-groups?range=6h&changed={declined}#group-{declined}"
    )
    assert group_row(site.database_url, declined)[0] == "resolved"
    # The audit row is the one the API's PATCH writes: compare with a change made there.
    ledger = await site.group_id("ledger off")
    patched = await site.http.patch(
        f"/api/v1/events/groups/{ledger}", json={"status": "resolved"}, headers=site.api("write")
    )
    assert patched.status_code == 200
    [by_page] = audit_rows(site.database_url, declined)
    [by_api] = audit_rows(site.database_url, ledger)
    same = ("actor_kind", "actor_name", "actor_prefix", "action", "resource", "client_address")
    assert {k: by_page[k] for k in same} == {k: by_api[k] for k in same}
    assert by_page["actor_name"] == "groups write" and by_page["action"] == "update"
    assert (by_page["before"]["status"], by_page["after"]["status"]) == ("open", "resolved")
    assert set(by_page["after"]) == set(by_api["after"])
    # Back on the list: a notice, and the group has left the open ones at once.
    back = await site.http.get(changed.headers["location"])
    assert back.status_code == 200
    assert f"Group #{declined} is now resolved." in back.text
    assert declined not in listed_ids(back.text)
    resolved = await site.http.get("/ui/error-groups", params={"status": "resolved"})
    assert declined in listed_ids(resolved.text)
    assert '<option value="resolved" selected>resolved</option>' in resolved.text
    # The same status again changes nothing and writes no second row.
    again = await site.status_post(declined, {"csrf_token": csrf, "status": "resolved"})
    assert again.status_code == 303
    assert again.headers["location"] == f"/ui/error-groups?changed={declined}#group-{declined}"
    assert len(audit_rows(site.database_url, declined)) == 1


async def test_from_a_groups_page_the_form_comes_back_to_it(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    csrf = await site.sign_in("admin")
    group_id = await site.group_id("ledger off")
    page = await site.http.get(f"/ui/error-groups/{group_id}", params={"range": "1h"})
    assert f'action="/ui/error-groups/{group_id}/status"' in page.text
    assert f'name="return_to" value="/ui/error-groups/{group_id}?range=1h"' in page.text
    changed = await site.status_post(
        group_id,
        {
            "csrf_token": csrf,
            "status": "ignored",
            "return_to": f"/ui/error-groups/{group_id}?range=1h",
        },
    )
    assert changed.headers["location"] == f"/ui/error-groups/{group_id}?range=1h&changed={group_id}"
    shown = await site.http.get(changed.headers["location"])
    assert f"Group #{group_id} is now ignored." in shown.text
    assert '<span class="group-status status-ignored">ignored</span>' in shown.text


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.test/",
        "//evil.test/x",
        "/ui/keys",
        "/",
        "/ui/error-groupsX",
        "/ui/error-groups/../keys",
        "/ui/error-groups/1/status",
    ],
)
async def test_the_form_never_sends_the_browser_elsewhere(
    site: Site, held_clock: HeldClock, target: str
) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    csrf = await site.sign_in("write")
    group_id = await site.group_id("ledger off")
    changed = await site.status_post(
        group_id, {"csrf_token": csrf, "status": "ignored", "return_to": target}
    )
    assert changed.headers["location"] == f"/ui/error-groups?changed={group_id}#group-{group_id}"


async def test_htmx_gets_only_the_new_status(site: Site, held_clock: HeldClock) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    csrf = await site.sign_in("write")
    group_id = await site.group_id("card declined")
    swapped = await site.status_post(
        group_id,
        {"status": "ignored"},
        headers={"Origin": SITE, "HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert swapped.status_code == 200
    assert swapped.text.strip() == '<span class="group-status status-ignored">ignored</span>'
    assert group_row(site.database_url, group_id)[0] == "ignored"


@pytest.mark.parametrize(
    "fields",
    [{}, {"status": ""}, {"status": "closed"}, {"status": "OPEN"}, {"status": "x" * 5000}],
)
async def test_a_bad_status_is_a_400_page_and_changes_nothing(
    site: Site, held_clock: HeldClock, fields: dict[str, str]
) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    csrf = await site.sign_in("write")
    group_id = await site.group_id("card declined")
    before = group_row(site.database_url, group_id)
    refused = await site.status_post(group_id, {"csrf_token": csrf, **fields})
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("text/html")
    assert "must be open, resolved or ignored" in refused.text
    assert group_row(site.database_url, group_id) == before
    assert audit_rows(site.database_url, group_id) == []


@pytest.mark.parametrize(
    ("csrf", "origin"),
    [(None, SITE), ("wrong", SITE), ("session", FOREIGN), ("session", None)],
    ids=["no-token", "wrong-token", "foreign-origin", "no-origin"],
)
async def test_a_status_form_without_the_token_or_from_elsewhere_is_refused(
    site: Site, held_clock: HeldClock, csrf: str | None, origin: str | None
) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    token = await site.sign_in("write")
    group_id = await site.group_id("card declined")
    data = {"status": "resolved"}
    if csrf is not None:
        data["csrf_token"] = token if csrf == "session" else csrf
    headers = {"Accept": BROWSER_ACCEPT} | ({} if origin is None else {"Origin": origin})
    refused = await site.status_post(group_id, data, headers=headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert group_row(site.database_url, group_id)[0] == "open"
    assert audit_rows(site.database_url, group_id) == []


async def test_a_read_key_sees_no_control_and_a_forged_post_is_refused(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    csrf = await site.sign_in("read")
    group_id = await site.group_id("card declined")
    for path in ("/ui/error-groups", f"/ui/error-groups/{group_id}"):
        page = await site.http.get(path)
        assert page.status_code == 200
        assert "/status" not in page.text and '<select id="set-status' not in page.text
    forged = await site.status_post(group_id, {"csrf_token": csrf, "status": "ignored"})
    assert forged.status_code == 403
    assert forged.headers["content-type"].startswith("text/html")
    assert "write role" in forged.text
    assert group_row(site.database_url, group_id)[0] == "open"
    assert audit_rows(site.database_url, group_id) == []


# Hostile queries.


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "closed"}, "status"),
        ({"status": "<script>"}, "status"),
        ([("status", "open"), ("status", "ignored")], "status"),
        ({"range": "abc"}, "range"),
        ({"range": "401d"}, "range"),
        ({"range": "<script>"}, "range"),
        ({"from": "2026-01-01T00:00:00Z"}, "to"),
        ({"limit": "5"}, "limit"),
        ({"sort": "count"}, "sort"),
    ],
)
async def test_a_bad_list_query_is_a_400_page_naming_the_parameter(
    site: Site, held_clock: HeldClock, query: Any, field: str
) -> None:
    await site.sign_in("read")
    page = await site.http.get("/ui/error-groups", params=query)
    assert page.status_code == 400, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert f"<code>{field}</code>" in page.text
    assert "<script>" not in page.text


@pytest.mark.parametrize(
    ("query", "field"), [({"range": "abc"}, "range"), ({"status": "open"}, "status")]
)
async def test_a_bad_group_query_is_a_400_page(
    site: Site, held_clock: HeldClock, query: dict[str, str], field: str
) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    await site.sign_in("read")
    group_id = await site.group_id("card declined")
    page = await site.http.get(f"/ui/error-groups/{group_id}", params=query)
    assert page.status_code == 400
    assert f"<code>{field}</code>" in page.text


async def test_without_a_session_the_pages_lead_to_sign_in(site: Site) -> None:
    listed = await site.http.get("/ui/error-groups?status=all")
    assert listed.status_code == 303
    assert listed.headers["location"] == "/ui/sign-in?next=%2Fui%2Ferror-groups%3Fstatus%3Dall"
    posted = await site.http.post(
        "/ui/error-groups/1/status", data={"status": "ignored"}, headers={"Origin": SITE}
    )
    assert posted.status_code == 303


# An outage.


async def test_while_the_database_is_down_the_pages_say_503_and_nothing_changes(
    site: Site, held_clock: HeldClock
) -> None:
    await site.post_events(sample_events(datetime.now(UTC)))
    csrf = await site.sign_in("write")
    group_id = await site.group_id("card declined")
    held_clock.now += timedelta(minutes=2)  # a new tick: no shared answer to reuse
    set_connections_allowed(site.database_url, False)
    try:
        listed = await site.http.get("/ui/error-groups", headers={"Accept": BROWSER_ACCEPT})
        shown = await site.http.get(
            f"/ui/error-groups/{group_id}", headers={"Accept": BROWSER_ACCEPT}
        )
        changed = await site.status_post(group_id, {"csrf_token": csrf, "status": "ignored"})
    finally:
        set_connections_allowed(site.database_url, True)
    for down in (listed, shown, changed):
        assert down.status_code == 503, down.text
        assert down.headers["content-type"].startswith("text/html")
        assert int(down.headers["retry-after"]) > 0
        assert "database cannot be reached" in down.text
    assert group_row(site.database_url, group_id)[0] == "open"
    with trio.fail_after(10):
        while (back := await site.http.get("/ui/error-groups")).status_code == 503:
            await trio.sleep(0.2)  # the gateway probes the database about once a second
    assert group_id in listed_ids(back.text)


# The parts: where a form returns, how a trend is drawn.


@given(st.text(max_size=60), st.integers(min_value=1, max_value=2**63 - 1))
def test_a_form_returns_only_to_an_error_groups_page(raw: str, group_id: int) -> None:
    location = return_to(raw, group_id)
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc
    assert parts.path == "/ui/error-groups" or parts.path.startswith("/ui/error-groups/")
    assert parts.query.endswith(f"changed={group_id}")
    assert parts.fragment in ("", f"group-{group_id}")
    assert ".." not in parts.path
    assert parts.query.count("changed=") == 1


def test_a_form_keeps_the_pages_parameters() -> None:
    assert return_to("/ui/error-groups?status=all&changed=3", 9) == (
        "/ui/error-groups?status=all&changed=9#group-9"
    )
    assert return_to("/ui/error-groups/4?range=1h", 4) == "/ui/error-groups/4?range=1h&changed=4"


@given(st.lists(st.integers(min_value=0, max_value=10**12), max_size=60))
def test_a_trend_fits_its_box_left_to_right_with_its_peak_on_top(counts: list[int]) -> None:
    points = coordinates(counts)
    assert len(points) == len(counts)
    assert all(PAD <= x <= WIDTH - PAD and PAD <= y <= HEIGHT - PAD for x, y in points)
    assert [x for x, _ in points] == sorted(x for x, _ in points)
    for (_, y), count in zip(points, counts, strict=True):
        if count == 0:
            assert y == HEIGHT - PAD
        if count == max(counts):
            assert y == (PAD if count else HEIGHT - PAD)
    drawn = sparkline(counts)
    assert (drawn.peak, drawn.total) == (max(counts, default=0), sum(counts))
    assert len(drawn.points.split()) == len(counts)
