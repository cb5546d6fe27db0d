"""Alert history retention: transitions and closed instances older than the retention go.

`MONITOR_ALERT_HISTORY_RETENTION` (default 90 days) bounds what
`GET /alerts/instances` and a rule's history can show. Maintenance deletes,
a batch per transaction, the transitions recorded before the cutoff, then the
instances closed before it that no transition names any more. Open
instances are never deleted, however old; nor is a closed instance whose
transitions are younger than the cutoff.
"""

from __future__ import annotations

from datetime import datetime

from monitor.storage.gateway import Connection, Gateway

PRUNE_BATCH_ROWS = 10_000


async def prune(
    gateway: Gateway, older_than: datetime, *, batch_rows: int = PRUNE_BATCH_ROWS
) -> int:
    """Delete transitions recorded and instances closed before `older_than`: how many rows."""

    def transitions(connection: Connection) -> int:
        return connection.execute(
            "delete from alert_transitions where id = any(array("
            "select id from alert_transitions where at < %s order by at limit %s))",
            (older_than, batch_rows),
        ).rowcount

    def instances(connection: Connection) -> int:
        return connection.execute(
            "delete from alert_instances where id = any(array("
            "select i.id from alert_instances i where i.closed_at < %s and not exists "
            "(select from alert_transitions t where t.instance_id = i.id) limit %s))",
            (older_than, batch_rows),
        ).rowcount

    deleted = 0
    for work in (transitions, instances):
        while True:
            batch = await gateway.run(work)
            deleted += batch
            if batch < batch_rows:
                break
    return deleted
