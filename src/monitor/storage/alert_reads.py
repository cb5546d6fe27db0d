"""SQL reads for the alerts API: instances filtered and paged, a rule's transitions.

Both lists are newest first and keyset-paged (a page continues strictly
after the previous page's last row), so a page costs the same however deep
it is and rows written meanwhile never repeat or vanish from a later page.

- instances: by (opened_at, id), filtered by state, rule, severity (the
  instance's `severity` label) and a time range: an instance is in
  [from, to) when it was open at some moment of it (opened before `to`,
  not closed before `from`);
- a rule's history: its transitions by id, which is the order they were
  recorded in (the outbox order, decision 0059). A deleted rule keeps its
  history.

The writes are storage/alert_instances.py's; this module only reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from monitor.storage.gateway import Connection, Gateway


@dataclass(frozen=True)
class InstanceFilter:
    states: tuple[str, ...] = ()
    rule_ids: tuple[int, ...] = ()
    severities: tuple[str, ...] = ()
    time_from: datetime | None = None
    time_to: datetime | None = None


@dataclass(frozen=True)
class InstanceRow:
    id: int
    rule_id: int
    rule_name: str
    sequence: int
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    since: datetime
    value: float | None
    reason: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledged_note: str | None
    acknowledged_until: datetime | None
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class TransitionRow:
    id: int
    instance_id: int
    rule_id: int
    from_state: str
    to_state: str
    at: datetime
    value: float | None
    reason: str
    labels: dict[str, str]
    annotations: dict[str, str]
    actor: str | None


_INSTANCE_COLUMNS = sql.SQL(
    "i.id, i.rule_id, r.name as rule_name, i.sequence, i.labels, i.annotations, i.state, "
    "i.since, i.value, i.reason, i.acknowledged_by, i.acknowledged_at, i.acknowledged_note, "
    "i.acknowledged_until, i.opened_at, i.closed_at"
)
_TRANSITION_COLUMNS = sql.SQL(
    "id, instance_id, rule_id, from_state, to_state, at, value, reason, labels, annotations, actor"
)


def _instance_clauses(found: InstanceFilter) -> tuple[list[sql.Composable], list[Any]]:
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    if found.states:
        clauses.append(sql.SQL("i.state = any(%s)"))
        params.append(list(found.states))
    if found.rule_ids:
        clauses.append(sql.SQL("i.rule_id = any(%s)"))
        params.append(list(found.rule_ids))
    if found.severities:
        clauses.append(sql.SQL("i.labels ->> 'severity' = any(%s)"))
        params.append(list(found.severities))
    if found.time_to is not None:
        clauses.append(sql.SQL("i.opened_at < %s"))
        params.append(found.time_to)
    if found.time_from is not None:
        clauses.append(sql.SQL("(i.closed_at is null or i.closed_at >= %s)"))
        params.append(found.time_from)
    return clauses, params


async def list_instances(
    gateway: Gateway,
    found: InstanceFilter,
    *,
    limit: int,
    before: tuple[datetime, int] | None,
) -> list[InstanceRow]:
    """Newest opened first; `before` continues after a page's last (opened_at, id)."""
    clauses, params = _instance_clauses(found)
    if before is not None:
        clauses.append(sql.SQL("(i.opened_at, i.id) < (%s, %s)"))
        params.extend(before)
    where = sql.SQL(" where ") + sql.SQL(" and ").join(clauses) if clauses else sql.SQL("")
    query = sql.SQL(
        "select {} from alert_instances i join alert_rules r on r.id = i.rule_id{} "
        "order by i.opened_at desc, i.id desc limit %s"
    ).format(_INSTANCE_COLUMNS, where)
    params.append(limit)

    def work(connection: Connection) -> list[InstanceRow]:
        with connection.cursor(row_factory=class_row(InstanceRow)) as cursor:
            return cursor.execute(query, params).fetchall()

    return await gateway.run(work)


async def get_instance(gateway: Gateway, instance_id: int) -> InstanceRow | None:
    query = sql.SQL(
        "select {} from alert_instances i join alert_rules r on r.id = i.rule_id where i.id = %s"
    ).format(_INSTANCE_COLUMNS)

    def work(connection: Connection) -> InstanceRow | None:
        with connection.cursor(row_factory=class_row(InstanceRow)) as cursor:
            return cursor.execute(query, (instance_id,)).fetchone()

    return await gateway.run(work)


async def rule_exists(gateway: Gateway, rule_id: int) -> bool:
    """Whether the rule was ever created (deleted rules too: their history stays)."""

    def work(connection: Connection) -> bool:
        row = connection.execute("select 1 from alert_rules where id = %s", (rule_id,)).fetchone()
        return row is not None

    return await gateway.run(work)


async def rule_history(
    gateway: Gateway, rule_id: int, *, limit: int, before_id: int | None
) -> Sequence[TransitionRow]:
    """The rule's transitions, last recorded first; `before_id` continues after a page."""
    clauses: list[sql.Composable] = [sql.SQL("rule_id = %s")]
    params: list[Any] = [rule_id]
    if before_id is not None:
        clauses.append(sql.SQL("id < %s"))
        params.append(before_id)
    query = sql.SQL("select {} from alert_transitions where {} order by id desc limit %s").format(
        _TRANSITION_COLUMNS, sql.SQL(" and ").join(clauses)
    )
    params.append(limit)

    def work(connection: Connection) -> list[TransitionRow]:
        with connection.cursor(row_factory=class_row(TransitionRow)) as cursor:
            return cursor.execute(query, params).fetchall()

    return await gateway.run(work)
