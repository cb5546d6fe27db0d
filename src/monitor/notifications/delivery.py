"""Sending one channel's message for a notification group: build it, then send it.

The one place that turns a channel (its kind, settings and opened secrets)
and a group into an outcome: HTTP kinds through monitor/outbound.py, email
through notifications/smtp.py. A channel whose secrets cannot be opened
fails with kind `secret_unreadable` before anything is built or sent.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

from monitor import outbound
from monitor.notifications.groups import NotificationGroup
from monitor.notifications.messages import build_message
from monitor.notifications.smtp import send_email
from monitor.outbound import Failure, OutboundLimits, OutboundResult
from monitor.secret_box import UNREADABLE


async def deliver(
    kind: str,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str] | None,
    group: NotificationGroup,
    limits: OutboundLimits,
    *,
    tls_context: ssl.SSLContext | None = None,
) -> OutboundResult:
    """Send `group` to the channel; `secrets` None means they could not be opened."""
    if secrets is None:
        return OutboundResult(failure=Failure("secret_unreadable", UNREADABLE))
    message = build_message(kind, settings, secrets, group)
    if isinstance(message, EmailMessage):
        return await send_email(
            settings, secrets.get("password"), message, limits, context=tls_context
        )
    return await outbound.send(
        limits,
        message.method,
        message.url,
        content=message.body,
        headers=message.headers,
        private_headers=message.private_headers,
    )
