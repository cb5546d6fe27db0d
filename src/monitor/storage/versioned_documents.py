"""SQL for admin documents kept whole with a version: notification policies, inhibition rules.

Each row holds a canonical JSON document (`definition`) and a `version` that
every change bumps; `replace` and `delete` take a VersionCondition (If-Match)
and refuse a stale one, as alert rules do (storage/alert_rules.py). Every
change writes its audit row in its own transaction; a replace that changes
nothing does neither. Changes to one table hold one advisory lock, so the
row count bound and name checks see every other change.

The refusals are the dashboards' (domain/dashboards.py: NotFound,
StaleVersion, Conflict), which the API answers as 404, 412 and 409.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from monitor.domain.audit import Attribution, AuditEntry
from monitor.domain.dashboards import (
    Conflict,
    NotFound,
    StaleVersion,
    VersionCondition,
    actor_label,
)
from monitor.storage.audit import record_change
from monitor.storage.gateway import Connection, Gateway

_COLUMNS = sql.SQL("id, definition, version, created_at, created_by, updated_at, updated_by")


@dataclass(frozen=True)
class DocumentTable:
    table: str
    resource: str  # the audit log's and the refusals' name: "notification_policy"
    lock_id: int
    max_rows: int
    order: str  # SQL after ORDER BY (trusted: written here, never from a request)
    scope: str = "true"  # SQL condition on the rows this store manages


Check = Callable[[Connection, dict[str, Any]], None]  # raises to refuse a document


def _no_check(connection: Connection, definition: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class DocumentRecord:
    id: int
    definition: dict[str, Any]
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    def snapshot(self) -> dict[str, Any]:
        return {"version": self.version, **self.definition}


def _shown(table: DocumentTable) -> str:
    return table.resource.replace("_", " ")


def _read(
    connection: Connection, table: DocumentTable, row_id: int, *, lock: bool = False
) -> DocumentRecord | None:
    query = sql.SQL("select {} from {} where id = %s and ({}){}").format(
        _COLUMNS,
        sql.Identifier(table.table),
        sql.SQL(table.scope),
        sql.SQL(" for update" if lock else ""),
    )
    with connection.cursor(row_factory=class_row(DocumentRecord)) as cursor:
        return cursor.execute(query, (row_id,)).fetchone()


def _locked(
    connection: Connection, table: DocumentTable, row_id: int, condition: VersionCondition
) -> DocumentRecord:
    found = _read(connection, table, row_id, lock=True)
    if found is None:
        raise NotFound(_shown(table), row_id)
    if not condition.allows(found.version):
        raise StaleVersion(_shown(table), row_id, found.version)
    return found


def _lock(connection: Connection, table: DocumentTable) -> None:
    connection.execute("select pg_advisory_xact_lock(%s)", (table.lock_id,))


async def create(
    gateway: Gateway,
    table: DocumentTable,
    definition: dict[str, Any],
    *,
    by: Attribution,
    check: Check = _no_check,
) -> DocumentRecord:
    """A new row; `check` runs first in the same transaction (what it references exists)."""
    label = actor_label(by.actor)

    def work(connection: Connection) -> DocumentRecord:
        _lock(connection, table)
        check(connection, definition)
        count = connection.execute(
            sql.SQL("select count(*) from {} where {}").format(
                sql.Identifier(table.table),
                sql.SQL(table.scope),
            )
        ).fetchone()
        if count is not None and count[0] >= table.max_rows:
            raise Conflict(f"at most {table.max_rows} of them", f"too_many_{table.table}")
        with connection.cursor(row_factory=class_row(DocumentRecord)) as cursor:
            created = cursor.execute(
                sql.SQL(
                    "insert into {} (definition, created_by, updated_by) "
                    "values (%s, %s, %s) returning {}"
                ).format(sql.Identifier(table.table), _COLUMNS),
                (Jsonb(definition), label, label),
            ).fetchone()
        assert created is not None
        record_change(
            connection,
            AuditEntry(by, table.resource, str(created.id), "create", after=created.snapshot()),
        )
        return created

    return await gateway.run(work)


def read_all(connection: Connection, table: DocumentTable) -> list[DocumentRecord]:
    """Every row of the table, in its order (within the caller's transaction)."""
    query = sql.SQL("select {} from {} where {} order by {}").format(
        _COLUMNS,
        sql.Identifier(table.table),
        sql.SQL(table.scope),
        sql.SQL(table.order),
    )
    with connection.cursor(row_factory=class_row(DocumentRecord)) as cursor:
        return cursor.execute(query).fetchall()


async def list_all(gateway: Gateway, table: DocumentTable) -> list[DocumentRecord]:
    return await gateway.run(lambda connection: read_all(connection, table))


async def get(gateway: Gateway, table: DocumentTable, row_id: int) -> DocumentRecord | None:
    return await gateway.run(lambda connection: _read(connection, table, row_id))


async def replace(
    gateway: Gateway,
    table: DocumentTable,
    row_id: int,
    definition: dict[str, Any],
    *,
    condition: VersionCondition,
    by: Attribution,
    check: Check = _no_check,
) -> DocumentRecord:
    label = actor_label(by.actor)

    def work(connection: Connection) -> DocumentRecord:
        _lock(connection, table)
        before = _locked(connection, table, row_id, condition)
        if before.definition == definition:
            return before
        check(connection, definition)
        with connection.cursor(row_factory=class_row(DocumentRecord)) as cursor:
            after = cursor.execute(
                sql.SQL(
                    "update {} set definition = %s, version = version + 1, updated_at = now(), "
                    "updated_by = %s where id = %s returning {}"
                ).format(sql.Identifier(table.table), _COLUMNS),
                (Jsonb(definition), label, row_id),
            ).fetchone()
        assert after is not None
        record_change(
            connection,
            AuditEntry(
                by,
                table.resource,
                str(row_id),
                "update",
                before=before.snapshot(),
                after=after.snapshot(),
            ),
        )
        return after

    return await gateway.run(work)


async def delete(
    gateway: Gateway,
    table: DocumentTable,
    row_id: int,
    *,
    condition: VersionCondition,
    by: Attribution,
) -> None:
    def work(connection: Connection) -> None:
        _lock(connection, table)
        before = _locked(connection, table, row_id, condition)
        connection.execute(
            sql.SQL("delete from {} where id = %s").format(sql.Identifier(table.table)), (row_id,)
        )
        record_change(
            connection,
            AuditEntry(by, table.resource, str(row_id), "delete", before=before.snapshot()),
        )

    await gateway.run(work)
