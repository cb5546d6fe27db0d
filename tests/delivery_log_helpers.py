"""Deliveries made straight in storage for the delivery log's page tests and screenshots.

`put` queues one through `deliveries.enqueue` and gives it its status and attempts by
SQL in the same transaction, so a running service's sender never sees it due (a queued
one is due in a day).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import psycopg

from monitor.storage.deliveries import NewDelivery, enqueue


def message(summary: str = "the disk is full", **labels: str) -> dict[str, Any]:
    return {
        "version": 1,
        "group_labels": {"rule": "disk full", **labels},
        "alerts": [
            {
                "labels": {"rule": "disk full", "host": "web-1", **labels},
                "annotations": {"summary": summary},
                "status": "firing",
                "starts_at": "2026-12-01T12:00:00+00:00",
                "ends_at": None,
                "value": 97.5,
                "rule_id": 7,
                "instance_id": 70,
                "acknowledged": False,
            }
        ],
        "extra": {},
    }


def put(
    database_url: str,
    channel_id: int,
    *,
    status: str = "delivered",
    attempts: list[dict[str, Any]] | None = None,
    last_error: str | None = None,
    body: dict[str, Any] | None = None,
    age: timedelta = timedelta(0),
    reason: str = "news",
) -> int:
    """A delivery with this status and attempts, in one transaction: the sender never sees it
    due (a queued one is due in a day)."""
    tried = attempts if attempts is not None else [{"outcome": status, "status_code": 200}]
    with psycopg.connect(database_url) as connection:
        [made] = enqueue(
            connection,
            [
                NewDelivery(
                    channel_id=channel_id,
                    idempotency_key=f"ui-test-{uuid.uuid4().hex}",
                    reason=reason,  # type: ignore[arg-type]
                    message=body or message(),
                )
            ],
        )
        connection.execute(
            "update notification_deliveries set status = %s, attempts = %s, last_error = %s, "
            "created_at = created_at - %s, "
            "next_attempt_at = now() + interval '1 day', "
            "finished_at = case when %s <> 'queued' then now() - %s end where id = %s",
            (status, len(tried), last_error, age, status, age, made),
        )
        for number, attempt in enumerate(tried, start=1):
            connection.execute(
                "insert into notification_attempts (delivery_id, attempt, started_at, "
                "duration_ms, outcome, status_code, error_kind, error, response, sent_by) "
                "values (%s, %s, now() - %s, 12.5, %s, %s, %s, %s, %s, 'test sender')",
                (
                    made,
                    number,
                    age,
                    attempt["outcome"],
                    attempt.get("status_code"),
                    attempt.get("error_kind"),
                    attempt.get("error"),
                    attempt.get("response"),
                ),
            )
    return made
