"""A notification group: the alert instances one message is about.

What every message builder (notifications/messages.py) takes. The notifier
makes one from the instances a policy groups together; a channel's test
makes `sample_group`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

AlertStatus = Literal["firing", "resolved"]


@dataclass(frozen=True)
class AlertInstance:
    labels: Mapping[str, str]  # include `rule` and `severity`
    annotations: Mapping[str, str]
    status: AlertStatus
    starts_at: datetime
    ends_at: datetime | None = None  # when it resolved
    value: float | None = None
    rule_id: int | None = None
    instance_id: int | None = None
    acknowledged: bool = False


@dataclass(frozen=True)
class NotificationGroup:
    group_labels: Mapping[str, str]  # the labels the policy groups by, and their values
    alerts: tuple[AlertInstance, ...]
    idempotency_key: str  # the same for every retry of one notification
    public_url: str  # MONITOR_PUBLIC_URL (or the derived one), no trailing slash
    sent_at: datetime  # for the message's own time stamps
    test: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def status(self) -> AlertStatus:
        """firing while any of its alerts fires."""
        return "firing" if any(alert.status == "firing" for alert in self.alerts) else "resolved"

    @property
    def group_key(self) -> str:
        """Stable for the same group labels: what receivers deduplicate incidents by."""
        canonical = json.dumps(dict(sorted(self.group_labels.items())), separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:32]

    def common_labels(self) -> dict[str, str]:
        return _common([alert.labels for alert in self.alerts])

    def common_annotations(self) -> dict[str, str]:
        return _common([alert.annotations for alert in self.alerts])

    def firing(self) -> list[AlertInstance]:
        return [alert for alert in self.alerts if alert.status == "firing"]

    def resolved(self) -> list[AlertInstance]:
        return [alert for alert in self.alerts if alert.status == "resolved"]

    def link(self, alert: AlertInstance) -> str:
        """Where a person reads about `alert`: its rule's page, else the alerts page."""
        if alert.rule_id is not None:
            return f"{self.public_url}/ui/alerts/rules/{alert.rule_id}"
        return f"{self.public_url}/ui/alerts"


def _common(maps: list[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {
        key: value
        for key, value in sorted(first.items())
        if all(other.get(key) == value for other in maps[1:])
    }


def sample_group(now: datetime, public_url: str, idempotency_key: str) -> NotificationGroup:
    """What a channel's test sends: one firing alert, marked as a test."""
    alert = AlertInstance(
        labels={"rule": "monitor test", "severity": "info"},
        annotations={
            "summary": "Test notification from monitor",
            "description": "A channel test: if you read this, the channel works.",
        },
        status="firing",
        starts_at=now - timedelta(seconds=1),
        value=1.0,
    )
    return NotificationGroup(
        group_labels={"rule": "monitor test"},
        alerts=(alert,),
        idempotency_key=idempotency_key,
        public_url=public_url,
        sent_at=now,
        test=True,
    )
