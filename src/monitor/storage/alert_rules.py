"""SQL for alert rules: create, list, read, replace (If-Match), delete.

A rule is stored as its canonical document (`definition`, from
domain/alert_rules.py `rule_document`), with its name, kind and enabled
copied into columns. Names are unique whatever their case among rules not
deleted; changes to the set of rules hold one advisory lock so the name
check sees every other change. Every change bumps `version` and writes its
audit row in its own transaction; a replace that changes nothing does
neither.

Disabling a rule or deleting it closes its open instances in the same
transaction (`alert_instances.close_rule_instances`), with their
transitions. A deleted rule keeps its row (`deleted_at`) so that its
instances and transitions still name it; it is gone from every listing and
its name is free again.

The refusals are the dashboards' (domain/dashboards.py: NotFound,
StaleVersion, Conflict), which the API already answers as 404, 412 and 409.
"""

from __future__ import annotations

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
from monitor.storage.alert_instances import SlotChange, close_rule_instances
from monitor.storage.audit import record_change
from monitor.storage.gateway import Connection, Gateway

RULES_LOCK_ID = 7_236_400  # serialises changes to the set of rules (names)
MAX_RULES = 10_000

_COLUMNS = sql.SQL(
    "id, name, kind, enabled, definition, version, created_at, created_by, updated_at, updated_by"
)


@dataclass(frozen=True)
class RuleFields:
    """What a create or replace stores: the canonical document and what is copied out of it."""

    name: str
    kind: str
    enabled: bool
    definition: dict[str, Any]


@dataclass(frozen=True)
class RuleRecord:
    id: int
    name: str
    kind: str
    enabled: bool
    definition: dict[str, Any]
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    def snapshot(self) -> dict[str, Any]:
        """What the audit log keeps of the rule."""
        return {"version": self.version, **self.definition}


def _lock_rule_set(connection: Connection) -> None:
    connection.execute("select pg_advisory_xact_lock(%s)", (RULES_LOCK_ID,))


def _check_name_free(connection: Connection, name: str, *, other_than: int | None) -> None:
    row = connection.execute(
        "select id from alert_rules where lower(name) = lower(%s) and deleted_at is null "
        "and id is distinct from %s",
        (name, other_than),
    ).fetchone()
    if row is not None:
        raise Conflict(f"a rule named {name!r} exists (id {row[0]})", "name_taken")


def _read(connection: Connection, rule_id: int, *, lock: bool = False) -> RuleRecord | None:
    query = sql.SQL("select {} from alert_rules where id = %s and deleted_at is null{}").format(
        _COLUMNS, sql.SQL(" for update" if lock else "")
    )
    with connection.cursor(row_factory=class_row(RuleRecord)) as cursor:
        return cursor.execute(query, (rule_id,)).fetchone()


def _locked(connection: Connection, rule_id: int, condition: VersionCondition) -> RuleRecord:
    found = _read(connection, rule_id, lock=True)
    if found is None:
        raise NotFound("alert rule", rule_id)
    if not condition.allows(found.version):
        raise StaleVersion("alert rule", rule_id, found.version)
    return found


async def create_rule(gateway: Gateway, fields: RuleFields, *, by: Attribution) -> RuleRecord:
    label = actor_label(by.actor)

    def work(connection: Connection) -> RuleRecord:
        _lock_rule_set(connection)
        _check_name_free(connection, fields.name, other_than=None)
        count = connection.execute(
            "select count(*) from alert_rules where deleted_at is null"
        ).fetchone()
        if count is not None and count[0] >= MAX_RULES:
            raise Conflict(f"at most {MAX_RULES} alert rules", "too_many_rules")
        with connection.cursor(row_factory=class_row(RuleRecord)) as cursor:
            created = cursor.execute(
                sql.SQL(
                    "insert into alert_rules (name, kind, enabled, definition, created_by, "
                    "updated_by) values (%s, %s, %s, %s, %s, %s) returning {}"
                ).format(_COLUMNS),
                (fields.name, fields.kind, fields.enabled, Jsonb(fields.definition), label, label),
            ).fetchone()
        assert created is not None
        record_change(
            connection,
            AuditEntry(by, "alert_rule", str(created.id), "create", after=created.snapshot()),
        )
        return created

    return await gateway.run(work)


