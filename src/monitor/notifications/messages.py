"""What each kind of channel sends for a notification group: pure functions.

`build_message(kind, settings, secrets, group)` gives an `HttpMessage`
(method, URL, headers, body) for the HTTP kinds and an `EmailMessage` for
email; nothing here sends, reads a clock or touches the database, so the
notifier and a channel's test build the very same messages.

Every message carries the group's idempotency key: the `Idempotency-Key`
header for HTTP kinds (and `idempotency_key` in the webhook's body), the
`Message-ID` of an email, the `dedup_key` of a PagerDuty event (there the
group's key, so that trigger and resolve concern one incident).

Texts from labels and annotations are bounded to what each service accepts
(Slack's Block Kit, Discord's embeds, PagerDuty's summary) and escaped for
its markup; Discord mentions are switched off (`allowed_mentions`).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from monitor.notifications.groups import AlertInstance, NotificationGroup

WEBHOOK_SCHEMA = "monitor.notification/v1"
SIGNATURE_HEADER = "X-Monitor-Signature"
TIMESTAMP_HEADER = "X-Monitor-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_LISTED = 10  # alerts spelled out in a chat message; the rest are counted
SLACK_HEADER_CHARS = 150
SLACK_SECTION_CHARS = 3000
DISCORD_CONTENT_CHARS = 2000
DISCORD_TITLE_CHARS = 256
DISCORD_DESCRIPTION_CHARS = 400  # x 10 embeds stays under Discord's 6,000 in all
PAGERDUTY_SUMMARY_CHARS = 1024
PAGERDUTY_SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info"}
COLOURS = {"firing": 0xD93F0B, "resolved": 0x2DA44E}


@dataclass(frozen=True)
class HttpMessage:
    method: str
    url: str
    headers: dict[str, str] = field(repr=False)  # may carry secret headers
    body: bytes
    # Names of the headers that are secrets: not sent on to another origin by a redirect.
    private_headers: frozenset[str] = frozenset()


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _rule_names(group: NotificationGroup) -> str:
    names = sorted({alert.labels.get("rule", "") for alert in group.alerts} - {""})
    return ", ".join(names) if names else "alert"


def title(group: NotificationGroup) -> str:
    """`[FIRING:3] api latency high (host=a)`: the one line every kind starts with."""
    count = len(group.firing()) if group.status == "firing" else len(group.resolved())
    labels = ", ".join(f"{key}={value}" for key, value in sorted(group.group_labels.items()))
    prefix = "[TEST] " if group.test else ""
    text = f"{prefix}[{group.status.upper()}:{count}] {_rule_names(group)}"
    return _one_line(f"{text} ({labels})" if labels else text)


def _summary(alert: AlertInstance) -> str:
    for key in ("summary", "description"):
        if alert.annotations.get(key):
            return _one_line(alert.annotations[key])
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "rule")
    return _one_line(f"{alert.labels.get('rule', 'alert')} {labels}")


def _base_headers(group: NotificationGroup) -> dict[str, str]:
    return {"Content-Type": "application/json", IDEMPOTENCY_HEADER: group.idempotency_key}


# ---- webhook -------------------------------------------------------------------------


def webhook_document(group: NotificationGroup) -> dict[str, Any]:
    """The webhook body, schema monitor.notification/v1 (docs/notifications.md)."""
    return {
        "schema": WEBHOOK_SCHEMA,
        "idempotency_key": group.idempotency_key,
        "test": group.test,
        "status": group.status,
        "group_key": group.group_key,
        "group_labels": dict(sorted(group.group_labels.items())),
        "common_labels": group.common_labels(),
        "common_annotations": group.common_annotations(),
        "sent_at": rfc3339(group.sent_at),
        "alerts": [
            {
                "status": alert.status,
                "labels": dict(sorted(alert.labels.items())),
                "annotations": dict(sorted(alert.annotations.items())),
                "starts_at": rfc3339(alert.starts_at),
                "ends_at": rfc3339(alert.ends_at) if alert.ends_at else None,
                "value": _finite(alert.value),
                "acknowledged": alert.acknowledged,
                "rule_id": alert.rule_id,
                "instance_id": alert.instance_id,
                "url": group.link(alert),
            }
            for alert in group.alerts
        ],
    }


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 under the channel's secret of `<timestamp>.<body>`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def build_webhook(
    group: NotificationGroup,
    *,
    url: str,
    secret: str,
    headers: Mapping[str, str] = {},
) -> HttpMessage:
    body = _json(webhook_document(group))
    timestamp = str(int(group.sent_at.timestamp()))
    signed = {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(secret, timestamp, body),
    }
    return HttpMessage("POST", url, {**headers, **_base_headers(group), **signed}, body)


# ---- slack ---------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn: only &, < and > are control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _alert_line(alert: AlertInstance) -> str:
    value = _finite(alert.value)
    shown_value = f" (value {value:g})" if value is not None else ""
    return f"{_summary(alert)}{shown_value}"


def slack_document(group: NotificationGroup) -> dict[str, Any]:
    """A Block Kit message: a header, one section per listed alert, a context line."""
    heading = title(group)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(heading, SLACK_HEADER_CHARS)},
        }
    ]
    for alert in group.alerts[:MAX_LISTED]:
        marker = ":red_circle:" if alert.status == "firing" else ":large_green_circle:"
        labels = ", ".join(
            f"`{_slack_escape(k)}={_slack_escape(v)}`" for k, v in sorted(alert.labels.items())
        )
        line = (
            f"{marker} *{_slack_escape(_alert_line(alert))}*\n{labels}\n"
            f"<{group.link(alert)}|details>"
        )
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(line, SLACK_SECTION_CHARS)},
            }
        )
    more = len(group.alerts) - MAX_LISTED
    context = f"{more} more alert(s) in this group · " if more > 0 else ""
    context += f"<{group.public_url}/ui/alerts|open monitor>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": _clip(heading, SLACK_SECTION_CHARS), "blocks": blocks}


def build_slack(group: NotificationGroup, *, url: str) -> HttpMessage:
    return HttpMessage("POST", url, _base_headers(group), _json(slack_document(group)))


# ---- discord -------------------------------------------------------------------------


def discord_document(group: NotificationGroup) -> dict[str, Any]:
    """An execute-webhook body: content, up to 10 embeds, and no mentions."""
    embeds = []
    for alert in group.alerts[:MAX_LISTED]:
        labels = "\n".join(f"{k}: {v}" for k, v in sorted(alert.labels.items()))
        embeds.append(
            {
                "title": _clip(_alert_line(alert), DISCORD_TITLE_CHARS),
                "description": _clip(labels, DISCORD_DESCRIPTION_CHARS),
                "url": group.link(alert),
                "color": COLOURS[alert.status],
                "timestamp": rfc3339(alert.ends_at or alert.starts_at),
            }
        )
    more = len(group.alerts) - MAX_LISTED
    content = title(group) + (f" (+{more} more)" if more > 0 else "")
    return {
        "content": _clip(content, DISCORD_CONTENT_CHARS),
        "embeds": embeds,
        "allowed_mentions": {"parse": []},
    }


def build_discord(group: NotificationGroup, *, url: str) -> HttpMessage:
    return HttpMessage("POST", url, _base_headers(group), _json(discord_document(group)))


# ---- alertmanager --------------------------------------------------------------------


def _label_name(name: str) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else "_" + cleaned


def alertmanager_document(group: NotificationGroup) -> list[dict[str, Any]]:
    """The body of `POST /api/v2/alerts`: one postable alert per instance. A firing one
    has no `endsAt` (Alertmanager keeps it for its resolve_timeout, so the notifier
    posts it again while it fires); a resolved one ends at its resolution."""
    alerts = []
    for alert in group.alerts:
        labels = {_label_name(k): v for k, v in sorted(alert.labels.items()) if v != ""}
        labels.setdefault("alertname", alert.labels.get("rule") or "monitor")
        posted: dict[str, Any] = {
            "labels": labels,
            "annotations": {_label_name(k): v for k, v in sorted(alert.annotations.items())},
            "startsAt": rfc3339(alert.starts_at),
            "generatorURL": group.link(alert),
        }
        if alert.status == "resolved":
            posted["endsAt"] = rfc3339(alert.ends_at or group.sent_at)
        alerts.append(posted)
    return alerts


def build_alertmanager(
    group: NotificationGroup,
    *,
    url: str,
    headers: Mapping[str, str] = {},
) -> HttpMessage:
    target = url.rstrip("/") + "/api/v2/alerts"
    body = _json(alertmanager_document(group))
    return HttpMessage("POST", target, {**headers, **_base_headers(group)}, body)


# ---- pagerduty -----------------------------------------------------------------------


def pagerduty_action(group: NotificationGroup) -> str:
    """resolve once nothing fires; acknowledge while every firing one is acknowledged."""
    firing = group.firing()
    if not firing:
        return "resolve"
    return "acknowledge" if all(alert.acknowledged for alert in firing) else "trigger"


def _pagerduty_severity(group: NotificationGroup) -> str:
    order = ["critical", "warning", "info"]
    found = {alert.labels.get("severity", "") for alert in group.firing()}
    for severity in order:
        if severity in found:
            return PAGERDUTY_SEVERITIES[severity]
    return "error"


def pagerduty_document(group: NotificationGroup, *, routing_key: str) -> dict[str, Any]:
    """An Events API v2 event; `dedup_key` is the group's key, so one incident per group."""
    action = pagerduty_action(group)
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": f"monitor-{group.group_key}",
    }
    if action != "trigger":
        return event
    common = group.common_labels()
    first = group.firing()[0]
    event["payload"] = {
        "summary": _clip(title(group) + " " + _summary(first), PAGERDUTY_SUMMARY_CHARS),
        "source": common.get("host") or common.get("source") or "monitor",
        "severity": _pagerduty_severity(group),
        "timestamp": rfc3339(first.starts_at),
        "group": common.get("rule", ""),
        "custom_details": {
            "firing": len(group.firing()),
            "resolved": len(group.resolved()),
            "idempotency_key": group.idempotency_key,
            "alerts": [
                {
                    "labels": dict(alert.labels),
                    "annotations": dict(alert.annotations),
                    "value": _finite(alert.value),
                    "status": alert.status,
                }
                for alert in group.alerts[:MAX_LISTED]
            ],
        },
    }
    event["client"] = "monitor"
    event["client_url"] = f"{group.public_url}/ui/alerts"
    event["links"] = [{"href": group.link(first), "text": "Alert in monitor"}]
    return event


