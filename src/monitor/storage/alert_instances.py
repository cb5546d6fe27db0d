"""SQL for alert instances and their transitions: the evaluator's writes, operators' actions, reads.

An instance row is domain/alert_states.py's `Instance` of one rule's group
(its slot), numbered by `sequence`. Each state change writes its transition
row in the same transaction; transition ids are the notifications' outbox
order (decision 0059).

Who writes what:

- the evaluator (`record_changes`, under its leader epoch, fenced by
  `check_epoch`): state, value, reason and the timing columns. Its update is
  a compare-and-set on the (sequence, state, since) it started from: when an
  operator resolved the instance meanwhile, nothing is written and
  `SlotChanged` tells it to read the slot again;
- operators (`acknowledge`, `resolve_by_hand`; rule disable and delete via
  `close_rule_instances`): their own columns and transitions, with an audit
  row, without an epoch. Acknowledgement columns are written only by
  `acknowledge`; the evaluator never touches them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from monitor.domain import alert_states as states
from monitor.domain.alert_states import (
    CLOSED,
    Acknowledgement,
    GroupKey,
    Instance,
    State,
    Transition,
)
from monitor.domain.audit import Attribution, AuditEntry
from monitor.domain.dashboards import NotFound
from monitor.storage.audit import record_change
from monitor.storage.gateway import Connection, Gateway
from monitor.storage.leadership import check_epoch

_COLUMNS = sql.SQL(
    "id, rule_id, group_key, sequence, labels, annotations, state, since, value, reason, "
    "breach_since, cleared_since, held, acknowledged_by, acknowledged_at, acknowledged_note, "
    "acknowledged_until, opened_at, closed_at"
)


class SlotChanged(Exception):
    """An instance changed under the evaluator (an operator's action): read it again."""


def group_key_text(group: GroupKey) -> str:
    """The canonical JSON of a group's labels: the slot's key in the database."""
    return json.dumps(dict(group), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class StoredInstance:
    id: int
    rule_id: int
    group: GroupKey
    labels: dict[str, str]
    annotations: dict[str, str]
    instance: Instance
    opened_at: datetime
    closed_at: datetime | None


def _stored(row: Sequence[Any]) -> StoredInstance:
    (
        instance_id,
        rule_id,
        group_text,
        sequence,
        labels,
        annotations,
        state,
        since,
        value,
        reason,
        breach_since,
        cleared_since,
        held,
        ack_by,
        ack_at,
        ack_note,
        ack_until,
        opened_at,
        closed_at,
    ) = row
    acknowledgement = (
        Acknowledgement(ack_by, ack_note or "", ack_at, ack_until) if ack_by is not None else None
    )
    instance = Instance(
        sequence=sequence,
        state=State(state),
        since=since,
        value=value,
        reason=reason,
        breach_since=breach_since,
        cleared_since=cleared_since,
        held=State(held),
        acknowledgement=acknowledgement,
    )
    group = tuple(sorted(json.loads(group_text).items()))
    return StoredInstance(
        instance_id, rule_id, group, labels, annotations, instance, opened_at, closed_at
    )


def current_instances(
    connection: Connection, rule_ids: Iterable[int] | None = None
) -> dict[int, dict[GroupKey, StoredInstance]]:
    """Each slot's latest instance, per rule (all rules when `rule_ids` is None)."""
    where = sql.SQL("" if rule_ids is None else "where rule_id = any(%s)")
    params = () if rule_ids is None else (list(rule_ids),)
    rows = connection.execute(
        sql.SQL(
            "select distinct on (rule_id, group_key) {} from alert_instances {} "
            "order by rule_id, group_key, sequence desc"
        ).format(_COLUMNS, where),
        params,
    ).fetchall()
    found: dict[int, dict[GroupKey, StoredInstance]] = {}
    for row in rows:
        stored = _stored(row)
        found.setdefault(stored.rule_id, {})[stored.group] = stored
    return found


@dataclass(frozen=True)
class SlotChange:
    """One slot after an evaluation or an action: what to write."""

    rule_id: int
    group: GroupKey
    labels: dict[str, str]
    annotations: dict[str, str]
    before: StoredInstance | None  # None: the slot has no row yet
    after: Instance
    transitions: tuple[Transition, ...]


def _insert_instance(connection: Connection, change: SlotChange) -> int:
    after = change.after
    opened_at = change.transitions[0].at if change.transitions else after.since
    row = connection.execute(
        "insert into alert_instances (rule_id, group_key, sequence, labels, annotations, state, "
        "since, value, reason, breach_since, cleared_since, held, opened_at, closed_at) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning id",
        (
            change.rule_id,
            group_key_text(change.group),
            after.sequence,
            Jsonb(change.labels),
            Jsonb(change.annotations),
            after.state.value,
            after.since,
            after.value,
            _bounded(after.reason),
            after.breach_since,
            after.cleared_since,
            after.held.value,
            opened_at,
            after.since if after.state in CLOSED else None,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _update_instance(connection: Connection, change: SlotChange, stored: StoredInstance) -> None:
    after, before = change.after, stored.instance
    closed = after.state in CLOSED and bool(change.transitions)
    updated = connection.execute(
        "update alert_instances set state = %s, since = %s, value = %s, reason = %s, "
        "breach_since = %s, cleared_since = %s, held = %s, annotations = %s, "
        "closed_at = case when %s then %s else closed_at end "
        "where id = %s and sequence = %s and state = %s and since is not distinct from %s",
        (
            after.state.value,
            after.since,
            after.value,
            _bounded(after.reason),
            after.breach_since,
            after.cleared_since,
            after.held.value,
            Jsonb(change.annotations),
            closed,
            after.since,
            stored.id,
            before.sequence,
            before.state.value,
            before.since,
        ),
    )
    if updated.rowcount != 1:
        raise SlotChanged(f"instance {stored.id} changed meanwhile")


def _bounded(reason: str | None) -> str | None:
    return None if reason is None else reason[:2000]


def _write(
    connection: Connection, change: SlotChange, *, epoch: int | None, actor: str | None
) -> list[int]:
    stored = change.before
    if stored is not None and stored.instance.sequence == change.after.sequence:
        unchanged = replace(change.after, acknowledgement=stored.instance.acknowledgement)
        if not change.transitions and (
            stored.instance == unchanged or change.after.state in CLOSED
        ):
            # Nothing the evaluator owns has changed, or only the value of a
            # closed slot: not worth a write per group per evaluation.
            return []
        _update_instance(connection, change, stored)
        instance_id = stored.id
    elif change.after.sequence == 0:
        return []  # the slot never opened an instance: nothing to keep
    else:
        instance_id = _insert_instance(connection, change)
    ids = []
    for transition in change.transitions:
        row = connection.execute(
            "insert into alert_transitions (instance_id, rule_id, from_state, to_state, at, "
            "value, reason, labels, annotations, epoch, actor) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning id",
            (
                instance_id,
                change.rule_id,
                transition.from_state.value,
                transition.to_state.value,
                transition.at,
                transition.value,
                transition.reason[:2000],
                Jsonb(change.labels),
                Jsonb(change.annotations),
                epoch,
                actor,
            ),
        ).fetchone()
        assert row is not None
        ids.append(int(row[0]))
    return ids


def record_changes(
    connection: Connection, changes: Sequence[SlotChange], *, epoch: int
) -> list[int]:
    """The evaluator's changes, all or nothing, if `epoch` still leads: the transition ids."""
    check_epoch(connection, epoch)
    ids: list[int] = []
    for change in changes:
        ids.extend(_write(connection, change, epoch=epoch, actor=None))
    return ids


async def record(gateway: Gateway, changes: Sequence[SlotChange], *, epoch: int) -> list[int]:
    return await gateway.run(lambda connection: record_changes(connection, changes, epoch=epoch))


def close_rule_instances(
    connection: Connection, rule_id: int, now: datetime, reason: str, *, actor: str
) -> list[SlotChange]:
    """Close every open instance of a rule (disabled, deleted): the changes written."""
    slots = current_instances(connection, [rule_id]).get(rule_id, {})
    written: list[SlotChange] = []
    for stored in slots.values():
        if not stored.instance.is_open:
            continue
        step = states.close(stored.instance, now, reason)
        change = SlotChange(
            rule_id,
            stored.group,
            stored.labels,
            stored.annotations,
            stored,
            step.instance,
            step.transitions,
        )
        _write(connection, change, epoch=None, actor=actor)
        written.append(change)
    return written


def _latest_locked(connection: Connection, instance_id: int) -> StoredInstance:
    """The instance, locked, if it is its slot's latest; NotFound otherwise."""
    row = connection.execute(
        sql.SQL(
            "select {} from alert_instances i where id = %s and sequence = "
            "(select max(sequence) from alert_instances o "
            "where o.rule_id = i.rule_id and o.group_key = i.group_key) for update"
        ).format(_COLUMNS),
        (instance_id,),
    ).fetchone()
    if row is None:
        raise NotFound("current alert instance", instance_id)
    return _stored(row)


async def acknowledge(
    gateway: Gateway,
    instance_id: int,
    *,
    comment: str,
    until: datetime | None,
    now: datetime,
    by: Attribution,
    by_label: str,
) -> StoredInstance:
    """Mark an open instance owned; `states.ActionRefused` when its state does not allow it."""

    def work(connection: Connection) -> StoredInstance:
        stored = _latest_locked(connection, instance_id)
        owned = states.acknowledge(stored.instance, by_label, comment, now, until)
        ack = owned.acknowledgement
        assert ack is not None
        connection.execute(
            "update alert_instances set acknowledged_by = %s, acknowledged_at = %s, "
            "acknowledged_note = %s, acknowledged_until = %s where id = %s",
            (ack.by, ack.at, ack.comment, ack.until, instance_id),
        )
        record_change(
            connection,
            AuditEntry(
                by,
                "alert_instance",
                str(instance_id),
                "acknowledge",
                after={"comment": comment, "until": None if until is None else until.isoformat()},
            ),
        )
        return replace(stored, instance=owned)

    return await gateway.run(work)


async def resolve_by_hand(
    gateway: Gateway, instance_id: int, *, now: datetime, by: Attribution, by_label: str
) -> SlotChange:
    """Close an open instance now; `states.ActionRefused` when it is closed already.
    The change as written (`before` the instance as it was, its transition)."""

    def work(connection: Connection) -> SlotChange:
        stored = _latest_locked(connection, instance_id)
        step = states.resolve_by_hand(stored.instance, by_label, now)
        change = SlotChange(
            stored.rule_id,
            stored.group,
            stored.labels,
            stored.annotations,
            stored,
            step.instance,
            step.transitions,
        )
        _write(connection, change, epoch=None, actor=by_label)
        record_change(
            connection,
            AuditEntry(
                by,
                "alert_instance",
                str(instance_id),
                "resolve",
                before={"state": stored.instance.state.value},
                after={"state": step.instance.state.value},
            ),
        )
        return change

    return await gateway.run(work)