async def list_rules(gateway: Gateway) -> list[RuleRecord]:
    """Every rule not deleted, by name."""
    query = sql.SQL(
        "select {} from alert_rules where deleted_at is null order by lower(name), id"
    ).format(_COLUMNS)

    def work(connection: Connection) -> list[RuleRecord]:
        with connection.cursor(row_factory=class_row(RuleRecord)) as cursor:
            return cursor.execute(query).fetchall()

    return await gateway.run(work)


async def get_rule(gateway: Gateway, rule_id: int) -> RuleRecord | None:
    return await gateway.run(lambda connection: _read(connection, rule_id))


async def replace_rule(
    gateway: Gateway,
    rule_id: int,
    fields: RuleFields,
    *,
    condition: VersionCondition,
    now: datetime,
    by: Attribution,
    closed: list[SlotChange] | None = None,
) -> RuleRecord:
    """The rule's new document; disabling it closes its open instances at `now` (the
    changes appended to `closed`, for the caller to publish once this returns)."""
    label = actor_label(by.actor)

    def work(connection: Connection) -> RuleRecord:
        _lock_rule_set(connection)
        before = _locked(connection, rule_id, condition)
        _check_name_free(connection, fields.name, other_than=rule_id)
        stored = RuleFields(before.name, before.kind, before.enabled, before.definition)
        if stored == fields:
            return before
        with connection.cursor(row_factory=class_row(RuleRecord)) as cursor:
            after = cursor.execute(
                sql.SQL(
                    "update alert_rules set name = %s, kind = %s, enabled = %s, definition = %s, "
                    "version = version + 1, updated_at = now(), updated_by = %s "
                    "where id = %s returning {}"
                ).format(_COLUMNS),
                (
                    fields.name,
                    fields.kind,
                    fields.enabled,
                    Jsonb(fields.definition),
                    label,
                    rule_id,
                ),
            ).fetchone()
        assert after is not None
        record_change(
            connection,
            AuditEntry(
                by,
                "alert_rule",
                str(rule_id),
                "update",
                before=before.snapshot(),
                after=after.snapshot(),
            ),
        )
        if before.enabled and not after.enabled:
            shut = close_rule_instances(connection, rule_id, now, "rule disabled", actor=label)
            if closed is not None:
                closed.extend(shut)
        return after

    return await gateway.run(work)


async def delete_rule(
    gateway: Gateway,
    rule_id: int,
    *,
    condition: VersionCondition,
    now: datetime,
    by: Attribution,
    closed: list[SlotChange] | None = None,
) -> None:
    """Mark the rule deleted and close its open instances at `now`, in one transaction
    (the changes appended to `closed`, for the caller to publish once this returns)."""
    label = actor_label(by.actor)

    def work(connection: Connection) -> None:
        _lock_rule_set(connection)
        before = _locked(connection, rule_id, condition)
        connection.execute(
            "update alert_rules set deleted_at = now(), updated_at = now(), updated_by = %s, "
            "version = version + 1 where id = %s",
            (label, rule_id),
        )
        record_change(
            connection,
            AuditEntry(by, "alert_rule", str(rule_id), "delete", before=before.snapshot()),
        )
        shut = close_rule_instances(connection, rule_id, now, "rule deleted", actor=label)
        if closed is not None:
            closed.extend(shut)

    await gateway.run(work)


async def rules_fingerprint(gateway: Gateway) -> tuple[int, datetime | None]:
    """Changes when any rule is created, changed or deleted: the evaluator's cue to read them."""

    def work(connection: Connection) -> tuple[int, datetime | None]:
        row = connection.execute(
            "select count(*) filter (where deleted_at is null), max(updated_at) from alert_rules"
        ).fetchone()
        assert row is not None
        return int(row[0]), row[1]

    return await gateway.run(work)
