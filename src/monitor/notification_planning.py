"""One tick of the notifier's planner: what each notification group is told, queued (issue 18).

`plan_once` runs in one transaction, fenced by the leader epoch like every
alert write (storage/leadership.py `check_epoch`), so a planner that lost
the lead writes nothing and a tick that fails leaves everything as it was:

1. Read the transitions committed since the cursor (storage/notifier_groups.py
   explains the cursor) and move it.
2. A transition into `firing` routes the instance's labels through the
   current policies (domain/notification_routing.py) and makes it a member
   of each policy's group. Any other transition touches the groups the
   instance is a member of; whether a member fires is read from its
   instance row when the group is looked at, so resolutions, closes by
   hand or by a rule's disable or delete, and acknowledgements (which write
   no transition) all reach the group from the row.
3. Look at the touched groups, those whose `due_at` or `refresh_due_at` has
   come, and every group when `rescan` (silences and inhibitions begin and
   end without a transition). Each member's instance row and what mutes it
   now (alert_muting.py) make the domain's Members; `observe` then `flush`
   (domain/notification_groups.py) with the policy's timing say whether a
   message is due. A message queues one delivery per enabled channel of
   the policy (storage/deliveries.py), its content fixed as
   notifications/snapshot.py stores it, under a fresh idempotency key.
4. While a group has told firing alerts and its policy has an
   `alertmanager` channel, every `repost` (a minute) those channels are sent
   the told firing alerts that are not muted again (`refresh`):
   Alertmanager resolves an alert that is not re-sent within its
   `resolve_timeout`.

A channel whose `send_resolved` is false gets no resolved alerts, and no
message when only resolutions are new (Alertmanager's receiver option).

Everything is a function of the database and `now`, so tests drive it on
a virtual clock and a restarted planner carries on where the last one
committed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.alert_muting import MutingRules, read_muting_rules
from monitor.domain.notification_documents import parse_policy
from monitor.domain.notification_groups import (
    GroupState,
    Member,
    Message,
    Timing,
    due_at,
    flush,
    observe,
)
from monitor.domain.notification_routing import GroupKey, Policy, groups_of
from monitor.notifications.groups import AlertInstance
from monitor.notifications.snapshot import snapshot_json
from monitor.storage import notifier_groups as store
from monitor.storage import versioned_documents as documents
from monitor.storage.deliveries import DeliveryReason, NewDelivery, enqueue
from monitor.storage.gateway import Connection
from monitor.storage.leadership import check_epoch
from monitor.storage.notification_tables import DEFAULT_POLICY, POLICIES

log = logging.getLogger(__name__)

# MONITOR_NOTIFIER_ALERTMANAGER_REPOST's default; Alertmanager's resolve_timeout is 5 min.
REPOST_INTERVAL = timedelta(seconds=60)
ALERTMANAGER = "alertmanager"


@dataclass(frozen=True)
class PlanOutcome:
    """What one tick did: the planner's figures."""

    transitions: int  # read from the cursor
    looked_at: int  # groups
    queued: int  # deliveries
    groups: int  # groups now
    members: int  # members now
    held_back: int  # committed transitions behind a running transaction, left for later


@dataclass(frozen=True)
class _Policies:
    ordered: list[Policy]
    default: Policy
    by_id: dict[int, Policy]


def _read_policies(connection: Connection) -> _Policies:
    ordered: list[Policy] = []
    for record in documents.read_all(connection, POLICIES):
        try:
            ordered.append(parse_policy(record.definition).policy(record.id))
        except ValueError as refused:  # stored by another version: say so, route around it
            log.error(
                "notification policy not used: unreadable",
                extra={"policy_id": record.id, "error": str(refused)},
            )
    [default_record] = documents.read_all(connection, DEFAULT_POLICY)
    default = parse_policy(default_record.definition, default=True).policy(default_record.id)
    by_id = {policy.id: policy for policy in [*ordered, default]}
    return _Policies(ordered, default, by_id)


