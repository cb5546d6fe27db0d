"""An alert instance's states and how each evaluation and operator action moves them.

Pure and deterministic: the clock (`now`) and every observation are passed in,
so live evaluation, `test` and backtest share this code (decision 0056).

One rule has one *slot* per group (the group's labels). A slot holds its
latest instance: `sequence` numbers the instances of the slot; an instance
*opens* when the slot leaves a closed state (inactive or resolved) and
*closes* when it returns to one, and the next opening is a new instance with
the next sequence.

States:

- `inactive`: closed, the condition does not hold (or only held while pending);
- `pending`: the condition holds, for less than `for` so far;
- `firing`: the condition has held for `for`;
- `resolved`: closed after firing, no data, an error or an operator's action;
- `no_data`: no data, and the rule's `no_data` policy is `no_data`;
- `error`: the evaluation failed, with its reason; kept apart from firing.

An observation is a `Sample` (a value), `Missing` (no data) or `Failed` (the
evaluation's error). What it means:

- a value *breaches* when `value <comparator> threshold`; once firing, the
  instance stays firing while `value <comparator> resolve_threshold` holds
  (hysteresis; without a resolve threshold it is the threshold);
- `Missing` with policy `ok` counts as not breaching, with `alerting` as
  breaching, with `no_data` moves to `no_data`;
- `Failed` moves to `error`; a NaN value is `Failed` too (nothing compares).

`no_data` and `error` interrupt without forgetting: the instance remembers
what it was (pending since when, or firing) and the next sample continues from
there, so a failed query between two breaching samples neither restarts `for`
nor resolves and reopens a firing instance.

Timing: a breach starting at t is `pending` until an evaluation at or after
t + `for` finds it still breaching, then `firing` (with `for` 0, straight to
firing). A firing instance whose condition stops holding at t stays firing
until an evaluation at or after t + `keep_firing_for` still finds it cleared
(a breach in between starts the wait over), then `resolved`. A pending
instance whose condition stops holding goes back to `inactive`.

Operator actions: `acknowledge` marks an open (firing, no_data or error)
instance owned until `until` (or until it closes), without changing its state;
`resolve` (by hand), `disable` and `delete` close any open instance: pending
goes to `inactive`, the others to `resolved`. After a manual resolve, a
condition that still holds at the next evaluation opens a new instance, which
waits out `for` again.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

Comparator = Literal[">", ">=", "<", "<=", "==", "!="]
COMPARATORS: tuple[Comparator, ...] = (">", ">=", "<", "<=", "==", "!=")
NoDataPolicy = Literal["ok", "alerting", "no_data"]
NO_DATA_POLICIES: tuple[NoDataPolicy, ...] = ("ok", "alerting", "no_data")

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class State(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    NO_DATA = "no_data"
    ERROR = "error"


CLOSED = frozenset({State.INACTIVE, State.RESOLVED})
ACKNOWLEDGEABLE = frozenset({State.FIRING, State.NO_DATA, State.ERROR})
# What `no_data` and `error` may interrupt (and return to).
_HELD = frozenset({State.INACTIVE, State.PENDING, State.FIRING})


@dataclass(frozen=True)
class Condition:
    """The part of a rule that decides states (see alert_rules.AlertRule.condition)."""

    comparator: Comparator
    threshold: float
    resolve_threshold: float | None = None
    for_: timedelta = timedelta(0)
    keep_firing_for: timedelta = timedelta(0)
    no_data: NoDataPolicy = "no_data"

    def breaches(self, value: float) -> bool:
        return _COMPARE[self.comparator](value, self.threshold)

    @property
    def compare(self) -> Callable[[float, float], bool]:
        """`breaches(v)` is `compare(v, threshold)`: for a tight loop over many values."""
        return _COMPARE[self.comparator]

    def still_holds(self, value: float) -> bool:
        """Whether a firing instance stays firing at `value` (hysteresis)."""
        limit = self.threshold if self.resolve_threshold is None else self.resolve_threshold
        return _COMPARE[self.comparator](value, limit)


@dataclass(frozen=True)
class Sample:
    value: float


@dataclass(frozen=True)
class Missing:
    pass


@dataclass(frozen=True)
class Failed:
    reason: str


Observation = Sample | Missing | Failed


@dataclass(frozen=True)
class Acknowledgement:
    by: str
    comment: str
    at: datetime
    until: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True)
class Instance:
    """A slot's latest instance. `Instance()` is a slot that never opened one."""

    sequence: int = 0  # 0: none opened yet
    state: State = State.INACTIVE
    since: datetime | None = None  # when `state` was entered
    value: float | None = None  # the last sample's value
    reason: str | None = None  # why `state` was entered
    breach_since: datetime | None = None  # start of the current breach (pending, firing)
    cleared_since: datetime | None = None  # firing, condition cleared: keep_firing_for runs
    held: State = State.INACTIVE  # in no_data or error: the state interrupted
    acknowledgement: Acknowledgement | None = None

    @property
    def is_open(self) -> bool:
        return self.state not in CLOSED

    def acknowledged(self, now: datetime) -> bool:
        return self.acknowledgement is not None and self.acknowledgement.active(now)


