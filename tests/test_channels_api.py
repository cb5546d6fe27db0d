"""Notification channels through HTTP: CRUD with versions and If-Match, secrets that are
never answered and are kept with {"set": true}, each kind's fields checked and named,
roles, audit rows without secrets, tests sent to local receivers, a secret sealed under
another key, and hostile input."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from typing import Any

import httpx
import psycopg
import pytest
import trio

from conftest import MakeKey, StartService
from monitor.config import Settings
from monitor.domain.signing import SecretKeys
from monitor.secret_box import SecretBox
from receivers import Received, Reply, start_receiver
from smtp_server import plain_smtp_server

CHANNELS = "/api/v1/channels"
HMAC_SECRET = "s3cret-webhook-key-0123456789"


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"X-API-Key": token, **headers}


def unique(prefix: str = "channel") -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def webhook(url: str = "https://hooks.example.com/monitor", **fields: Any) -> dict[str, Any]:
    return {
        "name": unique(),
        "kind": "webhook",
        "url": url,
        "secret": HMAC_SECRET,
        "headers": {"X-Team": "ops"},
        "secret_headers": {"Authorization": "Bearer hidden-token"},
        **fields,
    }


def fields_named(response: httpx.Response) -> set[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {error["field"] for error in response.json()["errors"]}


def audit_rows(database_url: str, resource_id: int) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "select action, coalesce(before::text, '') || coalesce(after::text, '') "
            "from audit_log where resource = 'notification_channel' and resource_id = %s "
            "order by id",
            (str(resource_id),),
        ).fetchall()
    return [(action, text) for action, text in rows]


def stored_row(database_url: str, channel_id: int) -> tuple[str, str | None]:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "select settings::text, secrets from notification_channels where id = %s",
            (channel_id,),
        ).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.fixture
async def admin(make_key: MakeKey) -> str:
    return (await make_key("admin", name=unique("channels admin")))[1]


async def create(client: httpx.AsyncClient, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(CHANNELS, headers=auth(token), json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_channel_round_trips_without_ever_answering_its_secrets(
    client: httpx.AsyncClient, admin: str, database_url: str
) -> None:
    body = webhook()
    response = await client.post(CHANNELS, headers=auth(admin), json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == f"{CHANNELS}/{created['id']}"
    assert response.headers["ETag"] == '"1"'
    assert created["secrets"] == "readable"
    assert created["channel"] == {
        "name": body["name"],
        "kind": "webhook",
        "enabled": True,
        "description": "",
        "send_resolved": True,
        "url": body["url"],
        "headers": {"X-Team": "ops"},
        "secret": {"set": True},
        "secret_headers": {"Authorization": {"set": True}},
    }
    got = await client.get(f"{CHANNELS}/{created['id']}", headers=auth(admin))
    assert (got.status_code, got.headers["ETag"], got.json()) == (200, '"1"', created)
    listed = (await client.get(CHANNELS, headers=auth(admin))).json()["channels"]
    assert created in listed
    for text in (response.text, got.text, json.dumps(listed)):
        assert HMAC_SECRET not in text and "hidden-token" not in text

    # In the database: sealed, not in the clear.
    settings, sealed = stored_row(database_url, created["id"])
    assert sealed is not None and HMAC_SECRET not in sealed and "hidden-token" not in sealed
    assert HMAC_SECRET not in settings

    # Sending the channel back as read keeps its secrets and changes nothing.
    same = await client.put(
        f"{CHANNELS}/{created['id']}", headers=auth(admin), json=created["channel"]
    )
    assert same.status_code == 200 and same.json()["version"] == 1
    assert stored_row(database_url, created["id"])[1] == sealed

    disabled = await client.put(
        f"{CHANNELS}/{created['id']}",
        headers=auth(admin, **{"If-Match": '"1"'}),
        json={**created["channel"], "enabled": False},
    )
    assert (disabled.status_code, disabled.headers["ETag"]) == (200, '"2"')
    assert disabled.json()["channel"]["secret"] == {"set": True}
    stale = await client.put(
        f"{CHANNELS}/{created['id']}",
        headers=auth(admin, **{"If-Match": '"1"'}),
        json=created["channel"],
    )
    assert stale.status_code == 412 and stale.headers["ETag"] == '"2"'
    assert stale.json()["type"] == "urn:monitor:problem:stale-version"

    # Leaving a secret header out removes it; the HMAC secret is required.
    without = {**created["channel"], "secret_headers": {}}
    removed = await client.put(f"{CHANNELS}/{created['id']}", headers=auth(admin), json=without)
    assert removed.json()["channel"]["secret_headers"] == {}
    no_secret = {key: value for key, value in without.items() if key != "secret"}
    assert "secret" in fields_named(
        await client.put(f"{CHANNELS}/{created['id']}", headers=auth(admin), json=no_secret)
    )

    refused = await client.delete(
        f"{CHANNELS}/{created['id']}", headers=auth(admin, **{"If-Match": '"1"'})
    )
    assert refused.status_code == 412
    deleted = await client.delete(f"{CHANNELS}/{created['id']}", headers=auth(admin))
    assert deleted.status_code == 204
    assert (await client.get(f"{CHANNELS}/{created['id']}", headers=auth(admin))).status_code == 404
    assert stored_row(database_url, created["id"])[1] is None, "a deleted channel's secrets stay"

    rows = audit_rows(database_url, created["id"])
    assert [action for action, _ in rows] == ["create", "update", "update", "delete"]
    for _, text in rows:
        assert HMAC_SECRET not in text and "hidden-token" not in text


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "slack", "url": "https://hooks.slack.com/services/T0/B0/XXXX"},
        {"kind": "discord", "url": "https://discord.com/api/webhooks/1/abc"},
        {"kind": "email", "host": "smtp.example.com", "from": "monitor@example.com",
         "to": ["ops@example.com", "dev@example.com"], "username": "u", "password": "p"},
        {"kind": "email", "host": "10.0.0.5", "security": "tls", "from": "m@example.com",
         "to": ["ops@example.com"]},
        {"kind": "alertmanager", "url": "http://alertmanager:9093",
         "secret_headers": {"Authorization": "Basic eDp5"}},
        {"kind": "pagerduty", "routing_key": "R0UT1NGK3Y"},
        {"kind": "pagerduty", "routing_key": "R0UT1NGK3Y",
         "events_url": "http://127.0.0.1:1/v2/enqueue"},
    ],
    ids=lambda body: f"{body['kind']}-{len(body)}",
)  # fmt: skip
async def test_every_kind_is_accepted_with_its_defaults_written_out(
    client: httpx.AsyncClient, admin: str, body: dict[str, Any]
) -> None:
    created = await create(client, admin, {"name": unique(), **body})
    shown = created["channel"]
    for key in ("url", "password", "routing_key"):
        if key in body and (body["kind"] != "alertmanager" or key != "url"):
            assert shown[key] == {"set": True}, key
    if body["kind"] == "email":
        assert shown["port"] == (465 if body.get("security") == "tls" else 587)
    if body["kind"] == "pagerduty":
        default = "https://events.pagerduty.com/v2/enqueue"
        assert shown["events_url"] == body.get("events_url", default)
    again = await client.put(f"{CHANNELS}/{created['id']}", headers=auth(admin), json=shown)
    assert again.json()["version"] == 1, "sending the channel back changes nothing"


def _bad(change: dict[str, Any]) -> dict[str, Any]:
    body = webhook()
    for key, value in change.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"name": ""}, {"name"}),
        ({"name": "x" * 201}, {"name"}),
        ({"name": "tab\there"}, {"name"}),
        ({"name": 7}, {"name"}),
        ({"kind": "carrier-pigeon"}, {"kind"}),
        ({"kind": None}, {"kind"}),
        ({"url": "ftp://example.com/x"}, {"url"}),
        ({"url": "http://user:pw@example.com/"}, {"url"}),
        ({"url": "https://exa mple.com/"}, {"url"}),
        ({"url": "https://example.com:99999/"}, {"url"}),
        ({"url": None}, {"url"}),
        ({"secret": "short"}, {"secret"}),
        ({"secret": None}, {"secret"}),
        ({"secret": {"set": True}}, {"secret"}),  # nothing stored to keep
        ({"secret": {"set": False}}, {"secret"}),
        ({"headers": {"Content-Type": "text/plain"}}, {"headers.Content-Type"}),
        ({"headers": {"X-Monitor-Signature": "forged"}}, {"headers.X-Monitor-Signature"}),
        ({"headers": {"Bad Header": "x"}}, {"headers.Bad Header"}),
        ({"headers": {"X-A": "line\r\nX-Injected: 1"}}, {"headers.X-A"}),
        ({"headers": {"X-A": 5}}, {"headers.X-A"}),
        ({"headers": {f"X-{n}": "v" for n in range(21)}}, {"headers"}),
        ({"secret_headers": {"X-Team": "dup"}}, {"secret_headers"}),
        ({"enabled": "yes"}, {"enabled"}),
        ({"host": "smtp.example.com"}, {"host"}),  # not a webhook's field
        ({"description": "\x00"}, {"description"}),
    ],
    ids=lambda value: ",".join(sorted(value)) if isinstance(value, set) else str(value)[:40],
)
async def test_each_bad_field_is_named_and_nothing_is_stored(
    client: httpx.AsyncClient, admin: str, change: dict[str, Any], named: set[str]
) -> None:
    body = _bad(change)
    response = await client.post(CHANNELS, headers=auth(admin), json=body)
    assert named <= fields_named(response)
    assert HMAC_SECRET not in response.text, "a refusal repeats no secret"
    listed = (await client.get(CHANNELS, headers=auth(admin))).json()["channels"]
    assert body.get("name") not in [item["channel"]["name"] for item in listed]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"kind": "email", "host": "smtp.example.com", "from": "a@example.com", "to": []},
         {"to"}),
        ({"kind": "email", "host": "smtp.example.com", "from": "Ops <a@example.com>",
          "to": ["b@example.com"]}, {"from"}),
        ({"kind": "email", "host": "smtp.example.com", "from": "a@example.com",
          "to": ["b@example.com", "B@example.com"]}, {"to"}),
        ({"kind": "email", "host": "smtp.example.com", "from": "a@example.com",
          "to": ["b@example.com"], "username": "u"}, {"password"}),
        ({"kind": "email", "host": "smtp.example.com", "from": "a@example.com",
          "to": ["b@example.com"], "security": "ssl", "port": 0}, {"security", "port"}),
        ({"kind": "slack"}, {"url"}),
        ({"kind": "slack", "url": "https://hooks.slack.com/x", "headers": {}}, {"headers"}),
        ({"kind": "pagerduty"}, {"routing_key"}),
        ({"kind": "pagerduty", "routing_key": "k", "events_url": "mailto:x@y"},
         {"events_url"}),
        ({"kind": "alertmanager"}, {"url"}),
    ],
    # Sets sorted: parallel workers must collect the same ids.
    ids=lambda value: ",".join(sorted(value)) if isinstance(value, set) else str(value)[:50],
)  # fmt: skip
async def test_each_kinds_fields_are_checked(
    client: httpx.AsyncClient, admin: str, body: dict[str, Any], named: set[str]
) -> None:
    response = await client.post(CHANNELS, headers=auth(admin), json={"name": unique(), **body})
    assert named <= fields_named(response)


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b'{"name": ', 400),
        (b"[1, 2]", 400),
        (b"null", 400),
        (b"[" * 100_000, 413),
        (b"\xff\xfe", 400),
        (json.dumps({**webhook(), "description": "x" * 100_000}).encode(), 413),
        (json.dumps({**webhook(), "description": "x" * 70_000}).encode(), 400),
        (json.dumps({**webhook(), "name": "\ud800"}).encode(), 400),
        (json.dumps({**webhook(), "name": "😀 ünïcode ✓"}).encode(), 201),
    ],
    # Fixed ids: the bodies hold random names, and parallel workers must collect alike.
    ids=["cut-off", "array", "null", "deep", "not-utf8", "too-big", "too-long",
         "lone-surrogate", "unicode-name"],
)  # fmt: skip
async def test_undecodable_oversized_or_strange_bodies(
    client: httpx.AsyncClient, admin: str, content: bytes, status: int
) -> None:
    response = await client.post(
        CHANNELS, headers=auth(admin, **{"Content-Type": "application/json"}), content=content
    )
    assert response.status_code == status, response.text
    if status != 201:
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_body_that_is_not_json_is_a_415(client: httpx.AsyncClient, admin: str) -> None:
    response = await client.post(
        CHANNELS, headers=auth(admin, **{"Content-Type": "text/plain"}), content=b"{}"
    )
    assert response.status_code == 415


async def test_names_are_unique_whatever_their_case(client: httpx.AsyncClient, admin: str) -> None:
    first = await create(client, admin, webhook())
    taken = await client.post(
        CHANNELS, headers=auth(admin), json=webhook(name=first["channel"]["name"].upper())
    )
    assert taken.status_code == 409 and taken.json()["type"] == "urn:monitor:problem:name_taken"


async def test_a_malformed_if_match_is_a_400(client: httpx.AsyncClient, admin: str) -> None:
    created = await create(client, admin, webhook())
    response = await client.put(
        f"{CHANNELS}/{created['id']}",
        headers=auth(admin, **{"If-Match": "3"}),
        json=created["channel"],
    )
    assert "If-Match" in fields_named(response)


@pytest.mark.parametrize(
    "path",
    [f"{CHANNELS}/999999999999", f"{CHANNELS}/{2**63}", f"{CHANNELS}/{10**30}",
     f"{CHANNELS}/abc", f"{CHANNELS}/-1", f"{CHANNELS}/1.5"],
)  # fmt: skip
async def test_unknown_or_garbled_channel_ids_are_404(
    client: httpx.AsyncClient, admin: str, path: str
) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(method, path, headers=auth(admin), json=webhook())
        assert response.status_code == 404, (method, path, response.text)
    tested = await client.post(f"{path}/test", headers=auth(admin))
    assert tested.status_code == 404


async def test_reading_is_reads_changing_and_testing_are_admins(
    client: httpx.AsyncClient, admin: str, make_key: MakeKey
) -> None:
    created = await create(client, admin, webhook())
    path = f"{CHANNELS}/{created['id']}"
    _, reader = await make_key("read")
    _, writer = await make_key("write")
    assert (await client.get(CHANNELS, headers=auth(reader))).status_code == 200
    read = await client.get(path, headers=auth(reader))
    assert read.status_code == 200 and HMAC_SECRET not in read.text
    for token in (reader, writer):
        assert (await client.post(CHANNELS, headers=auth(token), json=webhook())).status_code == 403
        assert (
            await client.put(path, headers=auth(token), json=created["channel"])
        ).status_code == 403
        assert (await client.delete(path, headers=auth(token))).status_code == 403
        assert (await client.post(f"{path}/test", headers=auth(token))).status_code == 403
    assert (await client.get(CHANNELS)).status_code == 401


async def test_a_webhook_test_is_signed_and_answers_the_receivers_reply(
    client: httpx.AsyncClient, admin: str, nursery: trio.Nursery, database_url: str
) -> None:
    async def teapot(request: Received) -> Reply:
        return Reply(418, b"short and stout " * 600)

    receiver = await start_receiver(nursery, teapot)
    created = await create(client, admin, webhook(url=receiver.url + "/hook"))
    response = await client.post(f"{CHANNELS}/{created['id']}/test", headers=auth(admin))
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert (outcome["delivered"], outcome["status"], outcome["failure"]) == (False, 418, None)
    assert outcome["body"].startswith("short and stout") and outcome["body_truncated"]
    assert len(outcome["body"]) == 4096

    [arrived] = receiver.requests
    assert arrived.path == "/hook"
    timestamp = arrived.headers["x-monitor-timestamp"]
    expected = hmac.new(
        HMAC_SECRET.encode(), timestamp.encode() + b"." + arrived.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(arrived.headers["x-monitor-signature"], "sha256=" + expected)
    assert arrived.headers["idempotency-key"] == outcome["idempotency_key"]
    assert arrived.headers["authorization"] == "Bearer hidden-token"
    assert arrived.headers["x-team"] == "ops"
    document = arrived.json()
    assert document["schema"] == "monitor.notification/v1" and document["test"] is True
    assert document["idempotency_key"] == outcome["idempotency_key"]
    assert document["alerts"][0]["status"] == "firing"

    rows = audit_rows(database_url, created["id"])
    assert [action for action, _ in rows] == ["create", "test"]
    assert '"status": 418' in rows[-1][1] and HMAC_SECRET not in rows[-1][1]


async def test_a_test_that_cannot_connect_answers_why(
    client: httpx.AsyncClient, admin: str
) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()
    created = await create(client, admin, webhook(url=f"http://127.0.0.1:{port}/"))
    outcome = (await client.post(f"{CHANNELS}/{created['id']}/test", headers=auth(admin))).json()
    assert outcome["delivered"] is False and outcome["status"] is None
    assert outcome["failure"]["kind"] == "connect_error"


async def test_secrets_sealed_under_another_key_are_unreadable_not_a_500(
    client: httpx.AsyncClient, admin: str, database_url: str, nursery: trio.Nursery
) -> None:
    receiver = await start_receiver(nursery)
    created = await create(client, admin, webhook(url=receiver.url))
    other = SecretBox(SecretKeys(b"another-key-entirely-" * 3))
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "update notification_channels set secrets = %s where id = %s",
            (other.seal({"secret": HMAC_SECRET}), created["id"]),
        )
    got = await client.get(f"{CHANNELS}/{created['id']}", headers=auth(admin))
    assert got.status_code == 200 and got.json()["secrets"] == "unreadable"
    listed = (await client.get(CHANNELS, headers=auth(admin))).json()["channels"]
    assert {item["id"]: item["secrets"] for item in listed}[created["id"]] == "unreadable"

    outcome = (await client.post(f"{CHANNELS}/{created['id']}/test", headers=auth(admin))).json()
    assert outcome["delivered"] is False
    assert outcome["failure"]["kind"] == "secret_unreadable"
    assert "secret unreadable" in outcome["failure"]["message"]
    assert receiver.requests == [], "nothing was sent"

    # Keeping the unreadable secret is refused by name; sending it again mends the channel.
    kept = await client.put(
        f"{CHANNELS}/{created['id']}", headers=auth(admin), json=got.json()["channel"]
    )
    assert "secret" in fields_named(kept)
    mended = await client.put(
        f"{CHANNELS}/{created['id']}",
        headers=auth(admin),
        json={**got.json()["channel"], "secret": HMAC_SECRET, "secret_headers": {}},
    )
    assert mended.status_code == 200 and mended.json()["secrets"] == "readable"
    outcome = (await client.post(f"{CHANNELS}/{created['id']}/test", headers=auth(admin))).json()
    assert outcome["delivered"] is True and len(receiver.requests) == 1


async def test_no_secret_reaches_the_log(
    client: httpx.AsyncClient,
    admin: str,
    nursery: trio.Nursery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = await start_receiver(nursery)
    created = await create(client, admin, webhook(url=receiver.url))
    path = f"{CHANNELS}/{created['id']}"
    await client.post(f"{path}/test", headers=auth(admin))
    await client.put(path, headers=auth(admin), json={**created["channel"], "secret": "x"})
    await client.put(path, headers=auth(admin), json=created["channel"])
    await client.delete(path, headers=auth(admin))
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert logged, "nothing was logged: the check would be empty"
    assert HMAC_SECRET not in logged and "hidden-token" not in logged


async def test_the_refusal_setting_reaches_a_channels_test(
    start_service: StartService, settings: Settings, make_key: MakeKey, nursery: trio.Nursery
) -> None:
    """With MONITOR_OUTBOUND_REFUSE_PRIVATE on, a receiver on loopback (by name: it is
    the resolved address that is judged) is refused and sent nothing."""
    receiver = await start_receiver(nursery)
    refusing = await start_service(settings.replace(outbound_refuse_private=True))
    _, token = await make_key("admin")
    async with httpx.AsyncClient(base_url=refusing.base_url) as client:
        created = await create(client, token, webhook(url=f"http://localhost:{receiver.port}/hook"))
        response = await client.post(f"{CHANNELS}/{created['id']}/test", headers=auth(token))
    outcome = response.json()
    assert outcome["delivered"] is False and outcome["failure"]["kind"] == "refused_address"
    assert receiver.requests == []


async def test_an_email_channels_test_reaches_the_smtp_server_even_when_disabled(
    client: httpx.AsyncClient, admin: str, database_url: str
) -> None:
    with plain_smtp_server() as (port, mailbox):
        created = await create(
            client,
            admin,
            {
                "name": unique(),
                "kind": "email",
                "enabled": False,  # tested all the same
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "from": "monitor@example.com",
                "to": ["ops@example.com"],
            },
        )
        response = await client.post(f"{CHANNELS}/{created['id']}/test", headers=auth(admin))
        outcome = response.json()
        assert (outcome["delivered"], outcome["status"], outcome["failure"]) == (True, 250, None)
        [(sender, recipients, message)] = mailbox.messages
    assert (sender, recipients) == ("monitor@example.com", ["ops@example.com"])
    assert message["Subject"].startswith("[TEST] [FIRING:1] monitor test")
    assert message["Message-ID"] == f"<{outcome['idempotency_key']}@monitor>"
