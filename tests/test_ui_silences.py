"""The Silences pages over HTTP: the list by state, one silence, the new-silence form
(prefilled from an instance, refusals beside their fields), expiring with a confirmation,
and the muted marks on the Alerts pages. Roles, CSRF, Origin and hostile input.

Writes go through the API's own functions, so a silence made here has the same audit
row as one made with POST /api/v1/silences. The browser test is
test_ui_silences_browser.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alert_helpers import add_instance
from conftest import StartService
from monitor.domain.notification_documents import parse_silence
from monitor.domain.rule_fields import RuleProblems
from monitor.web.ui.silence_form import errors_by_field, relative, silence_body
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
    csrf_page = "/ui/silences"

    async def rule(self, name: str) -> int:
        response = await self.http.post(
            "/api/v1/alerts", json={**RULE, "name": name}, headers=self.api()
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def api_silence(self, **fields: Any) -> dict[str, Any]:
        body = {
            "matchers": [{"name": "host", "op": "=", "value": "a"}],
            "duration": "1h",
            "comment": "maintenance",
            **fields,
        }
        response = await self.http.post("/api/v1/silences", json=body, headers=self.api())
        assert response.status_code == 201, response.text
        found: dict[str, Any] = response.json()
        return found

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
    async with own_site(start_service, tmp_path, "silences", Site) as running:
        yield running


def form(**fields: str) -> dict[str, str]:
    return {
        "matcher_name_0": "host",
        "matcher_op_0": "=",
        "matcher_value_0": "a",
        "matcher_name_1": "",
        "matcher_op_1": "=",
        "matcher_value_1": "",
        "duration": "2h",
        "ends_at": "",
        "starts_at": "",
        "comment": "disk swap on a",
        **fields,
    }


def silence_count(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute("select count(*) from silences").fetchone()
    assert row is not None
    return int(row[0])


def audit_of(database_url: str, silence_id: int) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "select row_to_json(a)::text from audit_log a "
            "where resource = 'silence' and resource_id = %s order by id",
            (str(silence_id),),
        ).fetchall()
    return [json.loads(text) for (text,) in rows]


def listed(page: str) -> list[int]:
    return [int(number) for number in re.findall(r'<tr id="silence-(\d+)">', page)]


# The list.


async def test_the_list_shows_active_and_pending_newest_first_with_their_fields(
    site: Site,
) -> None:
    now = datetime.now(UTC)
    active = await site.api_silence(comment="swap <disk>")
    pending = await site.api_silence(
        matchers=[{"name": "team", "op": "=~", "value": 'a"pi|web'}],
        starts_at=(now + timedelta(hours=2)).isoformat(),
    )
    expired = await site.api_silence()
    gone = await site.http.delete(f"/api/v1/silences/{expired['id']}", headers=site.api())
    assert gone.status_code == 200
    await site.sign_in("read")
    page = await site.http.get("/ui/silences")
    assert page.status_code == 200
    assert 'aria-current="page">Silences</a>' in page.text
    assert listed(page.text) == [pending["id"], active["id"]]
    row = re.search(rf'<tr id="silence-{pending["id"]}">.*?</tr>', page.text, re.S)
    assert row is not None
    assert "<code>team=~&#34;a\\&#34;pi|web&#34;</code>" in row[0]
    assert '<span class="silence-state silence-pending">pending</span>' in row[0]
    assert "(in 2 h)" in row[0]
    assert "silences admin" in row[0]  # created by
    assert "swap &lt;disk&gt;" in page.text
    assert "Expire…" not in page.text  # a read session
    assert "New silence" not in page.text
    expired_page = await site.http.get("/ui/silences?state=expired")
    assert listed(expired_page.text) == [expired["id"]]
    assert "expired by silences admin" in expired_page.text
    both = await site.http.get("/ui/silences?state=active&state=expired")
    assert listed(both.text) == [expired["id"], active["id"]]


async def test_the_list_pages_with_the_apis_cursor(site: Site) -> None:
    made = [(await site.api_silence(comment=f"n{index}"))["id"] for index in range(52)]
    await site.sign_in("read")
    first = await site.http.get("/ui/silences")
    assert listed(first.text) == list(reversed(made))[:50]
    older = re.search(r'href="(/ui/silences\?cursor=[^"]+)">Older silences', first.text)
    assert older is not None
    second = await site.http.get(older[1].replace("&amp;", "&"))
    assert listed(second.text) == list(reversed(made))[50:]
    assert "Older silences" not in second.text
    assert "Back to the newest" in second.text


@pytest.mark.parametrize(
    "query", ["state=frozen", "cursor=abc", "color=red", "state=" + "\x00", "cursor=" + "x" * 5000]
)
async def test_bad_list_parameters_are_400_pages(site: Site, query: str) -> None:
    await site.sign_in("read")
    page = await site.http.get("/ui/silences", params=dict([query.split("=", 1)]))
    assert page.status_code == 400
    if len(query) < 100 and "\x00" not in query:  # else refused before the page (edge checks)
        assert page.headers["content-type"].startswith("text/html")


async def test_without_a_session_every_page_sends_to_sign_in(site: Site) -> None:
    for path in ("/ui/silences", "/ui/silences/new", "/ui/silences/1", "/ui/silences/1/expire"):
        page = await site.http.get(path)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/ui/sign-in?next=")


# One silence.


async def test_one_silence_shows_its_facts_and_unknown_ids_are_404(site: Site) -> None:
    made = await site.api_silence(comment="why & who")
    await site.sign_in("read")
    page = await site.http.get(f"/ui/silences/{made['id']}")
    assert page.status_code == 200
    assert "<code>host=&#34;a&#34;</code>" in page.text
    assert "why &amp; who" in page.text
    assert "Expire…" not in page.text
    for unknown in ("999999", str(2**63), str(2**64)):
        missing = await site.http.get(f"/ui/silences/{unknown}")
        assert missing.status_code == 404
    for odd in ("-1", "abc"):
        assert (await site.http.get(f"/ui/silences/{odd}")).status_code == 404


# The form.


async def test_roles_the_form_and_expiring_are_admins(site: Site) -> None:
    made = await site.api_silence()
    for role in ("read", "write"):
        csrf = await site.sign_in(role)
        assert (await site.http.get("/ui/silences/new")).status_code == 403
        assert (await site.http.get(f"/ui/silences/{made['id']}/expire")).status_code == 403
        posted = await site.post("/ui/silences/new", {"csrf_token": csrf, **form()})
        assert posted.status_code == 403
        expired = await site.post(f"/ui/silences/{made['id']}/expire", {"csrf_token": csrf})
        assert expired.status_code == 403
    assert silence_count(site.database_url) == 1
    assert [row["action"] for row in audit_of(site.database_url, made["id"])] == ["create"]


async def test_a_silence_made_by_the_form_is_listed_and_audited_as_the_apis(
    site: Site,
) -> None:
    csrf = await site.sign_in("admin")
    posted = await site.post(
        "/ui/silences/new",
        {
            "csrf_token": csrf,
            **form(matcher_name_3="team", matcher_op_3="!~", matcher_value_3="db.*"),
        },
    )
    assert posted.status_code == 303, posted.text
    location = posted.headers["location"]
    assert location.startswith("/ui/silences?created=")
    made_id = int(location.rsplit("=", 1)[1])
    page = await site.http.get(location)
    assert f"Silence #{made_id} is saved" in page.text
    assert listed(page.text) == [made_id]
    by_api = await site.api_silence(
        matchers=[
            {"name": "host", "op": "=", "value": "a"},
            {"name": "team", "op": "!~", "value": "db.*"},
        ],
        duration="2h",
        comment="disk swap on a",
    )
    ui_row, api_row = (
        audit_of(site.database_url, made_id)[0],
        audit_of(site.database_url, by_api["id"])[0],
    )
    for row in (ui_row, api_row):
        for varying in ("id", "time", "resource_id", "request_id"):
            row.pop(varying)
        for varying in ("starts_at", "ends_at"):  # made moments apart
            row["after"].pop(varying)
    assert ui_row == api_row
    assert ui_row["after"]["comment"] == "disk swap on a"
    shown = (await site.http.get(f"/api/v1/silences/{made_id}", headers=site.api())).json()
    assert shown["matchers"] == by_api["matchers"]
    assert shown["created_by"] == by_api["created_by"]
    span = datetime.fromisoformat(shown["ends_at"]) - datetime.fromisoformat(shown["starts_at"])
    assert span == timedelta(hours=2)


@pytest.mark.parametrize(
    ("fields", "field_id", "message"),
    [
        ({"matcher_op_0": "=~", "matcher_value_0": "(?=x)"}, "matcher-0-error", "RE2"),
        ({"matcher_op_0": "~~"}, "matcher-0-error", "op must be one of"),
        ({"matcher_name_0": "", "matcher_value_0": ""}, "matchers-error", "at least one"),
        ({"matcher_name_0": "ho\x00st"}, "matcher-0-error", ""),
        ({"matcher_value_0": "a\x00"}, "matcher-0-error", "NUL"),
        ({"comment": ""}, "silence-comment-error", ""),
        ({"comment": "x" * 100_000}, "silence-errors", "bytes as JSON; at most"),
        ({"comment": "a\x00b"}, "silence-comment-error", ""),
        (
            {"duration": "custom", "ends_at": "2020-01-01T00:00"},
            "silence-ends-error",
            "must be after",
        ),
        (
            {
                "duration": "custom",
                "starts_at": "2099-01-02T00:00",
                "ends_at": "2099-01-01T00:00",
            },
            "silence-ends-error",
            "after the silence starts",
        ),
        ({"duration": "custom", "ends_at": "soon"}, "silence-ends-error", "RFC 3339"),
        ({"duration": "3 fortnights"}, "silence-ends-error", ""),
        ({"starts_at": "yesterday-ish"}, "silence-starts-error", ""),
    ],
)
async def test_refusals_are_shown_beside_their_fields_with_the_input_kept(
    site: Site, fields: dict[str, str], field_id: str, message: str
) -> None:
    csrf = await site.sign_in("admin")
    page = await site.post("/ui/silences/new", {"csrf_token": csrf, **form(**fields)})
    assert page.status_code == 400, page.text[:500]
    assert page.headers["content-type"].startswith("text/html")
    assert "The silence was not saved" in page.text
    assert f'id="{field_id}' in page.text
    assert message in page.text
    assert silence_count(site.database_url) == 0
    if "matcher_name_0" not in fields:  # the other fields are kept
        assert 'value="host"' in page.text
    if "comment" not in fields:
        assert ">disk swap on a</textarea>" in page.text


async def test_the_second_row_of_the_form_is_named_beside_that_row(site: Site) -> None:
    csrf = await site.sign_in("admin")
    page = await site.post(
        "/ui/silences/new",
        {
            "csrf_token": csrf,
            **form(matcher_name_2="team", matcher_op_2="=~", matcher_value_2="[z-a]"),
        },
    )
    assert page.status_code == 400
    assert 'id="matcher-2-error"' in page.text
    assert 'id="matcher-0-error"' not in page.text
    assert 'value="[z-a]"' in page.text


@pytest.mark.parametrize(
    ("csrf", "origin"),
    [(None, SITE), ("wrong", SITE), ("session", FOREIGN), ("session", None)],
    ids=["no-token", "wrong-token", "foreign-origin", "no-origin"],
)
async def test_posts_without_the_token_or_from_elsewhere_are_refused(
    site: Site, csrf: str | None, origin: str | None
) -> None:
    made = await site.api_silence()
    token = await site.sign_in("admin")
    data: dict[str, str] = {}
    if csrf is not None:
        data["csrf_token"] = token if csrf == "session" else csrf
    headers = {"Accept": BROWSER_ACCEPT} | ({} if origin is None else {"Origin": origin})
    created = await site.post("/ui/silences/new", {**data, **form()}, headers)
    expired = await site.post(f"/ui/silences/{made['id']}/expire", data, headers)
    assert (created.status_code, expired.status_code) == (403, 403)
    assert silence_count(site.database_url) == 1
    assert [row["action"] for row in audit_of(site.database_url, made["id"])] == ["create"]


# Prefilled from an instance.


async def test_the_form_is_prefilled_with_an_instances_labels(site: Site) -> None:
    rule_id = await site.rule("api <latency>")
    instance_id = add_instance(site.database_url, rule_id, host="web-1")
    await site.sign_in("admin")
    page = await site.http.get(f"/ui/silences/new?instance_id={instance_id}")
    assert page.status_code == 200
    assert f"For instance #{instance_id} of “" in page.text
    assert "api &lt;latency&gt;" in page.text
    names = re.findall(r'name="matcher_name_(\d+)"[^>]*?value="([^"]*)"', page.text, re.S)
    values = re.findall(r'name="matcher_value_(\d+)"[^>]*?value="([^"]*)"', page.text, re.S)
    filled = [(name, dict(values)[index]) for index, name in names if name]
    assert filled == [("host", "web-1"), ("rule", "r"), ("severity", "warning"), ("team", "api")]
    assert len(names) == 5  # one blank row more
    assert 'placeholder="Why instance' in page.text


@pytest.mark.parametrize(
    ("instance_id", "status"),
    [("-1", 400), ("abc", 400), ("", 400), (str(2**64), 404), ("999999", 404), ("1.5", 400)],
)
async def test_bad_instance_ids_are_400_or_404_pages(
    site: Site, instance_id: str, status: int
) -> None:
    await site.sign_in("admin")
    page = await site.http.get("/ui/silences/new", params={"instance_id": instance_id})
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    two = await site.http.get("/ui/silences/new?instance_id=1&instance_id=2")
    assert two.status_code == 400
    unknown = await site.http.get("/ui/silences/new?rule=1")
    assert unknown.status_code == 400


# Expiring.


async def test_expiring_asks_first_then_expires_and_twice_is_the_apis_409(site: Site) -> None:
    made = await site.api_silence()
    csrf = await site.sign_in("admin")
    listing = await site.http.get("/ui/silences")
    assert f'href="/ui/silences/{made["id"]}/expire"' in listing.text
    confirm = await site.http.get(f"/ui/silences/{made['id']}/expire")
    assert confirm.status_code == 200
    assert "Expire the silence" in confirm.text
    assert silence_count(site.database_url) == 1
    done = await site.post(f"/ui/silences/{made['id']}/expire", {"csrf_token": csrf})
    assert done.status_code == 303
    assert done.headers["location"] == f"/ui/silences?expired={made['id']}"
    page = await site.http.get(done.headers["location"])
    assert f"Silence #{made['id']} is expired." in page.text
    assert listed(page.text) == []
    audit = audit_of(site.database_url, made["id"])
    assert [row["action"] for row in audit] == ["create", "expire"]
    assert audit[1]["actor_name"] == audit[0]["actor_name"]
    again = await site.post(f"/ui/silences/{made['id']}/expire", {"csrf_token": csrf})
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("text/html")
    assert "has ended already" in again.text
    shown_again = await site.http.get(f"/ui/silences/{made['id']}/expire")
    assert "This silence has ended already." in shown_again.text
    for unknown in ("999999", str(2**64)):
        missing = await site.post(f"/ui/silences/{unknown}/expire", {"csrf_token": csrf})
        assert missing.status_code == 404


# The muted marks and the Silence link on the Alerts pages.


async def test_open_instances_show_what_mutes_them_and_admins_get_a_silence_link(
    site: Site,
) -> None:
    rule_id = await site.rule("latency")
    muted = add_instance(site.database_url, rule_id, host="a")
    loud = add_instance(site.database_url, rule_id, host="b")
    closed = add_instance(
        site.database_url, rule_id, host="a", sequence=2, state="resolved", closed=True
    )
    made = await site.api_silence()
    await site.sign_in("admin")
    for path in ("/ui/alerts", f"/ui/alerts/rules/{rule_id}"):
        page = await site.http.get(path)
        assert page.status_code == 200
        row = re.search(rf'<tr id="instance-{muted}">.*?</tr>', page.text, re.S)
        other = re.search(rf'<tr id="instance-{loud}">.*?</tr>', page.text, re.S)
        assert row is not None and other is not None
        assert f'href="/ui/silences/{made["id"]}">silenced (#{made["id"]})</a>' in row[0]
        assert "silenced" not in other[0]
        assert f'href="/ui/silences/new?instance_id={loud}"' in other[0]
    resolved_row = re.search(
        rf'<tr id="instance-{closed}">.*?</tr>', (await site.http.get("/ui/alerts")).text, re.S
    )
    assert resolved_row is not None
    assert "silenced" not in resolved_row[0] and "Silence…" not in resolved_row[0]
    fragment = await site.http.get("/ui/alerts", headers={"HX-Request": "true"})
    assert f"silenced (#{made['id']})" in fragment.text
    await site.sign_in("write")
    page = await site.http.get("/ui/alerts")
    assert f"silenced (#{made['id']})" in page.text
    assert "Silence…" not in page.text


# The form's reading, without a service.


def test_the_form_body_skips_empty_rows_and_maps_problems_back_to_rows() -> None:
    body, rows = silence_body(
        {
            "matcher_name_0": "",
            "matcher_value_0": "",
            "matcher_name_1": " host ",
            "matcher_op_1": "=~",
            "matcher_value_1": "web-.*",
            "duration": "custom",
            "ends_at": "2099-01-01T10:00",
            "comment": "x",
        }
    )
    assert body == {
        "matchers": [{"name": "host", "op": "=~", "value": "web-.*"}],
        "comment": "x",
        "ends_at": "2099-01-01T10:00Z",
    }
    assert rows == [1]
    assert errors_by_field([{"field": "matchers[0].value", "message": "bad"}], rows) == {
        "matcher-1": ["value bad"]
    }
    assert errors_by_field([{"field": "(body)", "message": "too big"}], rows) == {
        "form": ["too big"]
    }


def test_relative_times_read_as_people_say_them() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    assert relative(now + timedelta(hours=2), now) == "in 2 h"
    assert relative(now - timedelta(minutes=5), now) == "5 min ago"
    assert relative(now + timedelta(days=7), now) == "in 7 days"
    assert relative(now + timedelta(seconds=5), now) == "in less than a minute"


_row_text = st.text(max_size=8)


@given(
    rows=st.lists(
        st.tuples(_row_text, st.sampled_from(["=", "!=", "=~", "!~", "~~"]), _row_text),
        max_size=40,
    ),
    extra=st.dictionaries(
        st.text(max_size=12).filter(lambda key: not key.startswith("matcher_")),
        st.text(max_size=12),
        max_size=5,
    ),
)
def test_each_filled_row_becomes_one_matcher_and_its_problems_come_back_to_it(
    rows: list[tuple[str, str, str]], extra: dict[str, str]
) -> None:
    sent = dict(extra)
    for index, (name, op, value) in enumerate(rows):
        sent |= {
            f"matcher_name_{index}": name,
            f"matcher_op_{index}": op,
            f"matcher_value_{index}": value,
        }
    body, row_numbers = silence_body(sent)
    filled = [index for index, (name, _, value) in enumerate(rows[:32]) if name.strip() or value]
    assert row_numbers == filled
    assert [m["value"] for m in body["matchers"]] == [rows[i][2] for i in filled]
    for position, row in enumerate(row_numbers):
        for path in (f"matchers[{position}].value", f"matchers.{position}.name"):
            assert errors_by_field([{"field": path, "message": "m"}], row_numbers) == {
                f"matcher-{row}": [f"{path.rsplit('.', 1)[1]} m"]
            }
    try:  # the parser judges whatever the form made, refusing with problems, never crashing
        parse_silence(body, now=datetime.now(UTC))
    except RuleProblems as refused:
        assert all(errors_by_field([p.as_dict()], row_numbers) for p in refused.problems)
