"""A notification as stored in its delivery row, and back.

The notifier fixes what a group is told when it makes the message: the
alerts' labels, annotations, status and times as they were then. Every
retry, by whichever instance claims the delivery, sends that same content
under the same idempotency key, so receivers that deduplicate see one
notification. The public URL and the send time are the sender's, taken
when it sends.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitor.notifications.groups import AlertInstance, NotificationGroup

SNAPSHOT_VERSION = 1


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _value(value: float | None) -> float | str | None:
    # JSON has no NaN or infinities; a rule's value can be either.
    if value is None or math.isfinite(value):
        return value
    return repr(value)


def _parse_value(value: Any) -> float | None:
    return None if value is None else float(value)


def alert_json(alert: AlertInstance) -> dict[str, Any]:
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "status": alert.status,
        "starts_at": _time(alert.starts_at),
        "ends_at": _time(alert.ends_at),
        "value": _value(alert.value),
        "rule_id": alert.rule_id,
        "instance_id": alert.instance_id,
        "acknowledged": alert.acknowledged,
    }


def snapshot_json(
    group_labels: Mapping[str, str],
    alerts: tuple[AlertInstance, ...],
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What a delivery row's `message` holds."""
    return {
        "version": SNAPSHOT_VERSION,
        "group_labels": dict(group_labels),
        "alerts": [alert_json(alert) for alert in alerts],
        "extra": dict(extra or {}),
    }


def _alert(document: Mapping[str, Any]) -> AlertInstance:
    starts_at = _parse_time(document["starts_at"])
    assert starts_at is not None
    return AlertInstance(
        labels={str(k): str(v) for k, v in document["labels"].items()},
        annotations={str(k): str(v) for k, v in document["annotations"].items()},
        status="firing" if document["status"] == "firing" else "resolved",
        starts_at=starts_at,
        ends_at=_parse_time(document.get("ends_at")),
        value=_parse_value(document.get("value")),
        rule_id=document.get("rule_id"),
        instance_id=document.get("instance_id"),
        acknowledged=bool(document.get("acknowledged", False)),
    )


def alerts_of_snapshot(document: Mapping[str, Any]) -> tuple[AlertInstance, ...]:
    """The alerts a delivery row's `message` holds, as they were when it was made."""
    return tuple(_alert(alert) for alert in document["alerts"])


def group_of_snapshot(
    document: Mapping[str, Any],
    *,
    idempotency_key: str,
    public_url: str,
    sent_at: datetime,
) -> NotificationGroup:
    """The group a delivery row's `message` describes, ready for notifications/delivery.py."""
    return NotificationGroup(
        group_labels={str(k): str(v) for k, v in document["group_labels"].items()},
        alerts=alerts_of_snapshot(document),
        idempotency_key=idempotency_key,
        public_url=public_url,
        sent_at=sent_at,
        extra={str(k): str(v) for k, v in document.get("extra", {}).items()},
    )
