"""The Alerts pages over HTTP: open and recently resolved instances as the API lists them,
acknowledge and resolve through the API's own steps (same refusals, same audit rows),
the rules list and one rule's page, roles, CSRF, hostile input and unknown ids.

Rules are saved disabled, so no evaluator in the service touches the instances the
tests write (tests/alert_helpers.py). The browser test is test_ui_alerts_browser.py.
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

from alert_helpers import add_instance
from conftest import StartService, set_connections_allowed
from monitor.web.ui.alerts_page import return_to
from ui_site import BROWSER_ACCEPT, FOREIGN, SITE, UiSite, own_site

RULE: dict[str, Any] = {
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


class Site(UiSite):
    csrf_page = "/ui/alerts"

    async def rule(self, name: str, **fields: Any) -> int:
        response = await self.http.post(
            "/api/v1/alerts", json={**RULE, "name": name, **fields}, headers=self.api()
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def post(
        self, path: str, data: dict[str, str], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.http.post(
            path,
            data=data,
            headers={"Origin": SITE, "Accept": BROWSER_ACCEPT} if headers is None else headers,
        )


@pytest.fixture
async def site(start_service: StartService, tmp_path: Path) -> AsyncIterator[Site]:
    """A service on a database of its own, so the lists hold only this test's instances."""
    async with own_site(start_service, tmp_path, "alerts", Site) as running:
        yield running


def listed(page: str, section: str) -> list[int]:
    """The instance ids in a section of the page ('open' or 'resolved'), in order."""
    found = re.search(rf'<section aria-labelledby="{section}-heading">(.*?)</section>', page, re.S)
    assert found, page[:2000]
    return [int(number) for number in re.findall(r'<tr id="instance-(\d+)">', found[1])]


def instance_row(database_url: str, instance_id: int) -> dict[str, Any]:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "select row_to_json(i)::text from alert_instances i where id = %s", (instance_id,)
        ).fetchone()
    assert row is not None
    found: dict[str, Any] = json.loads(row[0])
    return found


def audit_rows(database_url: str, instance_id: int) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            "select row_to_json(a)::text from audit_log a "
            "where resource = 'alert_instance' and resource_id = %s order by id",
            (str(instance_id),),
        ).fetchall()
    return [json.loads(text) for (text,) in found]


def assert_no_inline_script_or_style(text: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)", text)
    assert not re.search(r"\son[a-z]+=", text)
    assert not re.search(r"\sstyle=", text)


# The Alerts page.


async def test_open_and_recently_resolved_instances_are_listed_with_their_fields(
    site: Site,
) -> None:
    latency = await site.rule("api latency <high>")
    disk = await site.rule("disk full", severity="critical")
    now = datetime.now(UTC)
    firing = add_instance(
        site.database_url, latency, host="web-1", opened_at=now - timedelta(hours=1)
    )
    pending = add_instance(site.database_url, latency, state="pending", host="web-2")
    no_data = add_instance(site.database_url, disk, state="no_data", severity="critical")
    resolved = add_instance(
        site.database_url, disk, state="resolved", host="b", closed=True, severity="critical"
    )
    add_instance(  # resolved two days ago: not "recent"
        site.database_url,
        disk,
        state="resolved",
        host="c",
        closed=True,
        opened_at=now - timedelta(days=2),
    )
    await site.sign_in("read")
    page = await site.http.get("/ui/alerts")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert 'aria-current="page">Alerts</a>' in page.text
    assert 'class="not-built"' not in page.text.split("Alerts</a>")[0].rsplit("<li>", 1)[-1]
    assert listed(page.text, "open") == [no_data, pending, firing]  # newest opened first
    assert listed(page.text, "resolved") == [resolved]
    row = re.search(rf'<tr id="instance-{firing}">.*?</tr>', page.text, re.S)
    assert row is not None
    cells = row[0]
    assert '<span class="alert-state state-firing">firing</span>' in cells
    assert f'<a href="/ui/alerts/rules/{latency}">api latency &lt;high&gt;</a>' in cells
    assert "<code>host=web-1</code>" in cells and "<code>severity=warning</code>" in cells
    assert '<td class="number">0.7</td>' in cells
    assert re.search(r'<time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>', cells)
    assert "p95 0.7 s on web-1" in cells  # the summary annotation
    # A read key is shown no action.
    assert "/acknowledge" not in page.text and "/resolve" not in page.text
    assert_no_inline_script_or_style(page.text)
    fragment = await site.http.get("/ui/alerts", headers={"HX-Request": "true"})
    assert not fragment.text.lstrip().lower().startswith("<!doctype")
    assert "<title>Alerts · monitor</title>" in fragment.text