@dataclass(frozen=True)
class Transition:
    sequence: int  # the instance it belongs to
    from_state: State
    to_state: State
    at: datetime
    value: float | None
    reason: str


@dataclass(frozen=True)
class Step:
    instance: Instance
    transitions: tuple[Transition, ...]


class ActionRefused(ValueError):
    """An operator action the instance's state does not allow (the API's 409)."""


def _move(instance: Instance, to: State, now: datetime, reason: str) -> tuple[Instance, Transition]:
    """`instance` (with its other fields already updated) entering `to`."""
    sequence = instance.sequence + 1 if instance.state in CLOSED else instance.sequence
    moved = replace(instance, sequence=sequence, state=to, since=now, reason=reason)
    if to in CLOSED:
        moved = replace(
            moved, breach_since=None, cleared_since=None, held=State.INACTIVE, acknowledgement=None
        )
    return moved, Transition(sequence, instance.state, to, now, moved.value, reason)


def _closed_state(state: State) -> State:
    return State.INACTIVE if state in (State.PENDING, State.INACTIVE) else State.RESOLVED


def step(instance: Instance, observation: Observation, now: datetime, rule: Condition) -> Step:
    """The instance after one evaluation at `now`, and the transitions it made (0 or 1)."""
    if instance.acknowledgement is not None and not instance.acknowledgement.active(now):
        instance = replace(instance, acknowledgement=None)
    if isinstance(observation, Sample) and math.isnan(observation.value):
        observation = Failed("the value is not a number (NaN)")
    if isinstance(observation, Failed):
        return _interrupt(instance, State.ERROR, now, observation.reason)
    if isinstance(observation, Missing) and rule.no_data == "no_data":
        return _interrupt(instance, State.NO_DATA, now, "no data")
    base = instance.held if instance.state in (State.NO_DATA, State.ERROR) else instance.state
    value = observation.value if isinstance(observation, Sample) else None
    instance = replace(instance, value=value)
    if isinstance(observation, Missing):
        breaching = rule.no_data == "alerting"
        described = "no data (policy alerting)" if breaching else "no data (policy ok)"
    elif base == State.FIRING:
        breaching = rule.still_holds(observation.value)
        limit = rule.threshold if rule.resolve_threshold is None else rule.resolve_threshold
        described = (
            f"{observation.value:g} {'' if breaching else 'not '}{rule.comparator} {limit:g}"
        )
    else:
        breaching = rule.breaches(observation.value)
        described = (
            f"{observation.value:g} {'' if breaching else 'not '}{rule.comparator} "
            f"{rule.threshold:g}"
        )
    if base == State.FIRING:
        return _while_firing(instance, breaching, now, rule, described)
    if breaching:
        breach_since = instance.breach_since if base == State.PENDING else None
        breach_since = breach_since or now
        target = State.FIRING if now - breach_since >= rule.for_ else State.PENDING
        instance = replace(
            instance, breach_since=breach_since, cleared_since=None, held=State.INACTIVE
        )
        if target == instance.state:
            return Step(instance, ())
        moved, transition = _move(instance, target, now, described)
        return Step(moved, (transition,))
    if instance.state in CLOSED:
        return Step(instance, ())
    moved, transition = _move(instance, _closed_state(instance.state), now, described)
    return Step(moved, (transition,))


def _while_firing(
    instance: Instance, breaching: bool, now: datetime, rule: Condition, described: str
) -> Step:
    if breaching:
        cleared_since = None
    else:
        cleared_since = instance.cleared_since or now
        if now - cleared_since >= rule.keep_firing_for:
            moved, transition = _move(instance, State.RESOLVED, now, described)
            return Step(moved, (transition,))
    instance = replace(instance, cleared_since=cleared_since, held=State.INACTIVE)
    if instance.state == State.FIRING:
        return Step(instance, ())
    moved, transition = _move(instance, State.FIRING, now, described)
    return Step(moved, (transition,))


