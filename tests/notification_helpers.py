"""Channels and queued deliveries made straight in storage, for the sender's tests.

Channels are sealed under the suite's MONITOR_SECRET_KEY (processes.py), as
a service started by the tests seals them, so either can send them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import trio

from monitor.domain.audit import Actor, Attribution
from monitor.domain.channels import complete_secrets, parse_channel
from monitor.domain.signing import SecretKeys
from monitor.notifications.groups import AlertInstance
from monitor.notifications.snapshot import snapshot_json
from monitor.secret_box import SecretBox
from monitor.storage import channels as channel_store
from monitor.storage.channels import ChannelFields
from monitor.storage.deliveries import NewDelivery, enqueue
from monitor.storage.gateway import Gateway
from processes import TEST_SECRET_KEY

HMAC_SECRET = "s3cret-webhook-key-0123456789"
SUITE_BOX = SecretBox(SecretKeys(TEST_SECRET_KEY.encode()))
BY = Attribution(Actor.system("tests"))


def webhook_document(url: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": f"sender test {uuid.uuid4().hex[:8]}",
        "kind": "webhook",
        "url": url,
        "secret": HMAC_SECRET,
        **fields,
    }


async def make_channel(
    gateway: Gateway, document: dict[str, Any], box: SecretBox = SUITE_BOX
) -> int:
    draft = parse_channel(document)
    clear = complete_secrets(draft, None)
    created = await channel_store.create_channel(
        gateway,
        ChannelFields(
            draft.name,
            draft.kind,
            draft.enabled,
            draft.settings,
            sorted(clear),
            box.seal(clear) if clear else None,
        ),
        by=BY,
    )
    return created.id


def message(
    told: Sequence[tuple[int | None, int | None]] = ((None, None),), **group_labels: str
) -> dict[str, Any]:
    """A message telling of one alert per (rule id, instance id) in `told`."""
    labels = {"rule": "disk full", "severity": "critical", **group_labels}
    alerts = tuple(
        AlertInstance(
            labels=labels,
            annotations={"summary": "the disk is full"},
            status="firing",
            starts_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
            value=97.5,
            rule_id=rule_id,
            instance_id=instance_id,
        )
        for rule_id, instance_id in told
    )
    return snapshot_json(group_labels or {"rule": "disk full"}, alerts)


async def queue(
    gateway: Gateway,
    channel_id: int,
    count: int = 1,
    *,
    reason: str = "news",
    told: Sequence[tuple[int | None, int | None]] = ((None, None),),
    **group_labels: str,
) -> list[int]:
    deliveries = [
        NewDelivery(
            channel_id=channel_id,
            idempotency_key=f"test-{uuid.uuid4().hex}",
            reason="news" if reason == "news" else "resolved",
            message=message(told, **group_labels),
        )
        for _ in range(count)
    ]
    return await gateway.run(lambda connection: enqueue(connection, deliveries))


def delivery_rows(database_url: str, ids: list[int]) -> dict[int, tuple[str, int, str | None]]:
    """id -> (status, attempts, last_error)."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "select id, status, attempts, last_error from notification_deliveries "
            "where id = any(%s)",
            (ids,),
        ).fetchall()
    return {int(row[0]): (row[1], int(row[2]), row[3]) for row in rows}


async def wait_until(
    database_url: str,
    ids: list[int],
    done: Callable[[dict[int, tuple[str, int, str | None]]], bool],
    *,
    timeout: float = 20,
) -> dict[int, tuple[str, int, str | None]]:
    """The deliveries' rows once `done` holds of them (checked every 20 ms)."""
    with trio.fail_after(timeout):
        while True:
            rows = await trio.to_thread.run_sync(delivery_rows, database_url, ids)
            if done(rows):
                return rows
            await trio.sleep(0.02)


def finished(rows: dict[int, tuple[str, int, str | None]]) -> bool:
    return all(status != "queued" for status, _, _ in rows.values())


def finish_queued(database_url: str) -> None:
    """Mark every queued delivery failed: what one test queued is not sent by the next."""
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "update notification_deliveries set status = 'failed', finished_at = now(), "
            "claimed_until = null, last_error = 'left by a test' where status = 'queued'"
        )


def age_deliveries(database_url: str, ids: list[int], by: timedelta) -> None:
    """Move the deliveries' queueing time into the past (as if queued `by` ago)."""
    with psycopg.connect(database_url) as connection:
        connection.execute(
            "update notification_deliveries set created_at = created_at - %s, "
            "finished_at = finished_at - %s where id = any(%s)",
            (by, by, ids),
        )