def plan_once(
    connection: Connection,
    epoch: int,
    now: datetime,
    *,
    rescan: bool,
    repost: timedelta = REPOST_INTERVAL,
) -> PlanOutcome:
    """One tick at `now` under `epoch` (LostLeadership when it no longer leads); Alertmanager
    channels are re-sent a group's firing alerts every `repost`."""
    read = store.read_transitions(connection)  # first: before this transaction takes an xid
    check_epoch(connection, epoch)
    policies = _read_policies(connection)
    joining: list[tuple[int, GroupKey]] = []
    leaving: list[int] = []
    for transition in read.transitions:
        if transition.to_state == "firing":
            joining += [
                (transition.instance_id, key)
                for key in groups_of(policies.ordered, policies.default, transition.labels)
            ]
        else:
            leaving.append(transition.instance_id)
    touched = store.join_groups(connection, joining)
    if leaving:
        touched |= store.groups_of_instances(connection, leaving)
    group_ids = store.groups_to_look_at(connection, touched, now, every=rescan)
    writes = _Writes()
    if group_ids:
        groups = store.read_groups(connection, group_ids)
        members: dict[int, list[store.MemberRow]] = {}
        for row in store.read_members(connection, group_ids):
            members.setdefault(row.group_id, []).append(row)
        muting = read_muting_rules(connection, now)
        channels = store.read_channels(connection)
        for group in groups:
            policy = policies.by_id.get(group.policy_id)
            if policy is None:
                continue  # unreadable policy (a deleted one's groups are gone by cascade)
            _look_at(
                writes, group, members.get(group.id, []), policy, muting, channels, now, repost
            )
    enqueue(connection, writes.deliveries)
    store.drop_members(connection, writes.gone)
    store.delete_groups(connection, writes.deleted)
    store.store_groups(connection, writes.timers)
    group_count, member_count = store.counts(connection)
    return PlanOutcome(
        len(read.transitions),
        len(group_ids),
        len(writes.deliveries),
        group_count,
        member_count,
        read.held_back,
    )


@dataclass
class _Writes:
    """What a tick's looks decided, written together at its end."""

    deliveries: list[NewDelivery] = field(default_factory=list)
    gone: list[tuple[int, int]] = field(default_factory=list)  # (group, instance) memberships
    deleted: list[int] = field(default_factory=list)  # groups
    timers: list[store.GroupTimers] = field(default_factory=list)  # groups whose state changed


def _look_at(
    writes: _Writes,
    group: store.GroupRow,
    rows: Sequence[store.MemberRow],
    policy: Policy,
    muting: MutingRules,
    channels: Mapping[int, store.ChannelRow],
    now: datetime,
    repost: timedelta,
) -> None:
    """What the group is told now, and its state after."""
    by_id = {row.instance_id: row for row in rows}
    members = [
        Member(
            row.instance_id,
            "firing" if row.firing else "resolved",
            acknowledged=row.acknowledged(now),
            muted=muting.of(row.labels, now).muted,
        )
        for row in rows
    ]
    timing = Timing(policy.group_wait, policy.group_interval, policy.repeat_interval)
    # A told instance whose row is gone (kept past retention) has nothing left to tell.
    before = GroupState(group.first_seen, group.last_sent, group.told_firing & by_id.keys())
    state = observe(before, members, now)
    message, after = flush(state, members, timing, now)
    targets = [
        channels[channel_id]
        for channel_id in policy.channel_ids
        if channel_id in channels and channels[channel_id].enabled
    ]
    deliveries: list[NewDelivery] = []
    if message is not None:
        deliveries += _message_deliveries(group, policy, message, before, by_id, targets, now)
    refresh_due_at = _refresh_due_at(group, after, message, targets, now, repost)
    if (
        refresh_due_at is not None
        and message is None
        and group.refresh_due_at is not None
        and group.refresh_due_at <= now
    ):
        alerts = _alerts(by_id, [m.instance_id for m in members if _refreshable(m, after)], now)
        if alerts:
            deliveries += [
                _delivery(group, policy, channel, "refresh", alerts)
                for channel in targets
                if channel.kind == ALERTMANAGER
            ]
    writes.deliveries += deliveries
    # Resolved members leave once told (or never owed telling).
    gone = [
        m.instance_id
        for m in members
        if m.state == "resolved" and m.instance_id not in after.told_firing
    ]
    writes.gone += [(group.id, instance_id) for instance_id in gone]
    staying = [m for m in members if m.instance_id not in gone]
    if not staying and not after.told_firing:
        writes.deleted.append(group.id)
        return
    timers = store.GroupTimers(
        group.id,
        after.first_seen,
        after.last_sent,
        after.told_firing,
        due_at(after, staying, timing),
        refresh_due_at,
    )
    if timers != store.GroupTimers(
        group.id,
        group.first_seen,
        group.last_sent,
        group.told_firing,
        group.due_at,
        group.refresh_due_at,
    ):
        writes.timers.append(timers)  # most groups a rescan reads have nothing new