def build_pagerduty(group: NotificationGroup, *, events_url: str, routing_key: str) -> HttpMessage:
    body = _json(pagerduty_document(group, routing_key=routing_key))
    return HttpMessage("POST", events_url, _base_headers(group), body)


# ---- email ---------------------------------------------------------------------------


def email_texts(group: NotificationGroup) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the email for `group`."""
    subject = _clip(title(group), 200)
    lines = [title(group), ""]
    items = []
    for alert in group.alerts:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
        ends = f", resolved {rfc3339(alert.ends_at)}" if alert.ends_at else ""
        lines += [
            f"- [{alert.status}] {_alert_line(alert)}",
            f"  labels: {labels}",
            f"  since {rfc3339(alert.starts_at)}{ends}",
            f"  {group.link(alert)}",
        ]
        label_items = "".join(
            f"<code>{html.escape(k)}={html.escape(v)}</code> "
            for k, v in sorted(alert.labels.items())
        )
        items.append(
            f"<li><strong>[{html.escape(alert.status)}]</strong> "
            f"{html.escape(_alert_line(alert))}<br>{label_items}<br>"
            f'<a href="{html.escape(group.link(alert))}">details</a></li>'
        )
    lines += ["", f"Idempotency key: {group.idempotency_key}"]
    body_html = (
        f"<!doctype html><html><body><h2>{html.escape(title(group))}</h2>"
        f"<ul>{''.join(items)}</ul></body></html>"
    )
    return subject, "\n".join(lines) + "\n", body_html


def build_email(group: NotificationGroup, *, sender: str, recipients: list[str]) -> EmailMessage:
    subject, plain, rich = email_texts(group)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(group.sent_at.astimezone(UTC))
    local = re.sub(r"[^A-Za-z0-9.\-_]", "-", group.idempotency_key)[:64] or "notification"
    message["Message-ID"] = f"<{local}@monitor>"
    message["X-Monitor-Idempotency-Key"] = local
    message.set_content(plain)
    message.add_alternative(rich, subtype="html")
    return message


# ---- by kind -------------------------------------------------------------------------


def build_message(
    kind: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    group: NotificationGroup,
) -> HttpMessage | EmailMessage:
    """The message a channel of `kind` sends for `group`; `settings` and `secrets` as
    domain/channels.py reads them (secret headers as `header:<name>`)."""
    secret_headers = {
        key.removeprefix("header:"): value
        for key, value in secrets.items()
        if key.startswith("header:")
    }
    headers = {**settings.get("headers", {}), **secret_headers}
    private = frozenset(secret_headers)
    if kind == "webhook":
        message = build_webhook(
            group, url=settings["url"], secret=secrets["secret"], headers=headers
        )
        return replace(message, private_headers=private)
    if kind == "slack":
        return build_slack(group, url=secrets["url"])
    if kind == "discord":
        return build_discord(group, url=secrets["url"])
    if kind == "alertmanager":
        message = build_alertmanager(group, url=settings["url"], headers=headers)
        return replace(message, private_headers=private)
    if kind == "pagerduty":
        return build_pagerduty(
            group, events_url=settings["events_url"], routing_key=secrets["routing_key"]
        )
    if kind == "email":
        return build_email(group, sender=settings["from"], recipients=list(settings["to"]))
    raise ValueError(f"no message for channels of kind {kind!r}")
