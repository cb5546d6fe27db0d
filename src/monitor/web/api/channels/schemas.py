"""The shapes of channel requests and answers (for OpenAPI).

A channel body is read by domain/channels.py `parse_channel`, not by these
models: they describe every field for the OpenAPI document, and the parser
is what accepts or refuses, naming each bad field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from monitor.domain.channels import (
    MAX_CHANNEL_NAME,
    MAX_DESCRIPTION,
    MAX_HEADERS,
    MAX_RECIPIENTS,
    MIN_HMAC_SECRET,
    PAGERDUTY_EVENTS_URL,
)

CHANNEL_EXAMPLE: dict[str, Any] = {
    "name": "ops webhook",
    "kind": "webhook",
    "enabled": True,
    "send_resolved": True,
    "url": "https://hooks.example.com/monitor",
    "secret": "a-long-random-shared-secret",
    "headers": {"X-Team": "ops"},
    "secret_headers": {"Authorization": "Bearer abc123"},
}
KEEP_NOTE = (
    'Secret: text sets it; `{"set": true}` (what GET shows) keeps the stored value; '
    "left out, it is not set. Never returned."
)


class SecretSet(BaseModel):
    set: Literal[True]


SecretField = str | SecretSet


class ChannelDocument(BaseModel):
    """A notification channel. Which fields apply depends on `kind` (docs/notifications.md);
    a field that does not apply to the kind is refused, naming it."""

    model_config = ConfigDict(json_schema_extra={"examples": [CHANNEL_EXAMPLE]})

    name: str = Field(
        description=f"Unique whatever its case; 1 to {MAX_CHANNEL_NAME} printable characters."
    )
    kind: Literal["webhook", "slack", "discord", "email", "alertmanager", "pagerduty"]
    enabled: bool = Field(True, description="A disabled channel is sent nothing.")
    description: str = Field("", description=f"At most {MAX_DESCRIPTION} characters.")
    send_resolved: bool = Field(
        True,
        description="false: resolved alerts are left out of this channel's messages, and it "
        "gets no message when only resolutions are new (Alertmanager's receiver option).",
    )
    url: SecretField | None = Field(
        None,
        description="webhook: where the JSON is posted; alertmanager: the base URL "
        "(`/api/v2/alerts` is added); slack and discord: the incoming webhook URL, which "
        "embeds its token and is therefore a secret. " + KEEP_NOTE,
    )
    secret: SecretField | None = Field(
        None,
        description=f"webhook (required): the HMAC-SHA256 key, {MIN_HMAC_SECRET} characters "
        "or more. " + KEEP_NOTE,
    )
    headers: dict[str, str] | None = Field(
        None, description=f"webhook, alertmanager: extra headers (at most {MAX_HEADERS})."
    )
    secret_headers: dict[str, SecretField] | None = Field(
        None,
        description="webhook, alertmanager: extra headers whose values are secrets "
        "(Authorization). " + KEEP_NOTE,
    )
    host: str | None = Field(None, description="email: the SMTP server.")
    port: int | None = Field(
        None, description="email: default 465 with tls, 587 with starttls, 25 with none."
    )
    security: Literal["tls", "starttls", "none"] | None = Field(
        None, description="email: TLS from the start, STARTTLS, or none (default starttls)."
    )
    username: str | None = Field(None, description="email: SMTP user name, if the server asks.")
    password: SecretField | None = Field(None, description="email: SMTP password. " + KEEP_NOTE)
    from_: str | None = Field(None, alias="from", description="email: the sender address.")
    to: list[str] | None = Field(
        None, description=f"email: 1 to {MAX_RECIPIENTS} recipient addresses."
    )
    routing_key: SecretField | None = Field(
        None, description="pagerduty (required): the integration's routing key. " + KEEP_NOTE
    )
    events_url: str | None = Field(
        None, description=f"pagerduty: the Events API v2 URL (default {PAGERDUTY_EVENTS_URL})."
    )


class ChannelOut(BaseModel):
    id: int
    version: int = Field(description='Also the `ETag` ("<version>") of GET; send in If-Match.')
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    secrets: Literal["none", "readable", "unreadable"] = Field(
        description="unreadable: the stored secrets were sealed under another "
        "MONITOR_SECRET_KEY; tests and deliveries fail until they are entered again."
    )
    channel: ChannelDocument = Field(
        description='The channel in canonical form, each secret as `{"set": true}`: what '
        "`PUT` takes back."
    )


class ChannelList(BaseModel):
    channels: list[ChannelOut] = Field(description="By name.")


class TestFailure(BaseModel):
    kind: str = Field(
        description="timeout, refused_address, too_large, too_many_redirects, connect_error, "
        "tls_error, invalid_url, protocol_error, smtp_error or secret_unreadable."
    )
    message: str


class TestOutcome(BaseModel):
    delivered: bool = Field(description="The receiver answered 2xx (SMTP: took the message).")
    status: int | None = Field(description="The receiver's status (SMTP: its reply code).")
    body: str = Field(description="The start of the receiver's answer (4 KiB at most).")
    body_truncated: bool
    failure: TestFailure | None = Field(description="Why it did not complete, if it did not.")
    idempotency_key: str = Field(description="The key the test message carried.")
    duration_ms: float