async def test_filters_in_the_url_narrow_both_lists(site: Site) -> None:
    latency = await site.rule("latency")
    disk = await site.rule("disk", severity="critical")
    firing = add_instance(site.database_url, latency, host="a")
    pending = add_instance(site.database_url, latency, state="pending", host="b")
    critical = add_instance(site.database_url, disk, host="c", severity="critical")
    await site.sign_in("read")
    by_state = await site.http.get("/ui/alerts", params={"state": "pending"})
    assert listed(by_state.text, "open") == [pending]
    assert '<option value="pending" selected>pending</option>' in by_state.text
    by_severity = await site.http.get("/ui/alerts", params={"severity": "critical"})
    assert listed(by_severity.text, "open") == [critical]
    by_rule = await site.http.get("/ui/alerts", params={"rule_id": str(latency)})
    assert listed(by_rule.text, "open") == [pending, firing]
    assert f'<option value="{latency}" selected>latency</option>' in by_rule.text
    none = await site.http.get("/ui/alerts", params={"state": "error"})
    assert listed(none.text, "open") == []
    assert "No open instances match these filters." in none.text


async def test_the_open_list_is_paged_with_the_reads_cursor(site: Site) -> None:
    rule_id = await site.rule("many")
    now = datetime.now(UTC)
    ids = [
        add_instance(
            site.database_url, rule_id, host=f"h{n:02d}", opened_at=now - timedelta(minutes=n)
        )
        for n in range(55)
    ]
    await site.sign_in("read")
    first = await site.http.get("/ui/alerts", params={"state": "firing"})
    assert listed(first.text, "open") == ids[:50]
    found = re.search(
        r'<a href="(/ui/alerts\?[^"]*cursor=[^"]+)">Older open instances</a>', first.text
    )
    assert found, first.text
    second = await site.http.get(found[1].replace("&amp;", "&"))
    assert second.status_code == 200
    assert listed(second.text, "open") == ids[50:]
    assert "state=firing" in found[1]  # the filter is kept
    assert "Older open instances" not in second.text
    assert "Back to the newest" in second.text


@pytest.mark.parametrize(
    "params",
    [
        {"state": "resolved"},
        {"state": "burning"},
        {"state": ["firing", "pending"]},
        {"severity": "loud"},
        {"rule_id": "x"},
        {"rule_id": "0"},
        {"rule_id": str(2**63)},
        {"cursor": "garbage"},
        {"resolved_cursor": "AAAA"},
        {"page": "2"},
    ],
)
async def test_bad_filters_are_a_400_page_naming_them(
    site: Site, params: dict[str, str | list[str]]
) -> None:
    await site.sign_in("read")
    refused = await site.http.get("/ui/alerts", params=params)
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("text/html")
    assert "The query is invalid" in refused.text
    assert f"<code>{next(iter(params))}</code>" in refused.text


async def test_without_a_session_every_page_sends_the_browser_to_sign_in(site: Site) -> None:
    for path in (
        "/ui/alerts?state=firing",
        "/ui/alerts/rules",
        "/ui/alerts/rules/1",
        "/ui/alerts/instances/1/acknowledge",
        "/ui/alerts/instances/1/resolve",
    ):
        answer = await site.http.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/ui/sign-in?next=%2Fui%2Falerts"), path
    for action in ("acknowledge", "resolve"):
        posted = await site.post(f"/ui/alerts/instances/1/{action}", {"comment": "x"})
        assert posted.status_code == 303
        assert posted.headers["location"].startswith("/ui/sign-in")


