"""Trying a rule without side effects: `test` (one evaluation now) and backtest (a replay).

Both ask alert_observations.py what the rule sees and step the groups with
domain/alert_states.py `evaluate`, exactly as the evaluator does, so what
they answer is what live evaluation would have done on the same data
(decision 0056). Nothing is written: no instance, transition or audit row.

- `test`: the rule's observations at `now`, stepped from the rule's current
  instances (a saved rule) or from none (an unsaved one): per group, the
  value, the state it would be in, why, and its annotations rendered.
- backtest: the rule evaluated at `start`, `start + interval`, ... before
  `end` over stored data, from no instances; the transitions it would have
  made and how long each group would have fired. All ticks are read in one
  transaction, one statement per tick (`MAX_TICKS` bounds them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.alert_observations import EventFilterOf, RuleToObserve, observe, observe_in
from monitor.alert_templates import Rendered, instance_labels, render_all
from monitor.domain.alert_rules import AlertRule, EventCount, MetricThreshold
from monitor.domain.alert_states import (
    GroupKey,
    GroupTransition,
    Instance,
    evaluate,
    firing_time,
)
from monitor.storage.gateway import Connection, Gateway

MAX_TICKS = 2000
MAX_TRANSITIONS = 10_000
TRIAL_RULE_ID = 0  # an unsaved rule's id while it is observed (rule ids start at 1)


def threshold_of(rule: AlertRule) -> float | None:
    spec = rule.spec
    return spec.limit.threshold if isinstance(spec, MetricThreshold | EventCount) else None


@dataclass(frozen=True)
class GroupTrial:
    group: GroupKey
    labels: dict[str, str]
    instance: Instance
    annotations: Mapping[str, Rendered]


async def try_now(
    gateway: Gateway,
    rule: AlertRule,
    *,
    rule_id: int,
    current: Mapping[GroupKey, Instance],
    now: datetime,
    event_filter_of: EventFilterOf,
) -> list[GroupTrial]:
    """Each group as one evaluation at `now` would leave it, from `current`, by group."""
    known = frozenset(group for group, instance in current.items() if instance.is_open)
    observed = await observe(gateway, [RuleToObserve(rule_id, rule, known)], now, event_filter_of)
    observations = observed.get(rule_id, {})
    result = evaluate(rule.condition(), current, now, observations)
    trials = []
    for group in sorted({*observations, *(g for g in current if current[g].is_open)}):
        instance = result.instances[group]
        labels = instance_labels(rule, dict(group), instance.value).labels
        rendered = render_all(
            rule.annotations,
            value=instance.value,
            labels=labels,
            threshold=threshold_of(rule),
            rule=rule.name,
        )
        trials.append(GroupTrial(group, labels, instance, rendered))
    return trials


@dataclass(frozen=True)
class Backtest:
    ticks: int
    transitions: tuple[GroupTransition, ...]  # in time order, at most MAX_TRANSITIONS
    truncated: bool  # more transitions were made than are kept
    firing: dict[GroupKey, timedelta]  # every group that fired, with how long
    final: Mapping[GroupKey, Instance]


def ticks_between(start: datetime, end: datetime, interval: timedelta) -> int:
    """How many evaluations at `interval` fall in [start, end)."""
    return max(0, -(-(end - start) // interval))


def _replay(
    connection: Connection,
    rule: AlertRule,
    rule_id: int,
    times: Sequence[datetime],
    event_filter_of: EventFilterOf,
) -> tuple[Mapping[GroupKey, Instance], list[GroupTransition], bool]:
    condition = rule.condition()
    current: Mapping[GroupKey, Instance] = {}
    made: list[GroupTransition] = []
    truncated = False
    for now in times:
        known = frozenset(group for group, instance in current.items() if instance.is_open)
        observed = observe_in(
            connection, [RuleToObserve(rule_id, rule, known)], now, event_filter_of
        )
        result = evaluate(condition, current, now, observed.get(rule_id, {}))
        current = result.instances
        room = MAX_TRANSITIONS - len(made)
        truncated = truncated or len(result.transitions) > room
        made.extend(result.transitions[: max(room, 0)])
    return current, made, truncated


async def backtest(
    gateway: Gateway,
    rule: AlertRule,
    *,
    rule_id: int,
    start: datetime,
    end: datetime,
    event_filter_of: EventFilterOf,
) -> Backtest:
    """The rule replayed over stored data at its interval in [start, end), from no instances."""
    count = ticks_between(start, end, rule.interval)
    if count > MAX_TICKS:
        raise ValueError(f"{count} evaluations; at most {MAX_TICKS}")
    times = [start + rule.interval * index for index in range(count)]
    final, made, truncated = await gateway.run(
        lambda connection: _replay(connection, rule, rule_id, times, event_filter_of)
    )
    firing = {group: spent for group, spent in firing_time(made, end).items() if spent}
    return Backtest(count, tuple(made), truncated, firing, final)
