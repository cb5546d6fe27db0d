"""Notification deliveries: one message to one channel, queued until sent or given up.

The notifier's planner queues them (`enqueue`) in the transaction that
moves its groups' timers, so a message is made exactly once; senders on
any instance claim and send them. See migration 0021 for the columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from psycopg.types.json import Jsonb

from monitor.storage.gateway import Connection

DeliveryReason = Literal["news", "repeat", "refresh", "resolved"]


@dataclass(frozen=True)
class NewDelivery:
    channel_id: int
    idempotency_key: str  # unique; sent with every attempt
    reason: DeliveryReason
    message: dict[str, Any]  # notifications/snapshot.py `snapshot_json`
    group_id: int | None = None
    policy_id: int | None = None


def enqueue(connection: Connection, deliveries: Sequence[NewDelivery]) -> list[int]:
    """Queue `deliveries`, due now; their ids, in order."""
    ids: list[int] = []
    for delivery in deliveries:
        row = connection.execute(
            "insert into notification_deliveries "
            "(group_id, policy_id, channel_id, idempotency_key, reason, message) "
            "values (%s, %s, %s, %s, %s, %s) returning id",
            (
                delivery.group_id,
                delivery.policy_id,
                delivery.channel_id,
                delivery.idempotency_key,
                delivery.reason,
                Jsonb(delivery.message),
            ),
        ).fetchone()
        assert row is not None
        ids.append(int(row[0]))
    return ids