def _refreshable(member: Member, state: GroupState) -> bool:
    return member.state == "firing" and not member.muted and member.instance_id in state.told_firing


def _refresh_due_at(
    group: store.GroupRow,
    after: GroupState,
    message: Message | None,
    targets: Sequence[store.ChannelRow],
    now: datetime,
    repost: timedelta,
) -> datetime | None:
    """When the Alertmanager channels are next re-sent the firing alerts (None: never)."""
    if not after.told_firing or not any(c.kind == ALERTMANAGER for c in targets):
        return None
    if message is not None or group.refresh_due_at is None or group.refresh_due_at <= now:
        return now + repost  # just told, newly owed, or re-sent now
    return group.refresh_due_at


def _message_deliveries(
    group: store.GroupRow,
    policy: Policy,
    message: Message,
    before: GroupState,
    by_id: Mapping[int, store.MemberRow],
    targets: Sequence[store.ChannelRow],
    now: datetime,
) -> list[NewDelivery]:
    firing = _alerts(by_id, message.firing, now)
    resolved = _alerts(by_id, message.resolved, now)
    newly_firing = bool(set(message.firing) - before.told_firing)
    made = []
    for channel in targets:
        alerts = firing + resolved
        if not channel.send_resolved:
            if not message.repeat and not newly_firing:
                continue  # only resolutions are new: not this channel's to hear
            alerts = firing
        if not alerts:
            continue
        reason: DeliveryReason
        if message.repeat:
            reason = "repeat"
        elif not any(alert.status == "firing" for alert in alerts):
            reason = "resolved"
        else:
            reason = "news"
        made.append(_delivery(group, policy, channel, reason, alerts))
    return made


def _alerts(
    by_id: Mapping[int, store.MemberRow], instance_ids: Iterable[int], now: datetime
) -> tuple[AlertInstance, ...]:
    return tuple(_alert(by_id[i], now) for i in instance_ids if i in by_id)


def _alert(row: store.MemberRow, now: datetime) -> AlertInstance:
    return AlertInstance(
        labels=row.labels,
        annotations=row.annotations,
        status="firing" if row.firing else "resolved",
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        value=row.value,
        rule_id=row.rule_id,
        instance_id=row.instance_id,
        acknowledged=row.acknowledged(now),
    )


def _delivery(
    group: store.GroupRow,
    policy: Policy,
    channel: store.ChannelRow,
    reason: DeliveryReason,
    alerts: tuple[AlertInstance, ...],
) -> NewDelivery:
    return NewDelivery(
        channel_id=channel.id,
        # Fresh for each message: every retry of it carries this one.
        idempotency_key=f"n{group.id}-{channel.id}-{secrets.token_hex(12)}",
        reason=reason,
        message=snapshot_json(group.group_labels, alerts),
        group_id=group.id,
        policy_id=policy.id,
    )
