"""SQL for the audit log: the one helper every change calls, the listing, retention.

`record_change` takes the connection of the change's own transaction: the row
and the change commit together or not at all. Secrets are redacted here, on
the way in, so no caller can store one by forgetting to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from psycopg import sql
from psycopg.rows import class_row

from monitor.domain.audit import AuditEntry, AuditFilter
from monitor.domain.redaction import redact_secrets
from monitor.storage.gateway import Connection, Gateway

PRUNE_BATCH_ROWS = 10_000

_INSERT = """
insert into audit_log (
    actor_kind, actor_name, actor_prefix, resource, resource_id, action,
    before, after, client_address, request_id
) values (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s)
"""

_COLUMNS = sql.SQL(
    "id, time, actor_kind, actor_name, actor_prefix, resource, resource_id, action, "
    "before, after, client_address, request_id"
)


@dataclass(frozen=True)
class AuditRecord:
    id: int
    time: datetime
    actor_kind: str
    actor_name: str | None
    actor_prefix: str | None
    resource: str
    resource_id: str
    action: str
    before: Any
    after: Any
    client_address: str | None
    request_id: str | None


def _json(snapshot: Mapping[str, object] | None) -> str | None:
    if snapshot is None:
        return None
    return msgspec.json.encode(redact_secrets(snapshot)).decode()


def record_change(connection: Connection, entry: AuditEntry) -> None:
    """Write `entry` in the transaction `connection` is in (the change's own)."""
    actor, origin = entry.by.actor, entry.by.origin
    connection.execute(
        _INSERT,
        (
            actor.kind,
            actor.name,
            actor.prefix,
            entry.resource,
            entry.resource_id,
            entry.action,
            _json(entry.before),
            _json(entry.after),
            origin.client_address,
            origin.request_id,
        ),
    )


def _filter_clauses(audit_filter: AuditFilter) -> tuple[list[sql.Composable], list[Any]]:
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    if audit_filter.resources:
        clauses.append(sql.SQL("resource = any(%s)"))
        params.append(list(audit_filter.resources))
    if audit_filter.actions:
        clauses.append(sql.SQL("action = any(%s)"))
        params.append(list(audit_filter.actions))
    if audit_filter.actors:
        clauses.append(
            sql.SQL("(actor_name = any(%s) or actor_prefix = any(%s) or actor_kind = any(%s))")
        )
        params.extend([list(audit_filter.actors)] * 3)
    if audit_filter.time_from is not None:
        clauses.append(sql.SQL("time >= %s"))
        params.append(audit_filter.time_from)
    if audit_filter.time_to is not None:
        clauses.append(sql.SQL("time < %s"))
        params.append(audit_filter.time_to)
    return clauses, params


async def list_changes(
    gateway: Gateway,
    audit_filter: AuditFilter,
    *,
    limit: int,
    before: tuple[datetime, int] | None,
) -> list[AuditRecord]:
    """Newest first by (time, id); `before` continues after a page's last row."""
    clauses, params = _filter_clauses(audit_filter)
    if before is not None:
        clauses.append(sql.SQL("(time, id) < (%s, %s)"))
        params.extend(before)
    where = sql.SQL(" where ") + sql.SQL(" and ").join(clauses) if clauses else sql.SQL("")
    query = sql.SQL("select {} from audit_log{} order by time desc, id desc limit %s").format(
        _COLUMNS, where
    )
    params.append(limit)

    def work(connection: Connection) -> list[AuditRecord]:
        with connection.cursor(row_factory=class_row(AuditRecord)) as cursor:
            return cursor.execute(query, params).fetchall()

    return await gateway.run(work)


async def prune(
    gateway: Gateway, older_than: datetime, *, batch_rows: int = PRUNE_BATCH_ROWS
) -> int:
    """Delete rows older than `older_than`, a batch per transaction; return how many.

    Batches keep each transaction short however far behind retention is (the
    first run after raising it, or on a log that grew for years).
    """

    def work(connection: Connection) -> int:
        cursor = connection.execute(
            """
            delete from audit_log where id = any(array(
                select id from audit_log where time < %s order by time limit %s
            ))
            """,
            (older_than, batch_rows),
        )
        return cursor.rowcount

    deleted = 0
    while True:
        batch = await gateway.run(work)
        deleted += batch
        if batch < batch_rows:
            return deleted
