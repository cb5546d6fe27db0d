"""SQL for the notifier's planner: its cursor on the transitions, its groups and their members.

All of it runs inside the planner's one transaction per tick
(notifications/planning.py), after `check_epoch`: what it reads and what it
writes commit together or not at all. Migration 0021 explains the tables.

The cursor reads by commit order, not by id: transition ids are handed out
before commit, so an id below one already read can still appear. A tick
reads the transitions whose transaction id is at or above `read_to` and
below the oldest transaction still running (`pg_snapshot_xmin`), then moves
`read_to` there: every transaction below it has committed or never will.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from monitor.domain.notification_routing import GroupKey
from monitor.storage.gateway import Connection


@dataclass(frozen=True)
class ReadTransition:
    id: int
    instance_id: int
    to_state: str
    labels: dict[str, str]  # the instance's labels now


@dataclass(frozen=True)
class TransitionsRead:
    transitions: list[ReadTransition]
    read_to: int  # the cursor after this read (a transaction id)
    held_back: int  # committed transitions left for a later tick (behind a running one)


def read_transitions(connection: Connection) -> TransitionsRead:
    """The transitions committed since the cursor, by id; the cursor is moved past them.

    Call before anything in the transaction takes an xid (a write or a row
    lock): an own xid would only hold the mark back, never skip a row.
    """
    row = connection.execute(
        "select read_to, pg_snapshot_xmin(pg_current_snapshot()) from notifier_cursor for update"
    ).fetchone()
    assert row is not None, "migration 0021 inserts the cursor row"
    read_to, xmin = row
    rows = connection.execute(
        "select t.id, t.instance_id, t.to_state, i.labels from alert_transitions t "
        "join alert_instances i on i.id = t.instance_id "
        "where t.xid >= %s::xid8 and t.xid < %s::xid8 order by t.id",
        (str(read_to), str(xmin)),
    ).fetchall()
    connection.execute(
        "update notifier_cursor set read_to = %s::xid8, updated_at = now()", (str(xmin),)
    )
    held = connection.execute(
        "select count(*) from alert_transitions where xid >= %s::xid8", (str(xmin),)
    ).fetchone()
    transitions = [ReadTransition(int(r[0]), int(r[1]), str(r[2]), dict(r[3])) for r in rows]
    return TransitionsRead(transitions, int(str(xmin)), int(held[0]) if held else 0)


MAX_GROUP_KEY = 8192  # migration 0021's bound on `group_key`


def group_labels_json(key: GroupKey) -> str:
    return json.dumps(dict(key.labels), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def group_key_text(key: GroupKey) -> str:
    """The group's key beside the policy id: the canonical JSON of its labels, or that
    JSON's SHA-256 when it is too long to store (`group_by: ["..."]` on long labels),
    so no label set can make a tick fail over and over."""
    text = group_labels_json(key)
    if len(text) <= MAX_GROUP_KEY:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def join_groups(connection: Connection, joining: Sequence[tuple[int, GroupKey]]) -> set[int]:
    """Make each (instance id, group) a membership, groups made if new: the groups' ids.

    Three statements whatever the count: a burst of thousands of instances
    firing at once is one tick's work, not thousands of round trips.
    """
    if not joining:
        return set()
    labels = {(key.policy_id, group_key_text(key)): group_labels_json(key) for _, key in joining}
    keys = sorted(labels)
    policy_ids = [policy_id for policy_id, _ in keys]
    texts = [text for _, text in keys]
    connection.execute(
        "insert into notification_groups (policy_id, group_key, group_labels) "
        "select p, k, l::jsonb from unnest(%s::bigint[], %s::text[], %s::text[]) as u (p, k, l) "
        "on conflict (policy_id, group_key) do nothing",
        (policy_ids, texts, [labels[key] for key in keys]),
    )
    rows = connection.execute(
        "select g.id, g.policy_id, g.group_key from notification_groups g "
        "join unnest(%s::bigint[], %s::text[]) as u (p, k) "
        "on g.policy_id = u.p and g.group_key = u.k",
        (policy_ids, texts),
    ).fetchall()
    ids = {(int(policy_id), str(text)): int(group_id) for group_id, policy_id, text in rows}
    members = sorted(
        {(ids[(key.policy_id, group_key_text(key))], instance_id) for instance_id, key in joining}
    )
    connection.execute(
        "insert into notification_group_members (group_id, instance_id) "
        "select * from unnest(%s::bigint[], %s::bigint[]) on conflict do nothing",
        ([group_id for group_id, _ in members], [instance_id for _, instance_id in members]),
    )
    return set(ids.values())


def groups_of_instances(connection: Connection, instance_ids: Sequence[int]) -> set[int]:
    rows = connection.execute(
        "select distinct group_id from notification_group_members where instance_id = any(%s)",
        (list(instance_ids),),
    ).fetchall()
    return {int(row[0]) for row in rows}


def groups_to_look_at(
    connection: Connection, touched: Iterable[int], now: datetime, *, every: bool
) -> list[int]:
    """The touched groups, those due by `now`, and all of them when `every`."""
    rows = connection.execute(
        "select id from notification_groups where %s or id = any(%s) "
        "or due_at <= %s or refresh_due_at <= %s order by id",
        (every, list(touched), now, now),
    ).fetchall()
    return [int(row[0]) for row in rows]


@dataclass(frozen=True)
class GroupRow:
    id: int
    policy_id: int
    group_labels: dict[str, str]
    first_seen: datetime | None
    last_sent: datetime | None
    told_firing: frozenset[int]
    due_at: datetime | None
    refresh_due_at: datetime | None


def read_groups(connection: Connection, group_ids: Sequence[int]) -> list[GroupRow]:
    rows = connection.execute(
        "select id, policy_id, group_labels, first_seen, last_sent, told_firing, due_at, "
        "refresh_due_at from notification_groups where id = any(%s) order by id",
        (list(group_ids),),
    ).fetchall()
    return [
        GroupRow(
            int(r[0]),
            int(r[1]),
            {str(k): str(v) for k, v in r[2].items()},
            r[3],
            r[4],
            frozenset(int(i) for i in r[5]),
            r[6],
            r[7],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class MemberRow:
    """A member's instance as it is now."""

    group_id: int
    instance_id: int
    rule_id: int
    labels: dict[str, str]
    annotations: dict[str, str]
    firing: bool
    value: float | None
    starts_at: datetime  # when it last began firing (when it opened, if it never did)
    ends_at: datetime | None  # when it stopped firing; None while it fires
    acknowledged_by: str | None
    acknowledged_until: datetime | None

    def acknowledged(self, now: datetime) -> bool:
        """Owned now: acknowledged, and not past its `until`."""
        if self.acknowledged_by is None:
            return False
        return self.acknowledged_until is None or now < self.acknowledged_until


