"""The Channels pages over HTTP: the list (secrets only as set or unset, the last test),
the kind chooser and the form per kind, secrets never echoed and kept when left empty,
refusals beside their fields, enabling, deleting (the API's 409 naming the policies), the
Test button (as a page and in place), 412 on a stale version, 404s, roles, CSRF and Origin.

Writes go through the API's own functions, so a channel made here has the same audit row
as one made with POST /api/v1/channels. The browser test is test_ui_channels_browser.py.
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
from monitor.domain.signing import SecretKeys
from monitor.secret_box import SecretBox
from receivers import Received, Reply, start_receiver
from ui_site import BROWSER_ACCEPT, FOREIGN, SITE, UiSite, own_site

HMAC_SECRET = "s3cret-webhook-key-0123456789"
HEADER_SECRET = "Bearer hidden-token-42"


class Site(UiSite):
    csrf_page = "/ui/channels"

    async def api_channel(self, **fields: Any) -> dict[str, Any]:
        body = {
            "name": "ops hook",
            "kind": "webhook",
            "url": "https://hooks.example.com/monitor",
            "secret": HMAC_SECRET,
            "headers": {"X-Team": "ops"},
            "secret_headers": {"Authorization": HEADER_SECRET},
            **fields,
        }
        body = {name: value for name, value in body.items() if value is not None}
        response = await self.http.post("/api/v1/channels", json=body, headers=self.api())
        assert response.status_code == 201, response.text
        found: dict[str, Any] = response.json()
        return found

    async def post(
        self, path: str, data: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.http.post(
            path,
            data=data,
            headers={"Origin": SITE, "Accept": BROWSER_ACCEPT} if headers is None else headers,
        )


@pytest.fixture
async def site(start_service: StartService, tmp_path: Path) -> AsyncIterator[Site]:
    async with own_site(start_service, tmp_path, "channels", Site) as running:
        yield running


def webhook_form(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "webhook",
        "name": "pager hook",
        "description": "",
        "enabled": "on",
        "url": "https://hooks.example.com/pager",
        "secret": HMAC_SECRET,
        "headers": "X-Team: ops",
        "secret_headers": f"Authorization: {HEADER_SECRET}",
        **fields,
    }


def audit_of(database_url: str, channel_id: int) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "select row_to_json(a)::text from audit_log a "
            "where resource = 'notification_channel' and resource_id = %s order by id",
            (str(channel_id),),
        ).fetchall()
    return [json.loads(text) for (text,) in rows]


def sealed(database_url: str, channel_id: int) -> str | None:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "select secrets from notification_channels where id = %s", (channel_id,)
        ).fetchone()
    assert row is not None
    return row[0]


def channel_count(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "select count(*) from notification_channels where deleted_at is null"
        ).fetchone()
    assert row is not None
    return int(row[0])


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    for varying in ("id", "time", "resource_id", "request_id"):
        row.pop(varying)
    return row


# The list.


async def test_the_list_shows_kinds_secret_states_and_escapes_names(site: Site) -> None:
    hostile = await site.api_channel(name='<script>alert("x")</script>')
    plain = await site.api_channel(name="am", kind="alertmanager", secret=None, secret_headers={})
    await site.sign_in("read")
    page = await site.http.get("/ui/channels")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text
    assert HMAC_SECRET not in page.text and HEADER_SECRET not in page.text
    hostile_row = re.search(rf'<tr id="channel-{hostile["id"]}">.*?</tr>', page.text, re.S)
    plain_row = re.search(rf'<tr id="channel-{plain["id"]}">.*?</tr>', page.text, re.S)
    assert hostile_row and plain_row
    assert "Webhook" in hostile_row[0] and "set" in hostile_row[0]
    assert "Alertmanager" in plain_row[0] and "none" in plain_row[0]
    assert "never tested" in plain_row[0]
    # A read key sees no change controls.
    assert (
        "New channel" not in page.text and "/test" not in page.text and "Delete…" not in page.text
    )


async def test_without_a_session_the_pages_send_to_sign_in(site: Site) -> None:
    for path in ("/ui/channels", "/ui/channels/new", "/ui/channels/1/edit"):
        response = await site.http.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/ui/sign-in?next=")


async def test_an_unreadable_secret_is_said_so(site: Site) -> None:
    made = await site.api_channel()
    other = SecretBox(SecretKeys(b"another-key-entirely-" * 3))
    with psycopg.connect(site.database_url) as connection:
        connection.execute(
            "update notification_channels set secrets = %s where id = %s",
            (other.seal({"secret": HMAC_SECRET}), made["id"]),
        )
    await site.sign_in("admin")
    listed = await site.http.get("/ui/channels")
    assert "unreadable" in listed.text
    one = await site.http.get(f"/ui/channels/{made['id']}")
    assert "cannot be read (MONITOR_SECRET_KEY changed" in one.text
    form = await site.http.get(f"/ui/channels/{made['id']}/edit")
    assert "stored but unreadable: enter it again" in form.text


# The form.


async def test_new_asks_for_the_kind_first_and_shows_only_its_fields(site: Site) -> None:
    await site.sign_in("admin")
    chooser = await site.http.get("/ui/channels/new")
    assert chooser.status_code == 200
    assert chooser.text.count('name="kind"') == 6
    email = await site.http.get("/ui/channels/new?kind=email")
    assert email.status_code == 200
    shown = set(re.findall(r'data-field="(\w+)" data-kinds="[^"]*">', email.text))
    hidden = set(re.findall(r'data-field="(\w+)" data-kinds="[^"]*" hidden>', email.text))
    assert shown == {"host", "port", "security", "username", "password", "from", "to"}
    assert {"url", "secret", "routing_key", "secret_url"} <= hidden
    bad = await site.http.get("/ui/channels/new?kind=carrier-pigeon")
    assert bad.status_code == 400
    assert (await site.http.get("/ui/channels/new?colour=red")).status_code == 400


async def test_a_channel_made_by_the_form_is_audited_as_the_apis(site: Site) -> None:
    csrf = await site.sign_in("admin")
    posted = await site.post("/ui/channels/new", {"csrf_token": csrf, **webhook_form()})
    assert posted.status_code == 303, posted.text[:1000]
    made_id = int(re.fullmatch(r"/ui/channels/(\d+)\?done=created", posted.headers["location"])[1])
    page = await site.http.get(posted.headers["location"])
    assert "The channel is saved." in page.text and "pager hook" in page.text
    by_api = await site.api_channel(
        name="pager hook 2", url="https://hooks.example.com/pager", description=""
    )
    ui_row, api_row = (
        audit_of(site.database_url, made_id)[0],
        audit_of(site.database_url, by_api["id"])[0],
    )
    for row in (ui_row, api_row):
        comparable(row)
        row["after"].pop("name")
    assert ui_row == api_row
    assert HMAC_SECRET not in json.dumps(ui_row)
    shown = (await site.http.get(f"/api/v1/channels/{made_id}", headers=site.api())).json()
    assert shown["channel"]["secret"] == {"set": True}
    assert shown["channel"]["secret_headers"] == {"Authorization": {"set": True}}
    assert shown["channel"]["headers"] == {"X-Team": "ops"}


async def test_editing_never_echoes_secrets_and_keeps_them_when_left_empty(site: Site) -> None:
    made = await site.api_channel()
    before = sealed(site.database_url, made["id"])
    csrf = await site.sign_in("admin")
    form = await site.http.get(f"/ui/channels/{made['id']}/edit")
    assert form.status_code == 200
    assert HMAC_SECRET not in form.text and HEADER_SECRET not in form.text
    assert "set — leave empty to keep" in form.text
    assert 'name="keep_header" value="Authorization" checked' in form.text
    version = re.search(r'name="version" value="(\d+)"', form.text)
    assert version
    fields = webhook_form(
        name="ops hook",
        url="https://hooks.example.com/monitor",
        secret="",
        secret_headers="",
        keep_header="Authorization",
        version=version[1],
        description="now with a description",
    )
    saved = await site.post(f"/ui/channels/{made['id']}/edit", {"csrf_token": csrf, **fields})
    assert saved.status_code == 303, saved.text[:1000]
    assert sealed(site.database_url, made["id"]) == before, "the same secrets, not sealed again"
    shown = (await site.http.get(f"/api/v1/channels/{made['id']}", headers=site.api())).json()
    assert shown["version"] == made["version"] + 1
    assert shown["channel"]["description"] == "now with a description"
    assert shown["channel"]["secret_headers"] == {"Authorization": {"set": True}}
    # Unticking Keep drops the secret header; the stale version is the 412 page.
    fields |= {"keep_header": "", "version": str(shown["version"])}
    del fields["keep_header"]
    dropped = await site.post(f"/ui/channels/{made['id']}/edit", {"csrf_token": csrf, **fields})
    assert dropped.status_code == 303
    shown = (await site.http.get(f"/api/v1/channels/{made['id']}", headers=site.api())).json()
    assert shown["channel"]["secret_headers"] == {}
    stale = await site.post(
        f"/ui/channels/{made['id']}/edit",
        {"csrf_token": csrf, **fields, "version": str(made["version"])},
    )
    assert stale.status_code == 412
    assert "Someone else changed it" in stale.text


REFUSALS = [
    ({"url": "ftp://x"}, "url-error", "http:// or https://"),
    ({"url": ""}, "url-error", "required"),
    ({"secret": "short"}, "secret-error", "16 to 1000 characters"),
    ({"headers": "no colon here"}, "headers-error", "line 1 must be Name: value"),
    ({"headers": "Host: evil"}, "headers-error", "Host: is set by the service"),
    ({"secret_headers": "X-Monitor-Sig: 1"}, "secret-headers-error", "set by the service"),
    ({"name": ""}, "name-error", ""),
    ({"name": "a\x00b"}, "name-error", ""),
    ({"description": "x" * 70_000}, "form-errors", "bytes"),
]


async def test_refusals_are_shown_beside_their_fields(site: Site) -> None:
    csrf = await site.sign_in("admin")
    for fields, error_id, message in REFUSALS:
        page = await site.post("/ui/channels/new", {"csrf_token": csrf, **webhook_form(**fields)})
        assert page.status_code == 400, (fields, page.text[:500])
        assert "The channel was not saved" in page.text
        assert f'id="{error_id}"' in page.text, fields
        assert message in page.text, fields
        assert HMAC_SECRET not in page.text and HEADER_SECRET not in page.text, "never echoed"
    assert channel_count(site.database_url) == 0


async def test_email_refusals_and_a_taken_name(site: Site) -> None:
    await site.api_channel(name="Taken")
    csrf = await site.sign_in("admin")
    email = {
        "kind": "email",
        "name": "mail",
        "enabled": "on",
        "host": "smtp.example.com",
        "security": "starttls",
        "port": "abc",
        "username": "",
        "from": "monitor@example.com",
        "to": "ops@example.com, not-an-address",
    }
    page = await site.post("/ui/channels/new", {"csrf_token": csrf, **email})
    assert page.status_code == 400
    assert 'id="port-error"' in page.text and 'id="to-error"' in page.text
    assert "not-an-address" in page.text, "typed input kept"
    taken = await site.post("/ui/channels/new", {"csrf_token": csrf, **webhook_form(name="taken")})
    assert taken.status_code == 409
    assert 'id="name-error"' in taken.text and "is taken by another channel" in taken.text
    assert channel_count(site.database_url) == 1


# Enabling, deleting.


async def test_disabling_keeps_secrets_and_deleting_asks_and_names_the_policies(
    site: Site,
) -> None:
    made = await site.api_channel()
    policy = await site.http.post(
        "/api/v1/notification-policies",
        json={"name": "on <call>", "position": 1, "channel_ids": [made["id"]]},
        headers=site.api(),
    )
    assert policy.status_code == 201
    csrf = await site.sign_in("admin")
    off = await site.post(
        f"/ui/channels/{made['id']}/enabled",
        {"csrf_token": csrf, "version": str(made["version"]), "enabled": "false"},
    )
    assert off.status_code == 303 and off.headers["location"] == "/ui/channels?done=disabled"
    shown = (await site.http.get(f"/api/v1/channels/{made['id']}", headers=site.api())).json()
    assert shown["channel"]["enabled"] is False and shown["secrets"] == "readable"
    confirm = await site.http.get(f"/ui/channels/{made['id']}/delete")
    assert confirm.status_code == 200
    assert "Delete the channel" in confirm.text and "on &lt;call&gt;" in confirm.text
    refused = await site.post(
        f"/ui/channels/{made['id']}/delete",
        {"csrf_token": csrf, "version": str(shown["version"])},
    )
    assert refused.status_code == 409
    assert "notification policies send to it" in refused.text
    assert (
        f'/ui/notification-policies/{policy.json()["id"]}/edit">on &lt;call&gt;</a>' in refused.text
    )
    await site.http.delete(
        f"/api/v1/notification-policies/{policy.json()['id']}", headers=site.api()
    )
    stale = await site.post(
        f"/ui/channels/{made['id']}/delete", {"csrf_token": csrf, "version": "1"}
    )
    assert stale.status_code == 412
    deleted = await site.post(
        f"/ui/channels/{made['id']}/delete",
        {"csrf_token": csrf, "version": str(shown["version"])},
    )
    assert deleted.status_code == 303 and deleted.headers["location"] == "/ui/channels?done=deleted"
    assert channel_count(site.database_url) == 0
    actions = [row["action"] for row in audit_of(site.database_url, made["id"])]
    assert actions == ["create", "update", "delete"]


# Testing.


async def test_the_test_button_shows_the_receivers_status_and_escaped_body(
    site: Site, nursery: trio.Nursery
) -> None:
    async def hostile(request: Received) -> Reply:
        return Reply(502, b"<b>bad gateway</b>" + b"x" * 5000)

    receiver = await start_receiver(nursery, hostile)
    made = await site.api_channel(url=receiver.url + "/hook")
    csrf = await site.sign_in("admin")
    page = await site.post(f"/ui/channels/{made['id']}/test", {"csrf_token": csrf})
    assert page.status_code == 200
    assert "<html" in page.text and "Not delivered" in page.text
    assert "<code>502</code>" in page.text
    assert "&lt;b&gt;bad gateway&lt;/b&gt;" in page.text and "<b>bad" not in page.text
    body = re.search(r'<pre class="test-body">(.*?)</pre>', page.text, re.S)
    assert body and body[1].endswith("…") and len(body[1]) < 2100
    in_place = await site.post(
        f"/ui/channels/{made['id']}/test",
        {"csrf_token": csrf},
        {"Origin": SITE, "HX-Request": "true"},
    )
    assert in_place.status_code == 200
    assert "<html" not in in_place.text and "<title>" not in in_place.text
    assert 'class="test-outcome' in in_place.text
    assert len(receiver.requests) == 2
    actions = [row["action"] for row in audit_of(site.database_url, made["id"])]
    assert actions == ["create", "test", "test"]
    listed = await site.http.get("/ui/channels")
    assert "failed" in listed.text and "(502)" in listed.text


# Refusals of every kind.


async def test_read_and_write_keys_see_but_cannot_change(site: Site) -> None:
    made = await site.api_channel()
    for role in ("read", "write"):
        csrf = await site.sign_in(role)
        assert (await site.http.get(f"/ui/channels/{made['id']}")).status_code == 200
        for path in (
            "/ui/channels/new",
            f"/ui/channels/{made['id']}/edit",
            f"/ui/channels/{made['id']}/delete",
        ):
            assert (await site.http.get(path)).status_code == 403, path
        for path, data in (
            ("/ui/channels/new", webhook_form()),
            (f"/ui/channels/{made['id']}/edit", webhook_form(version="1")),
            (f"/ui/channels/{made['id']}/enabled", {"version": "1", "enabled": "false"}),
            (f"/ui/channels/{made['id']}/delete", {"version": "1"}),
            (f"/ui/channels/{made['id']}/test", {}),
        ):
            assert (await site.post(path, {"csrf_token": csrf, **data})).status_code == 403, path
    assert [row["action"] for row in audit_of(site.database_url, made["id"])] == ["create"]


async def test_posts_without_the_token_or_from_elsewhere_are_refused(site: Site) -> None:
    made = await site.api_channel()
    token = await site.sign_in("admin")
    for csrf, origin in ((None, SITE), ("wrong", SITE), (token, FOREIGN), (token, None)):
        data: dict[str, str] = {} if csrf is None else {"csrf_token": csrf}
        headers = {"Accept": BROWSER_ACCEPT} | ({} if origin is None else {"Origin": origin})
        for path, fields in (
            ("/ui/channels/new", webhook_form()),
            (f"/ui/channels/{made['id']}/delete", {"version": "1"}),
            (f"/ui/channels/{made['id']}/test", {}),
        ):
            answer = await site.post(path, {**data, **fields}, headers)
            assert answer.status_code == 403, (path, csrf, origin)
    assert [row["action"] for row in audit_of(site.database_url, made["id"])] == ["create"]


async def test_unknown_ids_are_404_and_bad_forms_400(site: Site) -> None:
    made = await site.api_channel()
    csrf = await site.sign_in("admin")
    for path in (
        "/ui/channels/999999",
        "/ui/channels/999999/edit",
        "/ui/channels/99999999999999999999/delete",
    ):
        assert (await site.http.get(path)).status_code == 404, path
    assert (await site.post("/ui/channels/999999/test", {"csrf_token": csrf})).status_code == 404
    no_version = await site.post(
        f"/ui/channels/{made['id']}/enabled", {"csrf_token": csrf, "enabled": "false"}
    )
    assert no_version.status_code == 400
    odd = await site.post(
        f"/ui/channels/{made['id']}/enabled",
        {"csrf_token": csrf, "version": str(made["version"]), "enabled": "maybe"},
    )
    assert odd.status_code == 400
    no_kind = await site.post("/ui/channels/new", {"csrf_token": csrf, **webhook_form(kind="fax")})
    assert no_kind.status_code == 400
    huge = await site.http.post(
        "/ui/channels/new",
        content=b"csrf_token=" + csrf.encode() + b"&name=" + b"a" * (2 * 1024 * 1024),
        headers={
            "Origin": SITE,
            "Accept": BROWSER_ACCEPT,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert huge.status_code == 413
    assert channel_count(site.database_url) == 1
