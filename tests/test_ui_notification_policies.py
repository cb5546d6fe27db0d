"""The notification policy and inhibition rule pages over HTTP: the ordered list with the
default policy apart, the forms (matcher rows, channels as checkboxes, intervals), refusals
beside their fields, the default policy's form, deleting with a confirmation, 412 on a stale
version, 404s, roles, CSRF and Origin.

Writes go through the APIs' own parsers, checks and storage, so the audit rows are those of
POST /api/v1/notification-policies and /api/v1/inhibition-rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio

from conftest import StartService
from ui_site import BROWSER_ACCEPT, FOREIGN, SITE, UiSite, own_site
from ws_helpers import connect, receive, subscribe

POLICIES = "/ui/notification-policies"
RULES = "/ui/inhibition-rules"


class Site(UiSite):
    csrf_page = POLICIES

    async def api_post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(path, json=body, headers=self.api())
        assert response.status_code == 201, response.text
        found: dict[str, Any] = response.json()
        return found

    async def channel(self, name: str) -> int:
        made = await self.api_post(
            "/api/v1/channels",
            {"name": name, "kind": "alertmanager", "url": "https://am.example.com"},
        )
        return int(made["id"])

    async def post(
        self, path: str, data: Any, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        if isinstance(data, list):  # repeated fields (channel checkboxes) as httpx takes them
            pairs: dict[str, list[str]] = {}
            for name, value in data:
                pairs.setdefault(name, []).append(value)
            data = pairs
        return await self.http.post(
            path,
            data=data,
            headers={"Origin": SITE, "Accept": BROWSER_ACCEPT} if headers is None else headers,
        )


@pytest.fixture
async def site(start_service: StartService, tmp_path: Path) -> AsyncIterator[Site]:
    async with own_site(start_service, tmp_path, "policies", Site) as running:
        yield running


def policy_form(channel_ids: list[int], **fields: str) -> list[tuple[str, str]]:
    single = {
        "name": "critical to on-call",
        "position": "10",
        "matcher_name_0": "severity",
        "matcher_op_0": "=",
        "matcher_value_0": "critical",
        "matcher_name_1": "",
        "matcher_op_1": "=",
        "matcher_value_1": "",
        "continue": "on",
        "group_by": "rule, host",
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        **fields,
    }
    return [*single.items(), *(("channel_id", str(found)) for found in channel_ids)]


def rule_form(**fields: str) -> dict[str, str]:
    return {
        "name": "critical mutes warning",
        "source_name_0": "severity",
        "source_op_0": "=",
        "source_value_0": "critical",
        "target_name_0": "severity",
        "target_op_0": "=",
        "target_value_0": "warning",
        "equal": "host",
        **fields,
    }


def audit_of(database_url: str, resource: str, row_id: int) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "select row_to_json(a)::text from audit_log a "
            "where resource = %s and resource_id = %s order by id",
            (resource, str(row_id)),
        ).fetchall()
    return [json.loads(text) for (text,) in rows]


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    for varying in ("id", "time", "resource_id", "request_id"):
        row.pop(varying)
    return row


def count(database_url: str, table: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(f"select count(*) from {table}").fetchone()
    assert row is not None
    return int(row[0])


def version_in(page: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', page)
    assert found, page[:500]
    return found[1]


# Policies.


async def test_the_list_is_in_order_with_the_default_apart_and_escaped(site: Site) -> None:
    pager = await site.channel("pager <one>")
    late = await site.api_post(
        "/api/v1/notification-policies", {"name": "late", "position": 50, "channel_ids": []}
    )
    early = await site.api_post(
        "/api/v1/notification-policies",
        {
            "name": "<b>early</b>",
            "position": 5,
            "matchers": [{"name": "team", "op": "=~", "value": "db|web"}],
            "channel_ids": [pager],
        },
    )
    await site.sign_in("read")
    page = await site.http.get(POLICIES)
    assert page.status_code == 200
    order = [int(found) for found in re.findall(r'<tr id="policy-(\d+)">', page.text)]
    assert order == [early["id"], late["id"]]
    assert "&lt;b&gt;early&lt;/b&gt;" in page.text and "<b>early" not in page.text
    assert "pager &lt;one&gt;" in page.text and "team=~&#34;db|web&#34;" in page.text
    assert "Default policy:" in page.text and "none: notified nowhere" in page.text
    assert "/edit" not in page.text and "New policy" not in page.text


async def test_a_policy_made_by_the_form_is_audited_as_the_apis(site: Site) -> None:
    pager = await site.channel("pager")
    mail = await site.channel("mail")
    csrf = await site.sign_in("admin")
    form = await site.http.get(f"{POLICIES}/new")
    assert form.status_code == 200
    assert f'name="channel_id" value="{pager}"' in form.text
    posted = await site.post(f"{POLICIES}/new", [("csrf_token", csrf), *policy_form([pager, mail])])
    assert posted.status_code == 303, posted.text[:1000]
    made_id = int(re.search(r"#policy-(\d+)$", posted.headers["location"])[1])  # type: ignore[index]
    page = await site.http.get(posted.headers["location"])
    assert "The policy is saved." in page.text
    by_api = await site.api_post(
        "/api/v1/notification-policies",
        {
            "name": "critical to on-call",
            "position": 10,
            "matchers": [{"name": "severity", "op": "=", "value": "critical"}],
            "channel_ids": [pager, mail],
            "continue": True,
            "group_by": ["rule", "host"],
        },
    )
    ui_row = comparable(audit_of(site.database_url, "notification_policy", made_id)[0])
    api_row = comparable(audit_of(site.database_url, "notification_policy", by_api["id"])[0])
    assert ui_row == api_row


async def test_refusals_are_shown_beside_their_fields_with_the_input_kept(site: Site) -> None:
    pager = await site.channel("pager")
    csrf = await site.sign_in("admin")
    cases: list[tuple[dict[str, str], list[int], str, str]] = [
        (
            {"matcher_op_1": "=~", "matcher_name_1": "x", "matcher_value_1": "(?=x)"},
            [pager],
            "matcher-1-error",
            "RE2",
        ),
        ({"group_wait": "3 fortnights"}, [pager], "group-wait-error", ""),
        ({"repeat_interval": "1s"}, [pager], "repeat-interval-error", ""),
        ({"position": "-4"}, [pager], "position-error", "from 0"),
        ({"position": "ten"}, [pager], "position-error", "whole number"),
        ({"group_by": "..., host"}, [pager], "group-by-error", "stands alone"),
        ({"name": ""}, [pager], "name-error", ""),
        ({}, [pager, 999_999], "channel-ids-error", "no channel with id 999999"),
    ]
    for fields, channels, error_id, message in cases:
        page = await site.post(
            f"{POLICIES}/new", [("csrf_token", csrf), *policy_form(channels, **fields)]
        )
        assert page.status_code == 400, (fields, page.text[:300])
        assert "The policy was not saved" in page.text
        assert f'id="{error_id}"' in page.text, (fields, error_id)
        assert message in page.text, fields
        if "group_by" not in fields:
            assert 'value="rule, host"' in page.text
    assert count(site.database_url, "notification_policies where not is_default") == 0


async def test_editing_a_stale_version_is_412_and_deleting_asks_first(site: Site) -> None:
    pager = await site.channel("pager")
    made = await site.api_post(
        "/api/v1/notification-policies",
        {"name": "p", "position": 1, "matchers": [{"name": "a", "op": "=", "value": "b"}]},
    )
    csrf = await site.sign_in("admin")
    form = await site.http.get(f"{POLICIES}/{made['id']}/edit")
    assert 'value="a"' in form.text and 'value="b"' in form.text
    version = version_in(form.text)
    saved = await site.post(
        f"{POLICIES}/{made['id']}/edit",
        [("csrf_token", csrf), ("version", version), *policy_form([pager], name="p2")],
    )
    assert saved.status_code == 303
    again = await site.post(
        f"{POLICIES}/{made['id']}/edit",
        [("csrf_token", csrf), ("version", version), *policy_form([pager], name="p3")],
    )
    assert again.status_code == 412 and "Someone else changed it" in again.text
    confirm = await site.http.get(f"{POLICIES}/{made['id']}/delete")
    assert confirm.status_code == 200 and "Delete the policy" in confirm.text
    stale = await site.post(
        f"{POLICIES}/{made['id']}/delete", {"csrf_token": csrf, "version": version}
    )
    assert stale.status_code == 412
    deleted = await site.post(
        f"{POLICIES}/{made['id']}/delete",
        {"csrf_token": csrf, "version": version_in(confirm.text)},
    )
    assert deleted.status_code == 303
    actions = [
        row["action"] for row in audit_of(site.database_url, "notification_policy", made["id"])
    ]
    assert actions == ["create", "update", "delete"]


async def test_the_default_policy_is_edited_never_deleted(site: Site) -> None:
    pager = await site.channel("pager")
    csrf = await site.sign_in("admin")
    form = await site.http.get(f"{POLICIES}/default/edit")
    assert form.status_code == 200
    assert 'name="position"' not in form.text and 'name="matcher_name_0"' not in form.text
    posted = await site.post(
        f"{POLICIES}/default/edit",
        [
            ("csrf_token", csrf),
            ("version", version_in(form.text)),
            ("name", "everything else"),
            ("channel_id", str(pager)),
            ("group_by", "rule"),
            ("group_wait", ""),
            ("group_interval", "10m"),
            ("repeat_interval", "1d"),
        ],
    )
    assert posted.status_code == 303, posted.text[:500]
    shown = (
        await site.http.get("/api/v1/notification-policies/default", headers=site.api())
    ).json()["policy"]
    assert shown == {
        "name": "everything else",
        "channel_ids": [pager],
        "group_by": ["rule"],
        "group_wait": "30s",
        "group_interval": "10m",
        "repeat_interval": "1d",
    }
    assert (await site.http.get(f"{POLICIES}/default/delete")).status_code == 404
    bad = await site.post(
        f"{POLICIES}/default/edit",
        [("csrf_token", csrf), ("version", "1"), ("name", "x"), ("group_wait", "2h")],
    )
    assert bad.status_code in (400, 412)


# Inhibition rules.


async def test_inhibition_rules_are_made_edited_and_deleted_as_by_the_api(site: Site) -> None:
    csrf = await site.sign_in("admin")
    posted = await site.post(f"{RULES}/new", {"csrf_token": csrf, **rule_form()})
    assert posted.status_code == 303, posted.text[:500]
    made_id = int(re.search(r"#rule-(\d+)$", posted.headers["location"])[1])  # type: ignore[index]
    by_api = await site.api_post(
        "/api/v1/inhibition-rules",
        {
            "name": "critical mutes warning",
            "source_matchers": [{"name": "severity", "value": "critical"}],
            "target_matchers": [{"name": "severity", "value": "warning"}],
            "equal": ["host"],
        },
    )
    ui_row = comparable(audit_of(site.database_url, "inhibition_rule", made_id)[0])
    api_row = comparable(audit_of(site.database_url, "inhibition_rule", by_api["id"])[0])
    assert ui_row == api_row
    listed = await site.http.get(RULES)
    assert "severity=&#34;critical&#34;" in listed.text and f'id="rule-{made_id}"' in listed.text
    form = await site.http.get(f"{RULES}/{made_id}/edit")
    assert 'value="warning"' in form.text and 'value="host"' in form.text
    version = version_in(form.text)
    refused = await site.post(
        f"{RULES}/{made_id}/edit",
        {
            "csrf_token": csrf,
            "version": version,
            **rule_form(target_name_0="", target_value_0="", source_op_0="!~", source_value_0="["),
        },
    )
    assert refused.status_code == 400
    assert 'id="target-error"' in refused.text and 'id="source-0-error"' in refused.text
    saved = await site.post(
        f"{RULES}/{made_id}/edit",
        {"csrf_token": csrf, "version": version, **rule_form(equal="host, <dc>")},
    )
    assert saved.status_code == 303
    assert "&lt;dc&gt;" in (await site.http.get(RULES)).text
    stale = await site.post(f"{RULES}/{made_id}/delete", {"csrf_token": csrf, "version": version})
    assert stale.status_code == 412
    confirm = await site.http.get(f"{RULES}/{made_id}/delete")
    deleted = await site.post(
        f"{RULES}/{made_id}/delete", {"csrf_token": csrf, "version": version_in(confirm.text)}
    )
    assert deleted.status_code == 303
    actions = [row["action"] for row in audit_of(site.database_url, "inhibition_rule", made_id)]
    assert actions == ["create", "update", "delete"]


async def test_inhibition_changes_from_the_pages_are_news_as_the_apis_are(site: Site) -> None:
    """Open Alerts pages redraw their muted marks on this news (decision 0065)."""
    news: list[dict[str, Any]] = []
    async with connect(str(site.http.base_url).rstrip("/"), site.tokens["read"]) as ws:
        await subscribe(ws, "alerts")
        csrf = await site.sign_in("admin")
        posted = await site.post(f"{RULES}/new", {"csrf_token": csrf, **rule_form()})
        made_id = int(re.search(r"#rule-(\d+)$", posted.headers["location"])[1])  # type: ignore[index]
        edited = await site.post(
            f"{RULES}/{made_id}/edit",
            {"csrf_token": csrf, "version": "1", **rule_form(equal="zone")},
        )
        assert edited.status_code == 303
        deleted = await site.post(f"{RULES}/{made_id}/delete", {"csrf_token": csrf, "version": "2"})
        assert deleted.status_code == 303
        with trio.fail_after(30):
            while len(news) < 3:
                message = await receive(ws, 30)
                if message["type"] == "data":
                    news.extend(message["items"])
    assert [(item["kind"], item["what"], item["id"], item["change"]) for item in news] == [
        ("muting", "inhibition_rule", made_id, "created"),
        ("muting", "inhibition_rule", made_id, "changed"),
        ("muting", "inhibition_rule", made_id, "deleted"),
    ]
    assert news[0]["actor"].startswith("policies admin (")


# Refusals of every kind.


async def test_read_and_write_keys_see_but_cannot_change(site: Site) -> None:
    policy = await site.api_post("/api/v1/notification-policies", {"name": "p", "position": 1})
    rule = await site.api_post(
        "/api/v1/inhibition-rules",
        {
            "name": "r",
            "source_matchers": [{"name": "a", "value": "b"}],
            "target_matchers": [{"name": "c", "value": "d"}],
        },
    )
    for role in ("read", "write"):
        csrf = await site.sign_in(role)
        assert (await site.http.get(POLICIES)).status_code == 200
        assert (await site.http.get(RULES)).status_code == 200
        for path in (
            f"{POLICIES}/new",
            f"{POLICIES}/{policy['id']}/edit",
            f"{POLICIES}/{policy['id']}/delete",
            f"{POLICIES}/default/edit",
            f"{RULES}/new",
            f"{RULES}/{rule['id']}/edit",
            f"{RULES}/{rule['id']}/delete",
        ):
            assert (await site.http.get(path)).status_code == 403, path
            answer = await site.post(path, {"csrf_token": csrf, "version": "1", **rule_form()})
            assert answer.status_code == 403, path
    assert len(audit_of(site.database_url, "notification_policy", policy["id"])) == 1
    assert len(audit_of(site.database_url, "inhibition_rule", rule["id"])) == 1


async def test_posts_without_the_token_or_from_elsewhere_are_refused(site: Site) -> None:
    token = await site.sign_in("admin")
    for csrf, origin in ((None, SITE), ("wrong", SITE), (token, FOREIGN), (token, None)):
        data: dict[str, str] = {} if csrf is None else {"csrf_token": csrf}
        headers = {"Accept": BROWSER_ACCEPT} | ({} if origin is None else {"Origin": origin})
        for path, fields in (
            (f"{POLICIES}/new", dict(policy_form([]))),
            (f"{POLICIES}/default/edit", {"name": "x", "version": "1"}),
            (f"{RULES}/new", rule_form()),
        ):
            answer = await site.post(path, {**data, **fields}, headers)
            assert answer.status_code == 403, (path, csrf, origin)
    assert count(site.database_url, "notification_policies where not is_default") == 0
    assert count(site.database_url, "inhibition_rules") == 0


async def test_unknown_ids_are_404_and_bad_parameters_400(site: Site) -> None:
    csrf = await site.sign_in("admin")
    for path in (
        f"{POLICIES}/999999/edit",
        f"{POLICIES}/99999999999999999999/delete",
        f"{RULES}/999999/edit",
        f"{RULES}/999999/delete",
    ):
        assert (await site.http.get(path)).status_code == 404, path
    gone = await site.post(f"{RULES}/999999/delete", {"csrf_token": csrf, "version": "1"})
    assert gone.status_code == 404
    assert (await site.http.get(f"{POLICIES}?sort=name")).status_code == 400
    no_version = await site.post(f"{RULES}/1/edit", {"csrf_token": csrf, **rule_form()})
    assert no_version.status_code in (400, 404)
