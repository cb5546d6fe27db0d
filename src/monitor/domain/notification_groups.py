"""When a notification group is told, and what it is told (issue 18): the group timers.

One group is a policy and the values of its `group_by` labels
(domain/notification_routing.py). Its members are the instances routed to
it, each firing or resolved, acknowledged or not, muted or not. Timing is
Alertmanager's:

- a group that has never been told waits `group_wait` from its first
  member, so instances firing together make one message;
- after a message, what changed since (a member fired or resolved) is told
  `group_interval` after the last message;
- a group with nothing new repeats every `repeat_interval` while a member
  fires that nobody owns: acknowledged members get no repeats (issue 18),
  but their resolution is still told.

Muted members (silenced or inhibited: domain/muting.py) are left out of
every message and never make one due. A resolved member is told once, then
leaves the group; a resolved member that was never told firing (it fired
and resolved within one wait, or while muted) is not told at all.

Everything here is a pure function of the group's stored state, its
members and the time, so the notifier can keep the state in the database
and a restart neither re-sends nor forgets (issue 18's delivery).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

MemberState = Literal["firing", "resolved"]


@dataclass(frozen=True)
class Member:
    instance_id: int
    state: MemberState
    acknowledged: bool = False
    muted: bool = False


@dataclass(frozen=True)
class Timing:
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta


@dataclass(frozen=True)
class GroupState:
    """What the notifier stores per group between evaluations."""

    first_seen: datetime | None = None  # when it first had a member to tell firing
    last_sent: datetime | None = None  # when it was last told anything
    told_firing: frozenset[int] = field(default_factory=frozenset)  # told firing, not resolved


@dataclass(frozen=True)
class Message:
    firing: tuple[int, ...]  # instance ids, as told now
    resolved: tuple[int, ...]
    repeat: bool  # nothing new: a reminder


def _sendable(members: Sequence[Member]) -> list[Member]:
    return [member for member in members if not member.muted]


def _news(state: GroupState, members: Sequence[Member]) -> tuple[set[int], set[int]]:
    """(newly firing, newly resolved) since the group was last told."""
    sendable = _sendable(members)
    firing = {m.instance_id for m in sendable if m.state == "firing"}
    resolved = {m.instance_id for m in sendable if m.state == "resolved"}
    return firing - state.told_firing, resolved & state.told_firing


def _owes_repeat(members: Sequence[Member]) -> bool:
    return any(m.state == "firing" and not m.acknowledged for m in _sendable(members))


def observe(state: GroupState, members: Sequence[Member], now: datetime) -> GroupState:
    """The state once `members` are known at `now`."""
    if not members and not state.told_firing:
        # Everything told and gone: the group starts afresh (group_wait again).
        return GroupState()
    showing = any(m.state == "firing" for m in _sendable(members))
    if state.first_seen is None and showing:
        return replace(state, first_seen=now)  # group_wait runs from the first it can tell
    return state


def due_at(state: GroupState, members: Sequence[Member], timing: Timing) -> datetime | None:
    """When the group is next to be told, or None while it has nothing to tell."""
    new_firing, new_resolved = _news(state, members)
    if state.last_sent is None:
        if not new_firing or state.first_seen is None:
            return None
        return state.first_seen + timing.group_wait
    if new_firing or new_resolved:
        return state.last_sent + timing.group_interval
    if _owes_repeat(members) and state.told_firing:
        return state.last_sent + timing.repeat_interval
    return None


def flush(
    state: GroupState, members: Sequence[Member], timing: Timing, now: datetime
) -> tuple[Message | None, GroupState]:
    """The message due at `now` (None when nothing is due) and the state after it is sent."""
    due = due_at(state, members, timing)
    if due is None or now < due:
        return None, state
    new_firing, new_resolved = _news(state, members)
    sendable = _sendable(members)
    firing = tuple(sorted(m.instance_id for m in sendable if m.state == "firing"))
    resolved = tuple(sorted(new_resolved))
    told = frozenset(firing)
    return (
        Message(firing, resolved, repeat=not (new_firing or new_resolved)),
        replace(state, last_sent=now, told_firing=told),
    )
