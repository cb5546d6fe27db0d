"""The shapes of notification policy, silence and inhibition rule documents (for OpenAPI).

Bodies are read by domain/notification_documents.py, which accepts or
refuses naming each bad field; these models describe the fields for the
OpenAPI document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

Duration = Annotated[
    str | float,
    Field(description="Text such as `30s`, `5m`, `1h30m`, or a number of seconds."),
]

POLICY_EXAMPLE: dict[str, Any] = {
    "name": "critical to on-call",
    "position": 10,
    "matchers": [{"name": "severity", "op": "=", "value": "critical"}],
    "channel_ids": [3],
    "continue": False,
    "group_by": ["rule", "host"],
    "group_wait": "30s",
    "group_interval": "5m",
    "repeat_interval": "4h",
}
SILENCE_EXAMPLE: dict[str, Any] = {
    "matchers": [{"name": "host", "op": "=~", "value": "db-.*"}],
    "duration": "2h",
    "comment": "database maintenance, ticket OPS-112",
}
INHIBITION_EXAMPLE: dict[str, Any] = {
    "name": "critical mutes warning on the same host",
    "source_matchers": [{"name": "severity", "value": "critical"}],
    "target_matchers": [{"name": "severity", "value": "warning"}],
    "equal": ["host"],
}


class MatcherDocument(BaseModel):
    """A matcher on an alert instance's labels (its group's, the rule's, `rule`, `severity`).
    A missing label is the empty string; `=~` and `!~` are RE2 patterns matching the whole
    value, as in Alertmanager."""

    name: str = Field(max_length=200)
    op: Literal["=", "!=", "=~", "!~"] = "="
    value: str = Field(max_length=1000)


class PolicyDocument(BaseModel):
    """Where matching alert instances are notified, and how their notifications are grouped.
    Policies are tried by `position` (then id); the first that matches takes an instance,
    and with `continue` later ones may take it too; the default policy takes the rest."""

    model_config = {"json_schema_extra": {"examples": [POLICY_EXAMPLE]}}

    name: str = Field(max_length=200)
    position: int = Field(ge=0, le=1_000_000, description="Lower is tried first.")
    matchers: list[MatcherDocument] = Field(
        default_factory=list, max_length=32, description="All must hold; none: every instance."
    )
    channel_ids: list[int] = Field(default_factory=list, max_length=20)
    continue_: bool = Field(
        False, alias="continue", description="Let later policies take the instance too."
    )
    group_by: list[str] = Field(
        default_factory=list,
        max_length=20,
        description='Labels whose values make a group (one message each); `["..."]`: every '
        "label; none: one group for the policy.",
    )
    group_wait: Duration = Field("30s", description="Wait before a new group's first message.")
    group_interval: Duration = Field(
        "5m", description="Wait before telling a group of changes after a message."
    )
    repeat_interval: Duration = Field(
        "4h", description="Repeat a group's message while it still fires (not when acknowledged)."
    )


class DefaultPolicyDocument(BaseModel):
    """The default policy: takes every instance no other policy takes."""

    name: str = Field(max_length=200)
    channel_ids: list[int] = Field(default_factory=list, max_length=20)
    group_by: list[str] = Field(default_factory=list, max_length=20)
    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_interval: Duration = "4h"


class StoredDocument(BaseModel):
    id: int
    version: int = Field(description='Also the `ETag` ("<version>") of GET; send in If-Match.')
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class PolicyOut(StoredDocument):
    policy: PolicyDocument


class DefaultPolicyOut(StoredDocument):
    policy: DefaultPolicyDocument


class PolicyList(BaseModel):
    policies: list[PolicyOut] = Field(description="In the order they are tried.")
    default: DefaultPolicyOut


class SilenceDocument(BaseModel):
    """Mutes the notifications of instances all of whose matchers hold, from `starts_at`
    until `ends_at`; the instances keep their states and history."""

    model_config = {"json_schema_extra": {"examples": [SILENCE_EXAMPLE]}}

    matchers: list[MatcherDocument] = Field(min_length=1, max_length=32)
    starts_at: datetime | None = Field(None, description="Default: now.")
    ends_at: datetime | None = Field(None, description="Give this or `duration`.")
    duration: Duration | None = Field(None, description="From `starts_at`; 1 minute to 365 days.")
    comment: str = Field(min_length=1, max_length=1000, description="Why; required.")


class SilenceOut(BaseModel):
    id: int
    state: Literal["pending", "active", "expired"]
    matchers: list[MatcherDocument]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_at: datetime
    created_by: str = Field(description="The name of the key that made it.")
    expired_at: datetime | None = Field(description="When it was expired early, if it was.")
    expired_by: str | None


class SilenceList(BaseModel):
    silences: list[SilenceOut] = Field(description="Newest first.")
    next_cursor: str | None


class SilenceQuery(BaseModel):
    state: str | None = Field(
        None, description="Comma-separated: pending, active, expired. Default: pending,active."
    )
    limit: int | None = Field(None, ge=1, le=1000, description="Default 100.")
    cursor: str | None = None


class InhibitionDocument(BaseModel):
    """While an instance matching `source_matchers` fires, instances matching
    `target_matchers` with the same values of the `equal` labels notify nobody."""

    model_config = {"json_schema_extra": {"examples": [INHIBITION_EXAMPLE]}}

    name: str = Field(max_length=200)
    source_matchers: list[MatcherDocument] = Field(min_length=1, max_length=32)
    target_matchers: list[MatcherDocument] = Field(min_length=1, max_length=32)
    equal: list[str] = Field(default_factory=list, max_length=20)


class InhibitionOut(StoredDocument):
    rule: InhibitionDocument


class InhibitionList(BaseModel):
    rules: list[InhibitionOut] = Field(description="By id.")


class DeliveryAttemptOut(BaseModel):
    attempt: int = Field(description="1 for the first.")
    started_at: datetime
    duration_ms: float
    outcome: Literal["delivered", "retrying", "failed"]
    status_code: int | None = Field(description="The receiver's HTTP status, when it answered.")
    error_kind: str | None = Field(
        description="timeout, connect_error, status, secret_unreadable, channel_disabled, ..."
    )
    error: str | None
    response: str | None = Field(description="The start of the receiver's answer.")
    sent_by: str = Field(description="The sender that made the attempt (instance id/run).")


class DeliveryOut(BaseModel):
    id: int
    channel_id: int
    channel_name: str | None = Field(description="Also for a deleted channel.")
    group_id: int | None
    policy_id: int | None
    idempotency_key: str = Field(description="Sent with every attempt.")
    reason: Literal["news", "repeat", "refresh", "resolved"]
    status: Literal["queued", "delivered", "failed"]
    attempts: int
    last_error: str | None
    created_at: datetime = Field(description="When it was queued.")
    next_attempt_at: datetime | None = Field(description="While queued: when it is next tried.")
    finished_at: datetime | None = Field(description="When it was delivered or given up.")
    group_labels: dict[str, str]
    alert_count: int
    attempt_log: list[DeliveryAttemptOut] = Field(description="Every attempt, first first.")


class DeliveryDetail(DeliveryOut):
    message: dict[str, Any] = Field(
        description="The notification as stored when it was made (every attempt sends it)."
    )


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut] = Field(description="Newest first.")
    next_cursor: str | None


class DeliveryQuery(BaseModel):
    status: str | None = Field(None, description="Comma-separated: queued, delivered, failed.")
    channel_id: str | None = Field(None, description="Comma-separated channel ids.")
    rule_id: str | None = Field(
        None, description="Comma-separated alert rule ids: deliveries telling of their alerts."
    )
    instance_id: str | None = Field(
        None, description="Comma-separated alert instance ids: deliveries telling of them."
    )
    from_: datetime | None = Field(None, alias="from", description="Queued at or after.")
    to: datetime | None = Field(None, description="Queued before.")
    limit: int | None = Field(None, ge=1, le=1000, description="Default 100.")
    cursor: str | None = None
