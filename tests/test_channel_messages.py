"""Each kind's message, sent by notifications/delivery.py to a local receiver that checks
it against the shape the service documents (Slack Block Kit, Discord's execute-webhook,
PagerDuty Events API v2, Alertmanager API v2), and email to an in-process SMTP server
(aiosmtpd in a thread), with STARTTLS and a login."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from monitor.notifications.delivery import deliver
from monitor.notifications.groups import AlertInstance, NotificationGroup
from monitor.notifications.messages import (
    discord_document,
    pagerduty_document,
    slack_document,
    webhook_signature,
)
from monitor.outbound import OutboundLimits
from receivers import Received, Reply, start_receiver
from smtp_server import LOGIN, Mailbox, plain_smtp_server, starttls_smtp_server

NOW = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)
LIMITS = OutboundLimits(connect_timeout=2, read_timeout=5, total_timeout=10)
PUBLIC = "https://monitor.example.com"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def alert(host: str, *, status: str = "firing", **changes: Any) -> AlertInstance:
    fields: dict[str, Any] = {
        "labels": {"rule": "api latency high", "severity": "critical", "host": host},
        "annotations": {"summary": f"p95 0.8 s on {host}"},
        "status": status,
        "starts_at": NOW - dt.timedelta(minutes=5),
        "ends_at": NOW if status == "resolved" else None,
        "value": 0.8,
        "rule_id": 12,
        "instance_id": 340,
        **changes,
    }
    return AlertInstance(**fields)


def group(*alerts: AlertInstance, key: str = "n-1") -> NotificationGroup:
    return NotificationGroup(
        group_labels={"rule": "api latency high"},
        alerts=alerts,
        idempotency_key=key,
        public_url=PUBLIC,
        sent_at=NOW,
    )


FIFTY = group(*(alert(f"web-{n}") for n in range(50)))


# ---- shape checks, from each service's documentation --------------------------------


def check_slack(body: dict[str, Any]) -> None:
    assert isinstance(body["text"], str) and body["text"]
    blocks = body["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        assert block["type"] in {"header", "section", "context"}
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn" and len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10


def check_discord(body: dict[str, Any]) -> None:
    assert len(body["content"]) <= 2000
    assert body["allowed_mentions"] == {"parse": []}
    embeds = body["embeds"]
    assert len(embeds) <= 10
    total = 0
    for embed in embeds:
        assert len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
        assert isinstance(embed["color"], int) and 0 <= embed["color"] <= 0xFFFFFF
        assert RFC3339.match(embed["timestamp"])
        total += len(embed["title"]) + len(embed["description"])
    assert total <= 6000


def check_pagerduty(body: dict[str, Any]) -> None:
    assert body["event_action"] in {"trigger", "acknowledge", "resolve"}
    assert isinstance(body["routing_key"], str) and body["routing_key"]
    assert 1 <= len(body["dedup_key"]) <= 255
    if body["event_action"] == "trigger":
        payload = body["payload"]
        assert 1 <= len(payload["summary"]) <= 1024
        assert payload["source"]
        assert payload["severity"] in {"critical", "error", "warning", "info"}
        assert RFC3339.match(payload["timestamp"])
        for link in body.get("links", []):
            assert link["href"].startswith("http")
    else:
        assert "payload" not in body


def check_alertmanager(body: list[dict[str, Any]]) -> None:
    assert isinstance(body, list) and body
    for posted in body:
        assert posted["labels"] and "alertname" in posted["labels"]
        for name in (*posted["labels"], *posted["annotations"]):
            assert re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", name), name
        assert RFC3339.match(posted["startsAt"])
        if "endsAt" in posted:
            assert RFC3339.match(posted["endsAt"]) and posted["endsAt"] >= posted["startsAt"]
        assert posted["generatorURL"].startswith(PUBLIC + "/")


# ---- HTTP kinds against local receivers -------------------------------------------


async def test_slack_gets_one_block_kit_message_for_fifty_alerts(nursery: trio.Nursery) -> None:
    receiver = await start_receiver(nursery)
    result = await deliver("slack", {}, {"url": receiver.url + "/services/T/B/X"}, FIFTY, LIMITS)
    assert result.delivered
    [arrived] = receiver.requests
    assert arrived.path == "/services/T/B/X" and arrived.headers["idempotency-key"] == "n-1"
    body = arrived.json()
    check_slack(body)
    assert body["blocks"][0]["text"]["text"].startswith("[FIRING:50] api latency high")
    assert "40 more alert(s)" in body["blocks"][-1]["elements"][0]["text"]


async def test_discord_gets_embeds_without_mentions(nursery: trio.Nursery) -> None:
    receiver = await start_receiver(nursery)
    loud = alert("db", annotations={"summary": "@everyone <@123> look"})
    result = await deliver("discord", {}, {"url": receiver.url}, group(loud, *FIFTY.alerts), LIMITS)
    assert result.delivered
    body = receiver.requests[0].json()
    check_discord(body)
    assert body["embeds"][0]["title"].startswith("@everyone")  # shown, never pinging


async def test_pagerduty_triggers_acknowledges_and_resolves_one_incident(
    nursery: trio.Nursery,
) -> None:
    async def accepted(_: Received) -> Reply:
        return Reply(202, b'{"status":"success","message":"Event processed","dedup_key":"x"}')

    receiver = await start_receiver(nursery, accepted)
    settings = {"events_url": receiver.url + "/v2/enqueue"}
    secrets = {"routing_key": "R0UT1NGK3Y0123456789012345678901"}
    for alerts in (
        (alert("a"), alert("b")),
        (alert("a", acknowledged=True), alert("b", acknowledged=True)),
        (alert("a", status="resolved"), alert("b", status="resolved")),
    ):
        assert (await deliver("pagerduty", settings, secrets, group(*alerts), LIMITS)).delivered
    bodies = [request.json() for request in receiver.requests]
    for body in bodies:
        check_pagerduty(body)
    assert [body["event_action"] for body in bodies] == ["trigger", "acknowledge", "resolve"]
    assert len({body["dedup_key"] for body in bodies}) == 1
    assert bodies[0]["payload"]["severity"] == "critical"
    assert all(request.path == "/v2/enqueue" for request in receiver.requests)


async def test_alertmanager_gets_v2_postable_alerts(nursery: trio.Nursery) -> None:
    receiver = await start_receiver(nursery)
    odd = alert("c", labels={"rule": "r", "severity": "info", "host": "c", "bad": ""},
                annotations={"runbook-url": "https://x"})  # fmt: skip
    alerts = group(alert("a"), alert("b", status="resolved"), odd)
    result = await deliver(
        "alertmanager",
        {"url": receiver.url + "/am/", "headers": {"X-Scope": "ops"}},
        {"header:Authorization": "Basic eDp5"},
        alerts,
        LIMITS,
    )
    assert result.delivered
    [arrived] = receiver.requests
    assert arrived.path == "/am/api/v2/alerts"
    assert arrived.headers["authorization"] == "Basic eDp5" and arrived.headers["x-scope"] == "ops"
    body = arrived.json()
    check_alertmanager(body)
    firing, resolved, third = body
    assert "endsAt" not in firing and resolved["endsAt"] == "2026-12-03T08:00:00Z"
    assert firing["labels"]["alertname"] == "api latency high"
    assert firing["generatorURL"] == f"{PUBLIC}/ui/alerts/rules/12"
    assert "bad" not in third["labels"] and "runbook_url" in third["annotations"]


async def test_the_webhook_body_is_signed_over_timestamp_and_body(nursery: trio.Nursery) -> None:
    receiver = await start_receiver(nursery)
    secret = "0123456789abcdef-secret"
    result = await deliver(
        "webhook", {"url": receiver.url, "headers": {}}, {"secret": secret}, FIFTY, LIMITS
    )
    assert result.delivered
    [arrived] = receiver.requests
    timestamp = arrived.headers["x-monitor-timestamp"]
    assert timestamp == str(int(NOW.timestamp()))
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + arrived.body, hashlib.sha256)
    assert arrived.headers["x-monitor-signature"] == "sha256=" + mac.hexdigest()
    tampered = webhook_signature(secret, timestamp, arrived.body + b" ")
    assert tampered != arrived.headers["x-monitor-signature"]
    body = arrived.json()
    assert len(body["alerts"]) == 50 and body["status"] == "firing"
    assert body["common_labels"] == {"rule": "api latency high", "severity": "critical"}
    assert body["alerts"][0]["url"] == f"{PUBLIC}/ui/alerts/rules/12"


texts = st.text(max_size=400)
label_maps = st.dictionaries(
    st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True), texts, max_size=8
)


@given(
    st.lists(
        st.builds(
            lambda labels, annotations, status, value: alert(
                "h", labels=labels, annotations=annotations, status=status, value=value
            ),
            label_maps,
            st.dictionaries(st.sampled_from(["summary", "description", "x"]), texts, max_size=3),
            st.sampled_from(["firing", "resolved"]),
            st.none() | st.floats(allow_nan=True, allow_infinity=True),
        ),
        min_size=1,
        max_size=30,
    ),
    st.booleans(),
)
def test_chat_and_pager_messages_stay_within_the_services_limits(
    alerts: list[AlertInstance], acknowledged: bool
) -> None:
    built = group(*alerts)
    check_slack(slack_document(built))
    check_discord(discord_document(built))
    check_pagerduty(pagerduty_document(built, routing_key="k"))


# ---- email against aiosmtpd ---------------------------------------------------------


@pytest.fixture
def plain_smtp() -> Iterator[tuple[int, Mailbox]]:
    with plain_smtp_server() as server:
        yield server


@pytest.fixture
def starttls_smtp(tmp_path: Path) -> Iterator[tuple[int, Mailbox, ssl.SSLContext]]:
    with starttls_smtp_server(tmp_path) as server:
        yield server


def email_settings(port: int, **changes: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": "",
        "from": "monitor@example.com",
        "to": ["ops@example.com", "dev@example.com"],
        **changes,
    }


async def test_email_has_plain_text_and_html_parts(plain_smtp: tuple[int, Mailbox]) -> None:
    port, mailbox = plain_smtp
    loud = alert("x", annotations={"summary": "<script>alert(1)</script>"})
    result = await deliver("email", email_settings(port), {}, group(loud, key="mail-1"), LIMITS)
    assert result.delivered, result
    [(sender, recipients, message)] = mailbox.messages
    assert sender == "monitor@example.com"
    assert recipients == ["ops@example.com", "dev@example.com"]
    assert message["Subject"].startswith("[FIRING:1] api latency high")
    assert message["Message-ID"] == "<mail-1@monitor>"
    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None and rich is not None
    assert "<script>" in plain.get_content()
    assert "<script>" not in rich.get_content() and "&lt;script&gt;" in rich.get_content()


async def test_email_over_starttls_with_a_login(
    starttls_smtp: tuple[int, Mailbox, ssl.SSLContext],
) -> None:
    port, mailbox, trusted = starttls_smtp
    settings = email_settings(port, host="localhost", security="starttls", username=LOGIN[0])
    result = await deliver(
        "email", settings, {"password": LOGIN[1]}, group(alert("a")), LIMITS, tls_context=trusted
    )
    assert result.delivered, result
    assert mailbox.logins == [LOGIN[0]] and len(mailbox.messages) == 1

    # aiosmtpd answers a wrong password by leaving smtplib waiting: a failure all the same.
    impatient = OutboundLimits(connect_timeout=2, read_timeout=1, total_timeout=5)
    wrong = await deliver(
        "email", settings, {"password": "nope"}, group(alert("a")), impatient, tls_context=trusted
    )
    assert not wrong.delivered and wrong.failure is not None

    untrusted = await deliver("email", settings, {"password": LOGIN[1]}, group(alert("a")), LIMITS)
    assert untrusted.failure is not None and untrusted.failure.kind == "tls_error"
    plain = await deliver("email", email_settings(port), {}, group(alert("a")), LIMITS)
    assert plain.failure is not None and plain.failure.kind == "smtp_error"  # STARTTLS required
    assert len(mailbox.messages) == 1


async def test_email_to_a_private_server_is_refused_when_asked(
    plain_smtp: tuple[int, Mailbox],
) -> None:
    port, mailbox = plain_smtp
    refusing = OutboundLimits(refuse_private=True)
    result = await deliver("email", email_settings(port), {}, group(alert("a")), refusing)
    assert result.failure is not None and result.failure.kind == "refused_address"
    assert mailbox.messages == []


async def test_unreadable_secrets_fail_before_anything_is_sent(nursery: trio.Nursery) -> None:
    receiver = await start_receiver(nursery)
    result = await deliver("webhook", {"url": receiver.url}, None, FIFTY, LIMITS)
    assert result.failure is not None and result.failure.kind == "secret_unreadable"
    assert receiver.requests == []