def read_members(connection: Connection, group_ids: Sequence[int]) -> list[MemberRow]:
    rows = connection.execute(
        "select m.group_id, i.id, i.rule_id, i.labels, i.annotations, "
        "i.state = 'firing' and i.closed_at is null, i.value, "
        "coalesce((select max(t.at) from alert_transitions t "
        "where t.instance_id = i.id and t.to_state = 'firing'), i.opened_at), "
        "i.since, i.closed_at, i.acknowledged_by, i.acknowledged_until "
        "from notification_group_members m join alert_instances i on i.id = m.instance_id "
        "where m.group_id = any(%s) order by m.group_id, i.id",
        (list(group_ids),),
    ).fetchall()
    members = []
    for r in rows:
        firing = bool(r[5])
        members.append(
            MemberRow(
                group_id=int(r[0]),
                instance_id=int(r[1]),
                rule_id=int(r[2]),
                labels=dict(r[3]),
                annotations=dict(r[4]),
                firing=firing,
                value=r[6],
                starts_at=r[7],
                ends_at=None if firing else (r[9] or r[8]),
                acknowledged_by=r[10],
                acknowledged_until=r[11],
            )
        )
    return members


@dataclass(frozen=True)
class ChannelRow:
    id: int
    kind: str
    enabled: bool
    send_resolved: bool


def read_channels(connection: Connection) -> dict[int, ChannelRow]:
    """The channels not deleted, by id."""
    rows = connection.execute(
        "select id, kind, enabled, settings from notification_channels where deleted_at is null"
    ).fetchall()
    return {
        int(r[0]): ChannelRow(int(r[0]), str(r[1]), bool(r[2]), _send_resolved(r[3])) for r in rows
    }


def _send_resolved(settings: dict[str, Any]) -> bool:
    # Channels saved before the setting existed send resolutions (its default).
    return settings.get("send_resolved", True) is not False


@dataclass(frozen=True)
class GroupTimers:
    """A group's state to store (domain/notification_groups.py GroupState and when it is due)."""

    group_id: int
    first_seen: datetime | None
    last_sent: datetime | None
    told_firing: frozenset[int]
    due_at: datetime | None
    refresh_due_at: datetime | None


def store_groups(connection: Connection, groups: Sequence[GroupTimers]) -> None:
    """One statement for all of them (a rescan may change thousands)."""
    if not groups:
        return
    connection.execute(
        "update notification_groups g set first_seen = u.first_seen, last_sent = u.last_sent, "
        "told_firing = array(select jsonb_array_elements_text(u.told)::bigint), "
        "due_at = u.due_at, refresh_due_at = u.refresh_due_at "
        "from unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::jsonb[], "
        "%s::timestamptz[], %s::timestamptz[]) "
        "as u (id, first_seen, last_sent, told, due_at, refresh_due_at) where g.id = u.id",
        (
            [g.group_id for g in groups],
            [g.first_seen for g in groups],
            [g.last_sent for g in groups],
            [Jsonb(sorted(g.told_firing)) for g in groups],
            [g.due_at for g in groups],
            [g.refresh_due_at for g in groups],
        ),
    )


def drop_members(connection: Connection, memberships: Sequence[tuple[int, int]]) -> None:
    """Delete these (group id, instance id) memberships."""
    if memberships:
        connection.execute(
            "delete from notification_group_members m "
            "using unnest(%s::bigint[], %s::bigint[]) as u (g, i) "
            "where m.group_id = u.g and m.instance_id = u.i",
            ([g for g, _ in memberships], [i for _, i in memberships]),
        )


def delete_groups(connection: Connection, group_ids: Sequence[int]) -> None:
    if group_ids:
        connection.execute("delete from notification_groups where id = any(%s)", (list(group_ids),))


def counts(connection: Connection) -> tuple[int, int]:
    """(groups, members) now."""
    row = connection.execute(
        "select (select count(*) from notification_groups), "
        "(select count(*) from notification_group_members)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
