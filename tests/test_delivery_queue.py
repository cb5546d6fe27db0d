"""Queueing deliveries: each row's id comes back in the order the rows were given."""

from __future__ import annotations

import uuid

from monitor.storage.deliveries import NewDelivery, enqueue
from monitor.storage.gateway import Connection, Gateway

MESSAGE = {"version": 1, "group_labels": {"rule": "r"}, "alerts": [], "extra": {}}


def _channel(connection: Connection) -> int:
    row = connection.execute(
        "insert into notification_channels (name, kind, enabled, settings, created_by, "
        "updated_by) values (%s, 'webhook', true, '{}', 't', 't') returning id",
        (f"queue {uuid.uuid4().hex[:8]}",),
    ).fetchone()
    assert row is not None
    return int(row[0])


async def test_enqueue_answers_each_rows_id_in_order_and_nothing_for_nothing(
    gateway: Gateway,
) -> None:
    keys = [f"queue-{uuid.uuid4().hex}" for _ in range(7)]

    def work(connection: Connection) -> tuple[list[int], dict[int, str], list[int]]:
        channel = _channel(connection)
        reasons = ["news", "repeat", "refresh", "resolved", "news", "news", "repeat"]
        ids = enqueue(
            connection,
            [
                NewDelivery(channel, key, reason, MESSAGE)  # type: ignore[arg-type]
                for key, reason in zip(keys, reasons, strict=True)
            ],
        )
        stored = dict(
            connection.execute(
                "select id, idempotency_key from notification_deliveries where id = any(%s)",
                (ids,),
            ).fetchall()
        )
        # Mark them failed: a service running in this database must not send them.
        connection.execute(
            "update notification_deliveries set status = 'failed' where id = any(%s)", (ids,)
        )
        return ids, stored, enqueue(connection, [])

    ids, stored, none = await gateway.run(work)
    assert len(set(ids)) == 7
    assert [stored[i] for i in ids] == keys
    assert none == []