def _interrupt(instance: Instance, to: State, now: datetime, reason: str) -> Step:
    if instance.state == to:
        return Step(replace(instance, reason=reason), ())
    held = instance.state if instance.state in _HELD else instance.held
    if instance.state in CLOSED:
        held = State.INACTIVE
    moved, transition = _move(replace(instance, held=held, value=None), to, now, reason)
    return Step(moved, (transition,))


def acknowledge(
    instance: Instance, by: str, comment: str, now: datetime, until: datetime | None = None
) -> Instance:
    """The instance marked owned by `by`; its state and transitions are unchanged."""
    if instance.state not in ACKNOWLEDGEABLE:
        raise ActionRefused(
            f"only a firing, no_data or error instance; this one is {instance.state}"
        )
    if until is not None and until <= now:
        raise ActionRefused("until must be in the future")
    return replace(instance, acknowledgement=Acknowledgement(by, comment, now, until))


def close(instance: Instance, now: datetime, reason: str) -> Step:
    """Manual resolve, rule disabled, rule deleted: an open instance closes (see above)."""
    if not instance.is_open:
        return Step(instance, ())
    moved, transition = _move(instance, _closed_state(instance.state), now, reason)
    return Step(moved, (transition,))


def resolve_by_hand(instance: Instance, by: str, now: datetime) -> Step:
    if not instance.is_open:
        raise ActionRefused(f"the instance is already {instance.state}")
    return close(instance, now, f"resolved by {by}")


def rule_disabled(instance: Instance, now: datetime) -> Step:
    return close(instance, now, "rule disabled")


def rule_deleted(instance: Instance, now: datetime) -> Step:
    return close(instance, now, "rule deleted")


GroupKey = tuple[tuple[str, str], ...]  # a group's labels, sorted by name


@dataclass(frozen=True)
class GroupTransition:
    group: GroupKey
    transition: Transition


@dataclass(frozen=True)
class Evaluation:
    instances: Mapping[GroupKey, Instance]
    transitions: tuple[GroupTransition, ...]


def evaluate(
    rule: Condition,
    instances: Mapping[GroupKey, Instance],
    now: datetime,
    observations: Mapping[GroupKey, Observation],
) -> Evaluation:
    """One evaluation of a rule: every observed group steps, and so does every open instance
    whose group the evaluation did not see (as `Missing`). Closed groups not seen stay as
    they are. Groups step in sorted order, so the transitions come in one order."""
    after = dict(instances)
    made: list[GroupTransition] = []
    unseen_open = (g for g, i in instances.items() if i.is_open and g not in observations)
    for group in sorted({*observations, *unseen_open}):
        result = step(
            instances.get(group, Instance()), observations.get(group, Missing()), now, rule
        )
        after[group] = result.instance
        made.extend(GroupTransition(group, t) for t in result.transitions)
    return Evaluation(after, tuple(made))


def replay(
    rule: Condition,
    ticks: Iterable[tuple[datetime, Mapping[GroupKey, Observation]]],
    instances: Mapping[GroupKey, Instance] | None = None,
) -> Evaluation:
    """`evaluate` folded over ticks in time order: backtest is this over stored history."""
    current: Mapping[GroupKey, Instance] = dict(instances or {})
    made: list[GroupTransition] = []
    for now, observations in ticks:
        result = evaluate(rule, current, now, observations)
        current = result.instances
        made.extend(result.transitions)
    return Evaluation(current, tuple(made))


def firing_time(transitions: Iterable[GroupTransition], end: datetime) -> dict[GroupKey, timedelta]:
    """How long each group was firing, from transitions in time order, up to `end`."""
    total: dict[GroupKey, timedelta] = {}
    started: dict[GroupKey, datetime] = {}
    for item in transitions:
        group, transition = item.group, item.transition
        if transition.to_state == State.FIRING and group not in started:
            started[group] = transition.at
        elif transition.to_state != State.FIRING and group in started:
            total[group] = total.get(group, timedelta(0)) + transition.at - started.pop(group)
        total.setdefault(group, timedelta(0))
    for group, at in started.items():
        total[group] = total[group] + max(end - at, timedelta(0))
    return total