# Acknowledging.


async def test_acknowledging_stores_it_writes_the_apis_audit_row_and_comes_back(
    site: Site,
) -> None:
    rule_id = await site.rule("latency")
    by_page = add_instance(site.database_url, rule_id, host="a")
    by_api = add_instance(site.database_url, rule_id, host="b")
    csrf = await site.sign_in("write")
    listing = await site.http.get("/ui/alerts", params={"severity": "warning"})
    found = re.search(rf'href="(/ui/alerts/instances/{by_page}/acknowledge[^"]+)"', listing.text)
    assert found is not None
    form = await site.http.get(found[1].replace("&amp;", "&"))
    assert form.status_code == 200
    assert 'name="return_to" value="/ui/alerts?severity=warning"' in form.text
    assert 'name="comment"' in form.text and 'type="datetime-local"' in form.text
    assert_no_inline_script_or_style(form.text)
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    done = await site.post(
        f"/ui/alerts/instances/{by_page}/acknowledge",
        {
            "csrf_token": csrf,
            "comment": "on it <b>now</b>",
            "until": until.strftime("%Y-%m-%dT%H:%M"),
            "return_to": "/ui/alerts?severity=warning",
        },
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/ui/alerts?severity=warning&acknowledged={by_page}"
    stored = instance_row(site.database_url, by_page)
    assert stored["acknowledged_by"] == "alerts write"
    assert stored["acknowledged_note"] == "on it <b>now</b>"
    assert datetime.fromisoformat(stored["acknowledged_until"]) == until
    assert stored["state"] == "firing"
    api = await site.http.post(
        f"/api/v1/alerts/instances/{by_api}/acknowledge",
        json={"comment": "on it <b>now</b>", "until": until.isoformat()},
        headers=site.api("write"),
    )
    assert api.status_code == 200, api.text
    [page_row] = audit_rows(site.database_url, by_page)
    [api_row] = audit_rows(site.database_url, by_api)
    same = ("actor_kind", "actor_name", "actor_prefix", "action", "resource", "before", "after")
    assert {k: page_row[k] for k in same} == {k: api_row[k] for k in same}
    assert page_row["action"] == "acknowledge"
    back = await site.http.get(done.headers["location"])
    assert f"Instance #{by_page} of “latency” is acknowledged by alerts write." in back.text
    row = re.search(rf'<tr id="instance-{by_page}">.*?</tr>', back.text, re.S)
    assert row is not None
    assert '<span class="acked">acknowledged</span>' in row[0]
    assert "on it &lt;b&gt;now&lt;/b&gt;" in row[0] and "<b>now" not in row[0]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, "Comment is required"),
        ({"comment": ""}, "Comment is required"),
        ({"comment": "   "}, "Comment is required"),
        ({"comment": "x" * 2001}, "Comment is required"),
        ({"comment": "a\x00b"}, "Comment is required"),
        ({"comment": "ok", "until": "tomorrow"}, "Until must be a date and time (UTC)"),
        ({"comment": "ok", "until": "2020-01-01T10:00"}, "Until must be in the future"),
    ],
)
async def test_a_bad_acknowledgement_shows_the_form_again_with_the_reason_and_stores_nothing(
    site: Site, fields: dict[str, str], reason: str
) -> None:
    rule_id = await site.rule("latency")
    instance_id = add_instance(site.database_url, rule_id)
    csrf = await site.sign_in("write")
    before = instance_row(site.database_url, instance_id)
    refused = await site.post(
        f"/ui/alerts/instances/{instance_id}/acknowledge",
        {"csrf_token": csrf, "return_to": "/ui/alerts?state=firing", **fields},
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("text/html")
    assert "Nothing was acknowledged" in refused.text
    assert reason in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert 'name="return_to" value="/ui/alerts?state=firing"' in refused.text
    assert instance_row(site.database_url, instance_id) == before
    assert audit_rows(site.database_url, instance_id) == []


async def test_acknowledging_a_pending_or_closed_instance_is_the_apis_409(site: Site) -> None:
    rule_id = await site.rule("latency")
    pending = add_instance(site.database_url, rule_id, state="pending", host="a")
    closed = add_instance(site.database_url, rule_id, state="resolved", host="b", closed=True)
    csrf = await site.sign_in("write")
    for instance_id in (pending, closed):
        shown = await site.http.get(f"/ui/alerts/instances/{instance_id}/acknowledge")
        assert "cannot be acknowledged" in shown.text and 'name="comment"' not in shown.text
        refused = await site.post(
            f"/ui/alerts/instances/{instance_id}/acknowledge", {"csrf_token": csrf, "comment": "x"}
        )
        assert refused.status_code == 409
        assert "nothing was changed" in refused.text
        api = await site.http.post(
            f"/api/v1/alerts/instances/{instance_id}/acknowledge",
            json={"comment": "x"},
            headers=site.api("write"),
        )
        assert api.status_code == 409
        assert api.json()["detail"][1:] in refused.text  # the same reason
        assert audit_rows(site.database_url, instance_id) == []


# Resolving.


async def test_resolving_asks_first_then_closes_it_with_the_apis_audit_row(site: Site) -> None:
    rule_id = await site.rule("latency")
    by_page = add_instance(site.database_url, rule_id, host="a")
    by_api = add_instance(site.database_url, rule_id, host="b")
    csrf = await site.sign_in("write")
    confirm = await site.http.get(
        f"/ui/alerts/instances/{by_page}/resolve", params={"return_to": "/ui/alerts?state=firing"}
    )
    assert confirm.status_code == 200
    assert "Resolve instance" in confirm.text and "Resolve the instance</button>" in confirm.text
    assert f'href="/ui/notifications?instance_id={by_page}">Deliveries' in confirm.text
    assert instance_row(site.database_url, by_page)["state"] == "firing"  # asking changes nothing
    done = await site.post(
        f"/ui/alerts/instances/{by_page}/resolve",
        {"csrf_token": csrf, "return_to": "/ui/alerts?state=firing"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/ui/alerts?state=firing&resolved={by_page}"
    assert instance_row(site.database_url, by_page)["state"] == "resolved"
    api = await site.http.post(
        f"/api/v1/alerts/instances/{by_api}/resolve", headers=site.api("write")
    )
    assert api.status_code == 200
    [page_row] = audit_rows(site.database_url, by_page)
    [api_row] = audit_rows(site.database_url, by_api)
    same = ("actor_kind", "actor_name", "actor_prefix", "action", "resource", "before", "after")
    assert {k: page_row[k] for k in same} == {k: api_row[k] for k in same}
    back = await site.http.get(done.headers["location"])
    assert f"Instance #{by_page} of “latency” is resolved." in back.text
    assert by_page not in listed(back.text, "open")
    assert by_page in listed(back.text, "resolved")
    # Resolving it again: the API's 409 reason, as a page, and no second row.
    again = await site.post(f"/ui/alerts/instances/{by_page}/resolve", {"csrf_token": csrf})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("text/html")
    api_again = await site.http.post(
        f"/api/v1/alerts/instances/{by_page}/resolve", headers=site.api("write")
    )
    assert api_again.status_code == 409
    assert api_again.json()["detail"][1:] in again.text
    assert len(audit_rows(site.database_url, by_page)) == 1
    shown = await site.http.get(f"/ui/alerts/instances/{by_page}/resolve")
    assert "This instance is resolved already." in shown.text
    assert "Resolve the instance</button>" not in shown.text


async def test_a_superseded_instance_cannot_be_resolved(site: Site) -> None:
    rule_id = await site.rule("latency")
    old = add_instance(site.database_url, rule_id, state="resolved", closed=True, sequence=1)
    add_instance(site.database_url, rule_id, sequence=2)
    csrf = await site.sign_in("write")
    refused = await site.post(f"/ui/alerts/instances/{old}/resolve", {"csrf_token": csrf})
    assert refused.status_code == 409
    assert "newer instance of its rule and group has opened since" in refused.text


@pytest.mark.parametrize(
    ("csrf", "origin"),
    [(None, SITE), ("wrong", SITE), ("session", FOREIGN), ("session", None)],
    ids=["no-token", "wrong-token", "foreign-origin", "no-origin"],
)
@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
async def test_an_action_without_the_token_or_from_elsewhere_is_refused(
    site: Site, csrf: str | None, origin: str | None, action: str
) -> None:
    rule_id = await site.rule("latency")
    instance_id = add_instance(site.database_url, rule_id)
    token = await site.sign_in("write")
    data = {"comment": "mine"}
    if csrf is not None:
        data["csrf_token"] = token if csrf == "session" else csrf
    headers = {"Accept": BROWSER_ACCEPT} | ({} if origin is None else {"Origin": origin})
    refused = await site.post(f"/ui/alerts/instances/{instance_id}/{action}", data, headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    stored = instance_row(site.database_url, instance_id)
    assert (stored["state"], stored["acknowledged_by"]) == ("firing", None)
    assert audit_rows(site.database_url, instance_id) == []


async def test_a_read_key_cannot_open_the_forms_or_post_them(site: Site) -> None:
    rule_id = await site.rule("latency")
    instance_id = add_instance(site.database_url, rule_id)
    csrf = await site.sign_in("read")
    for action in ("acknowledge", "resolve"):
        form = await site.http.get(f"/ui/alerts/instances/{instance_id}/{action}")
        assert form.status_code == 403
        forged = await site.post(
            f"/ui/alerts/instances/{instance_id}/{action}", {"csrf_token": csrf, "comment": "x"}
        )
        assert forged.status_code == 403
        assert "write role" in forged.text
    stored = instance_row(site.database_url, instance_id)
    assert (stored["state"], stored["acknowledged_by"]) == ("firing", None)
    assert audit_rows(site.database_url, instance_id) == []


@pytest.mark.parametrize("instance_id", ["999999", str(2**63), "abc", "-1"])
async def test_unknown_instances_are_404_pages(site: Site, instance_id: str) -> None:
    csrf = await site.sign_in("write")
    for action in ("acknowledge", "resolve"):
        shown = await site.http.get(f"/ui/alerts/instances/{instance_id}/{action}")
        assert shown.status_code == 404
        posted = await site.post(
            f"/ui/alerts/instances/{instance_id}/{action}", {"csrf_token": csrf, "comment": "x"}
        )
        assert posted.status_code == 404
        if instance_id.isdigit():  # a path the route takes: its page says so
            assert posted.headers["content-type"].startswith("text/html")
            assert "No alert instance with id" in posted.text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/ui/alerts?state=firing", "/ui/alerts?state=firing&acknowledged=7"),
        ("/ui/alerts/rules/12?cursor=abc", "/ui/alerts/rules/12?cursor=abc&acknowledged=7"),
        ("/ui/alerts?acknowledged=3", "/ui/alerts?acknowledged=7"),
        ("https://evil.test/ui/alerts", "/ui/alerts?acknowledged=7"),
        ("//evil.test/ui/alerts", "/ui/alerts?acknowledged=7"),
        ("/ui/keys", "/ui/alerts?acknowledged=7"),
        (None, "/ui/alerts?acknowledged=7"),
    ],
)
def test_an_action_returns_only_to_an_alerts_page(raw: str | None, expected: str) -> None:
    assert return_to(raw, "acknowledged", 7) == expected


@given(st.text(max_size=80), st.integers(min_value=1, max_value=2**63 - 1))
def test_an_action_never_sends_the_browser_elsewhere(raw: str, instance_id: int) -> None:
    location = urlsplit(return_to(raw, "resolved", instance_id))
    assert not location.scheme and not location.netloc
    assert location.path == "/ui/alerts" or re.fullmatch(r"/ui/alerts/rules/\d+", location.path)
    assert location.query.endswith(f"resolved={instance_id}")


async def test_an_action_page_links_back_only_to_this_site(site: Site) -> None:
    rule_id = await site.rule("latency")
    instance_id = add_instance(site.database_url, rule_id)
    await site.sign_in("write")
    shown = await site.http.get(
        f"/ui/alerts/instances/{instance_id}/resolve", params={"return_to": "//evil.test/x"}
    )
    assert "evil.test" not in shown.text


# The rules pages.


async def test_the_rules_list_counts_instances_and_shows_the_latest_run(site: Site) -> None:
    latency = await site.rule("latency")
    quiet = await site.rule("quiet", enabled=True, severity="info")
    add_instance(site.database_url, latency, host="a")
    add_instance(site.database_url, latency, host="b")
    add_instance(site.database_url, latency, state="pending", host="c")
    add_instance(site.database_url, latency, state="resolved", host="d", closed=True)
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(site.database_url) as connection:
        connection.execute(
            "insert into alert_rule_runs (rule_id, evaluated_at, next_due_at, groups, failed, "
            "epoch) values (%s, %s, %s, 0, 'the query timed out <after 10 s>', 1) "
            "on conflict (rule_id) do update set failed = excluded.failed, "
            "evaluated_at = excluded.evaluated_at, next_due_at = excluded.next_due_at",
            (quiet, now, now + timedelta(days=1)),
        )
    await site.sign_in("read")
    page = await site.http.get("/ui/alerts/rules")
    assert page.status_code == 200
    assert_no_inline_script_or_style(page.text)
    rows = re.findall(r'<tr id="rule-(\d+)">(.*?)</tr>', page.text, re.S)
    assert [int(rule_id) for rule_id, _ in rows] == [latency, quiet]  # by name
    cells = dict((int(rule_id), text) for rule_id, text in rows)
    assert f'href="/ui/alerts?state=firing&amp;rule_id={latency}"' in cells[latency]
    assert re.search(r'aria-label="2 firing instances of latency">2</a>', cells[latency])
    assert re.search(r'aria-label="1 pending instances of latency">1</a>', cells[latency])
    assert "metric threshold" in cells[latency] and "warning" in cells[latency]
    assert '<span class="enabled-no">no</span>' in cells[latency]
    assert f'href="/ui/alerts/rules/{latency}#history"' in cells[latency]
    assert "the query timed out &lt;after 10 s&gt;" in cells[quiet]
    assert cells[quiet].count("<time ") >= 2  # evaluated, next due
    assert "info" in cells[quiet]
    bad = await site.http.get("/ui/alerts/rules", params={"x": "1"})
    assert bad.status_code == 400


async def test_one_rule_shows_its_definition_instances_and_paged_history(site: Site) -> None:
    rule_id = await site.rule("latency <p95>", annotations={"summary": "{{ value }}"})
    now = datetime.now(UTC)
    opened = [
        add_instance(
            site.database_url,
            rule_id,
            host=f"h{n:02d}",
            state="resolved",
            closed=True,
            opened_at=now - timedelta(minutes=60 - n),
        )
        for n in range(54)
    ]
    open_now = add_instance(site.database_url, rule_id, host="live")
    await site.sign_in("write")
    page = await site.http.get(f"/ui/alerts/rules/{rule_id}")
    assert page.status_code == 200
    assert_no_inline_script_or_style(page.text)
    assert "<h1>Rule “latency &lt;p95&gt;”</h1>" in page.text
    definition = re.search(
        r'<pre class="definition"[^>]*><code>(.*?)</code></pre>', page.text, re.S
    )
    assert definition is not None
    api = await site.http.get(f"/api/v1/alerts/{rule_id}", headers=site.api("read"))
    unescaped = definition[1].replace("&#34;", '"').replace("&lt;", "<").replace("&gt;", ">")
    assert json.loads(unescaped.replace("&amp;", "&").replace("&#39;", "'")) == api.json()["rule"]
    assert "\n  " in definition[1]  # indented
    instances = re.search(
        r'<section aria-labelledby="instances-heading">(.*?)</section>', page.text, re.S
    )
    assert instances is not None
    assert re.findall(r'<tr id="instance-(\d+)">', instances[1]) == [str(open_now)]
    assert f"/ui/alerts/instances/{open_now}/resolve" in instances[1]
    history = re.findall(r'<tr id="transition-(\d+)">', page.text)
    assert len(history) == 50
    assert [int(found) for found in history] == sorted(map(int, history), reverse=True)
    more = re.search(r'<a href="([^"]+)#history">Older transitions</a>', page.text)
    assert more is not None
    older = await site.http.get(more[1].replace("&amp;", "&"))
    assert older.status_code == 200
    rest = re.findall(r'<tr id="transition-(\d+)">', older.text)
    assert len(rest) == len(opened) + 1 - 50
    assert int(rest[0]) < int(history[-1])
    assert "Older transitions" not in older.text and ">Newest</a>" in older.text
    assert f'href="/ui/notifications?rule_id={rule_id}">Notifications sent' in page.text


async def test_a_deleted_rules_history_stays_and_unknown_rules_are_404(site: Site) -> None:
    rule_id = await site.rule("gone")
    instance_id = add_instance(site.database_url, rule_id)
    deleted = await site.http.delete(f"/api/v1/alerts/{rule_id}", headers=site.api())
    assert deleted.status_code == 204
    await site.sign_in("read")
    page = await site.http.get(f"/ui/alerts/rules/{rule_id}")
    assert page.status_code == 200
    assert f"Deleted rule #{rule_id}" in page.text
    assert f'href="/ui/notifications?rule_id={rule_id}">' in page.text, "what it sent stays"
    assert 'class="definition"' not in page.text
    assert len(re.findall(r'<tr id="transition-', page.text)) == 2  # opened, then closed
    assert instance_row(site.database_url, instance_id)["state"] == "resolved"
    for bad in ("999999", str(2**63), "abc", "-3"):
        missing = await site.http.get(f"/ui/alerts/rules/{bad}")
        assert missing.status_code == 404, bad
        if bad.isdigit():
            assert "No alert rule with id" in missing.text
    for params in ({"cursor": "nope"}, {"limit": "5"}):
        refused = await site.http.get(f"/ui/alerts/rules/{rule_id}", params=params)
        assert refused.status_code == 400


async def test_during_a_database_outage_the_pages_and_forms_answer_503(site: Site) -> None:
    rule_id = await site.rule("latency")
    instance_id = add_instance(site.database_url, rule_id)
    csrf = await site.sign_in("write")
    set_connections_allowed(site.database_url, False)
    try:
        answers = [
            await site.http.get(path, headers={"Accept": BROWSER_ACCEPT})
            for path in (
                "/ui/alerts",
                "/ui/alerts/rules",
                f"/ui/alerts/rules/{rule_id}",
                f"/ui/alerts/instances/{instance_id}/resolve",
            )
        ]
        for action in ("acknowledge", "resolve"):
            answers.append(
                await site.post(
                    f"/ui/alerts/instances/{instance_id}/{action}",
                    {"csrf_token": csrf, "comment": "on it"},
                )
            )
    finally:
        set_connections_allowed(site.database_url, True)
    for down in answers:
        assert down.status_code == 503, down.text
        assert down.headers["content-type"].startswith("text/html")
        assert int(down.headers["retry-after"]) > 0
        assert "database cannot be reached" in down.text
    with trio.fail_after(10):
        while (back := await site.http.get("/ui/alerts")).status_code == 503:
            await trio.sleep(0.2)  # the gateway probes the database about once a second
    assert listed(back.text, "open") == [instance_id]
    stored = instance_row(site.database_url, instance_id)
    assert (stored["state"], stored["acknowledged_by"]) == ("firing", None)
    assert audit_rows(site.database_url, instance_id) == []
