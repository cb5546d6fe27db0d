"""The Delivery log pages over HTTP: the list (filters, keyset pages, a deleted channel still
named), one delivery (its attempts and message), escaping of whatever a receiver or an alert
put there, refusals of hostile parameters as 400 pages naming them, 404s, and roles.

Deliveries are queued through storage (`deliveries.enqueue`) and given their status and
attempts by SQL in the same transaction, so the service's sender never sees them due.
The browser test is test_ui_delivery_log_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import StartService
from delivery_log_helpers import message, put
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from ui_site import UiSite, own_site

HOSTILE = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"


class Site(UiSite):
    csrf_page = "/ui/notifications"

    async def channel(self, name: str = "ops hook") -> int:
        body = {
            "name": name,
            "kind": "webhook",
            "url": "https://hooks.example.com/monitor",
            "secret": "a-long-enough-signing-secret",
        }
        response = await self.http.post("/api/v1/channels", json=body, headers=self.api())
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


@pytest.fixture
async def site(start_service: StartService, tmp_path: Path) -> AsyncIterator[Site]:
    async with own_site(start_service, tmp_path, "delivery log", Site) as running:
        yield running


def listed(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="delivery-(\d+)">', html)]


def row_of(html: str, delivery_id: int) -> str:
    found = re.search(rf'<tr id="delivery-{delivery_id}">.*?</tr>', html, re.S)
    assert found, html[:2000]
    return found[0]


# The list.


async def test_the_list_shows_each_delivery_newest_first(site: Site) -> None:
    channel = await site.channel("pager hook")
    sent = put(site.database_url, channel, age=timedelta(minutes=5))
    failed = put(
        site.database_url,
        channel,
        status="failed",
        reason="resolved",
        attempts=[
            {"outcome": "retrying", "status_code": 503, "error_kind": "status", "error": "503"},
            {"outcome": "failed", "status_code": 404, "error_kind": "status", "error": "gone"},
        ],
        last_error="refused for good: 404 " + "x" * 400,
    )
    await site.sign_in("read")
    page = await site.http.get("/ui/notifications")
    assert page.status_code == 200
    assert listed(page.text) == [failed, sent]
    row = row_of(page.text, failed)
    assert f'href="/ui/channels/{channel}">pager hook</a>' in row
    assert f'href="/ui/notifications/{failed}"' in row
    assert "resolved" in row and "<code>rule=disk full</code>" in row
    assert "✗</span> failed" in row, "the status has a mark besides its colour"
    assert "refused for good: 404" in row and "x" * 200 not in row, "the error is cut"
    assert "✓</span> delivered" in row_of(page.text, sent)
    # The navigation's entry is the page now, not a placeholder.
    assert 'aria-current="page"' in page.text and "not built yet" not in page.text


async def test_filters_by_status_channel_and_time(site: Site) -> None:
    one, other = await site.channel("one"), await site.channel("other")
    old = put(site.database_url, one, age=timedelta(days=2))
    failed = put(site.database_url, one, status="failed", last_error="timed out")
    queued = put(site.database_url, other, status="queued", attempts=[])
    await site.sign_in("read")

    async def shown(**params: str) -> list[int]:
        page = await site.http.get("/ui/notifications", params=params)
        assert page.status_code == 200, page.text[:1000]
        return listed(page.text)

    assert await shown(status="failed") == [failed]
    assert await shown(status="queued") == [queued]
    assert await shown(channel_id=str(one)) == [failed, old]
    assert await shown(channel_id=str(other), status="delivered") == []
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert await shown(**{"from": since}) == [queued, failed], "the form's time is UTC"
    assert await shown(to=since) == [old]
    assert await shown(status="", channel_id="", to="") == [queued, failed, old], "blanks: any"
    page = await site.http.get("/ui/notifications", params={"channel_id": str(one)})
    assert f'<option value="{one}" selected>one</option>' in page.text
    assert "next try" in row_of((await site.http.get("/ui/notifications")).text, queued)


async def test_the_alerts_pages_links_show_the_deliveries_of_a_rule_or_an_instance(
    site: Site,
) -> None:
    channel = await site.channel()

    def told(rule_id: int, instance_id: int) -> dict[str, object]:
        body = message()
        body["alerts"][0].update(rule_id=rule_id, instance_id=instance_id)
        return body

    rule, instance = 2**62 + 17, 2**62 + 170
    about_it = put(site.database_url, channel, body=told(rule, instance))
    other_instance = put(site.database_url, channel, body=told(rule, instance + 1))
    put(site.database_url, channel, body=told(rule + 1, instance + 2))
    await site.sign_in("read")

    page = await site.http.get("/ui/notifications", params={"rule_id": str(rule)})
    assert page.status_code == 200, page.text[:1000]
    assert listed(page.text) == [other_instance, about_it]
    assert f'href="/ui/alerts/rules/{rule}">#{rule}</a>' in page.text
    # The form keeps the filter it cannot show: filtering by status stays on the rule.
    assert f'<input type="hidden" name="rule_id" value="{rule}">' in page.text
    both = {"rule_id": str(rule), "instance_id": str(instance), "status": "delivered"}
    page = await site.http.get("/ui/notifications", params=both)
    assert listed(page.text) == [about_it]
    assert f"instance #{instance}" in page.text
    hostile = await site.http.get("/ui/notifications", params={"instance_id": HOSTILE})
    assert hostile.status_code == 400 and "<li>instance_id: " in hostile.text
    assert HOSTILE not in hostile.text and "Only deliveries telling of" not in hostile.text


async def test_pages_follow_the_apis_cursor(site: Site) -> None:
    channel = await site.channel()
    made = [put(site.database_url, channel) for _ in range(7)]
    await site.sign_in("read")
    seen: list[int] = []
    path = "/ui/notifications?limit=3"
    for _ in range(5):
        page = await site.http.get(path)
        assert page.status_code == 200
        seen += listed(page.text)
        older = re.search(r'href="(/ui/notifications\?[^"]+)" [^>]*rel="next"', page.text)
        if older is None:
            break
        path = older[1].replace("&amp;", "&")
        assert "limit=3" in path, "the next page keeps the filters"
    assert seen == sorted(made, reverse=True), "newest first, each once"


async def test_a_deleted_channel_is_still_named_without_a_link(site: Site) -> None:
    channel = await site.channel("retired hook")
    made = put(site.database_url, channel)
    gone = await site.http.delete(f"/api/v1/channels/{channel}", headers=site.api())
    assert gone.status_code == 204, gone.text
    await site.sign_in("read")
    page = await site.http.get("/ui/notifications", params={"channel_id": str(channel)})
    row = row_of(page.text, made)
    assert "retired hook" in row and "(deleted)" in row and "/ui/channels/" not in row
    assert f'<option value="{channel}" selected>retired hook (deleted)</option>' in page.text
    one = await site.http.get(f"/ui/notifications/{made}")
    assert "retired hook" in one.text and f'href="/ui/channels/{channel}"' not in one.text


BAD_FILTERS = [
    ({"status": "lost"}, "status"),
    ({"channel_id": "abc"}, "channel_id"),
    ({"channel_id": "-1"}, "channel_id"),
    ({"channel_id": str(2**64)}, "channel_id"),
    ({"rule_id": "seven"}, "rule_id"),
    ({"instance_id": "0"}, "instance_id"),
    ({"from": "yesterday"}, "from"),
    ({"from": "2026-12-02T00:00", "to": "2026-12-01T00:00"}, "to"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"limit": "0"}, "limit"),
    ({"limit": "100000"}, "limit"),
    ({"colour": "red"}, "colour"),
]


async def test_a_bad_filter_is_the_apis_refusal_on_a_400_page(site: Site) -> None:
    await site.sign_in("read")
    for params, named in BAD_FILTERS:
        page = await site.http.get("/ui/notifications", params=params)
        assert page.status_code == 400, params
        assert page.headers["content-type"].startswith("text/html")
        assert "These filters cannot be used" in page.text
        assert f"<li>{named}: " in page.text, params
        api = await site.http.get("/api/v1/notifications", params=params, headers=site.api("read"))
        assert api.status_code == 400
        assert named in {error["field"] for error in api.json()["errors"]}
    # Refused before the page by the edge's checks, as on every page.
    for params in ({"status": "\x00"}, {"cursor": "x" * 5000}):
        assert (await site.http.get("/ui/notifications", params=params)).status_code == 400


# One delivery.


async def test_one_delivery_shows_its_attempts_and_message(site: Site) -> None:
    channel = await site.channel("pager hook")
    made = put(
        site.database_url,
        channel,
        attempts=[
            {"outcome": "retrying", "status_code": 500, "error_kind": "status", "error": "500"},
            {"outcome": "delivered", "status_code": 200, "response": "ok, thanks"},
        ],
    )
    await site.sign_in("read")
    page = await site.http.get(f"/ui/notifications/{made}")
    assert page.status_code == 200
    assert f"Delivery #{made}" in page.text
    attempts = re.findall(r'<tr id="attempt-(\d+)">(.*?)</tr>', page.text, re.S)
    assert [number for number, _ in attempts] == ["1", "2"]
    assert "500" in attempts[0][1] and "retrying" in attempts[0][1] and "12.5 ms" in attempts[0][1]
    assert "ok, thanks" in attempts[1][1] and "test sender" in attempts[1][1]
    assert "<code>host=web-1</code>" in page.text and "the disk is full" in page.text
    assert 'href="/ui/alerts/rules/7">rule #7</a>' in page.text and "instance #70" in page.text
    assert f'href="/ui/notifications?channel_id={channel}"' in page.text


async def test_hostile_labels_errors_and_answers_are_escaped(site: Site) -> None:
    channel = await site.channel(HOSTILE)
    made = put(
        site.database_url,
        channel,
        status="failed",
        body=message(summary=HOSTILE, team=HOSTILE),
        attempts=[{"outcome": "failed", "status_code": 400, "error": HOSTILE, "response": HOSTILE}],
        last_error=HOSTILE,
    )
    await site.sign_in("read")
    for path in ("/ui/notifications", f"/ui/notifications/{made}"):
        page = await site.http.get(path)
        assert page.status_code == 200
        assert "<script>alert" not in page.text, path
        assert ESCAPED in page.text, path
    one = await site.http.get(f"/ui/notifications/{made}")
    # The channel's name, group label, alert label, summary, error, last error and answer.
    assert one.text.count("alert(&#34;x&#34;)") >= 7


async def test_unknown_or_garbled_ids(site: Site) -> None:
    channel = await site.channel()
    put(site.database_url, channel)
    await site.sign_in("read")
    for path, status in (
        ("/ui/notifications/999999", 404),
        (f"/ui/notifications/{2**64}", 404),
        ("/ui/notifications/abc", 404),
        ("/ui/notifications/-1", 404),
        ("/ui/notifications/1.5", 404),
        ("/ui/notifications/1?colour=red", 400),
    ):
        assert (await site.http.get(path)).status_code == status, path


# Roles.


async def test_read_sees_the_pages_and_a_session_is_needed(site: Site) -> None:
    channel = await site.channel()
    made = put(site.database_url, channel)
    for path in ("/ui/notifications", f"/ui/notifications/{made}"):
        response = await site.http.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/ui/sign-in?next=")
        # A key in a header is not a session: the pages are a browser's.
        with_key = await site.http.get(path, headers=site.api("read"))
        assert with_key.status_code == 303, path
    async with open_gateway(
        site.database_url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        _, ingest = await key_store.create_key(
            gateway,
            name="an agent",
            role=Role.INGEST,
            rate_limit=None,
            expires_at=None,
            by=Attribution(Actor.system("tests")),
        )
    refused = await site.http.post(
        "/ui/sign-in", data={"key": ingest}, headers={"Origin": "http://monitor.test"}
    )
    assert refused.status_code == 403
    assert (await site.http.get("/ui/notifications")).status_code == 303
    for role in ("read", "write", "admin"):
        await site.sign_in(role)
        assert (await site.http.get("/ui/notifications")).status_code == 200, role
        assert (await site.http.get(f"/ui/notifications/{made}")).status_code == 200, role


async def test_the_channel_pages_link_to_their_deliveries(site: Site) -> None:
    channel = await site.channel("linked hook")
    await site.sign_in("read")
    one = await site.http.get(f"/ui/channels/{channel}")
    assert f'href="/ui/notifications?channel_id={channel}">Deliveries to this channel' in one.text
    listing = await site.http.get("/ui/channels")
    assert 'href="/ui/notifications">Delivery log' in listing.text
