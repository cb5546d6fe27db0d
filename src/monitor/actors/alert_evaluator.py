"""The alert evaluator: while this instance leads, evaluates every enabled rule when it is due.

Every instance runs it; only the leader works (actors/leadership.py). On
taking the lead it reads the rules and their instances; afterwards it reads
the rules again whenever their fingerprint (count and versions) changes,
so a rule saved through the API is evaluated from its next tick on.

A cycle takes the rules that are due, reads their observations in one
transaction (alert_observations.py: rules on one selector share one
statement), steps every group through the state machine
(domain/alert_states.py `evaluate`) and records what changed in one
transaction, fenced by the leader epoch (storage/alert_instances.py). The
transitions are then published on the `alerts` live channel.

Timing: a rule is due every `interval`; its data ends at `now - offset`.
A rule found due more than one interval late is not replayed tick by tick:
the missed ticks are counted (`late_ticks`) and it is next due one interval
from now. For one window after taking the lead, a group that has no data is
not stepped (it keeps its state): the new leader's first reads must not be
taken for missing data (issue 17: absence and no_data wait one window).

Error handling: a database outage skips the cycle (logged), the rules stay
due; `LostLeadership` drops everything read (the leadership actor notices
the loss itself); `SlotChanged` (an operator resolved an instance
meanwhile) drops the cycle's writes and reads the instances again before
the next one. Anything else crashes the actor; the supervisor restarts it
and it reads everything again. Resource handling: no inbox, its state is
bounded by the rules and their groups; cancelled at shutdown.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import trio

from monitor.alert_observations import Observations, RuleToObserve, groups_seen, window_of
from monitor.alert_templates import instance_labels, render_all
from monitor.domain.alert_live import transition_item
from monitor.domain.alert_rules import AlertRule, EventCount, MetricThreshold
from monitor.domain.alert_states import (
    Failed,
    GroupKey,
    Instance,
    Sample,
    Transition,
    evaluate,
)
from monitor.evaluator_figures import EvaluatorFigures
from monitor.leadership import Leadership
from monitor.messages import AlertTransitions
from monitor.storage.alert_instances import SlotChange, SlotChanged, StoredInstance
from monitor.storage.alert_rules import RuleRecord
from monitor.storage.alert_runs import RuleRun
from monitor.storage.errors import StorageUnavailable
from monitor.storage.leadership import LostLeadership

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluatorDeps:
    rules_fingerprint: Callable[[], Awaitable[object]]
    load_rules: Callable[[], Awaitable[list[RuleRecord]]]
    parse: Callable[[RuleRecord], AlertRule]
    load_instances: Callable[[Sequence[int]], Awaitable[dict[int, dict[GroupKey, StoredInstance]]]]
    observe: Callable[[Sequence[RuleToObserve], datetime], Awaitable[dict[int, Observations]]]
    record: Callable[[Sequence[SlotChange], Sequence[RuleRun], int], Awaitable[list[int]]]
    publish: Callable[[AlertTransitions], None]
    now: Callable[[], datetime]


@dataclass
class _Rule:
    id: int
    rule: AlertRule
    due: datetime


@dataclass
class _Term:
    """What the evaluator holds while it leads under one epoch."""

    epoch: int
    began: datetime
    fingerprint: object = None
    rules: dict[int, _Rule] = field(default_factory=dict)
    slots: dict[int, dict[GroupKey, StoredInstance]] = field(default_factory=dict)
    slots_stale: bool = False


async def run(
    leadership: Leadership,
    deps: EvaluatorDeps,
    figures: EvaluatorFigures,
    *,
    tick: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    term: _Term | None = None
    while True:
        epoch = leadership.epoch
        if epoch is None:
            term = None
        else:
            if term is None or term.epoch != epoch:
                term = _Term(epoch, deps.now())
            try:
                await _cycle(term, deps, figures)
            except StorageUnavailable as failure:
                figures.skipped_cycles += 1
                log.warning(
                    "alert evaluation skipped: database unavailable", extra={"error": str(failure)}
                )
            except LostLeadership as lost:
                log.warning("alert evaluation stopped: leadership lost", extra={"error": str(lost)})
                term = None
            except SlotChanged as changed:
                figures.write_conflicts += 1
                log.info(
                    "alert instance changed meanwhile; reading again",
                    extra={"detail": str(changed)},
                )
                if term is not None:
                    term.slots_stale = True
        await trio.sleep(tick)


async def _refresh_rules(term: _Term, deps: EvaluatorDeps, now: datetime) -> None:
    fingerprint = await deps.rules_fingerprint()
    if fingerprint == term.fingerprint:
        return
    records = await deps.load_rules()
    fresh: dict[int, _Rule] = {}
    for record in records:
        if not record.enabled:
            continue
        try:
            rule = deps.parse(record)
        except ValueError as refused:  # stored by an older version, say: say so, skip it
            log.error(
                "alert rule not evaluated: unreadable",
                extra={"rule_id": record.id, "error": str(refused)},
            )
            continue
        known = term.rules.get(record.id)
        due = known.due if known is not None and known.rule.interval == rule.interval else now
        fresh[record.id] = _Rule(record.id, rule, due)
    added = [rule_id for rule_id in fresh if rule_id not in term.slots]
    term.rules = fresh
    term.slots = {rule_id: slots for rule_id, slots in term.slots.items() if rule_id in fresh}
    if added:
        term.slots.update(await _load(deps, added))
    term.fingerprint = fingerprint


async def _load(
    deps: EvaluatorDeps, rule_ids: Sequence[int]
) -> dict[int, dict[GroupKey, StoredInstance]]:
    found = await deps.load_instances(rule_ids)
    return {rule_id: found.get(rule_id, {}) for rule_id in rule_ids}


async def _cycle(term: _Term, deps: EvaluatorDeps, figures: EvaluatorFigures) -> None:
    now = deps.now()
    await _refresh_rules(term, deps, now)
    if term.slots_stale:
        term.slots = await _load(deps, list(term.rules))
        term.slots_stale = False
    figures.rules = len(term.rules)
    due = [rule for rule in term.rules.values() if rule.due <= now]
    if not due:
        return
    began = time.perf_counter()
    figures.lag_s = round(max((now - rule.due).total_seconds() for rule in due), 3)
    figures.max_lag_s = max(figures.max_lag_s, figures.lag_s)
    asked = [
        RuleToObserve(
            rule.id,
            rule.rule,
            frozenset(g for g, s in term.slots.get(rule.id, {}).items() if s.instance.is_open),
            changes_only=True,
        )
        for rule in due
    ]
    observed = await deps.observe(asked, now)
    changes: list[SlotChange] = []
    label_problems: dict[int, set[str]] = {}
    for rule in due:
        made, problems = _evaluate(term, rule, observed.get(rule.id, {}), now)
        changes.extend(made)
        label_problems[rule.id] = problems
    next_due = {rule.id: _next_due(rule, now) for rule in due}
    runs = [
        _run_of(rule, observed.get(rule.id, {}), label_problems[rule.id], now, next_due[rule.id])
        for rule in due
    ]
    await deps.record(changes, runs, term.epoch)
    # Only once recorded: a cycle that failed leaves its rules due.
    for rule in due:
        figures.late_ticks += _missed_ticks(rule, now)
        rule.due = next_due[rule.id]
    _apply(term, changes)
    figures.cycles += 1
    figures.evaluations += len(due)
    figures.transitions += sum(len(change.transitions) for change in changes)
    elapsed = (time.perf_counter() - began) * 1000
    figures.last_cycle_ms = round(elapsed, 1)
    figures.max_cycle_ms = max(figures.max_cycle_ms, figures.last_cycle_ms)
    figures.last_evaluated_at = time.time()
    if any(change.transitions and _new_row(change) for change in changes):
        # Rows inserted this cycle: their ids are needed for the next compare-and-set.
        term.slots.update(await _load(deps, [c.rule_id for c in changes if _new_row(c)]))
    published = _published(term, changes)
    if published:
        deps.publish(AlertTransitions(published))


def _run_of(
    rule: _Rule,
    observations: Observations,
    label_problems: set[str],
    now: datetime,
    next_due: datetime,
) -> RuleRun:
    failures = {seen.reason for seen in observations.values() if isinstance(seen, Failed)}
    failures |= label_problems
    failed = "; ".join(sorted(failures)) if failures else None
    return RuleRun(rule.id, now, next_due, groups_seen(observations), failed)


def _missed_ticks(rule: _Rule, now: datetime) -> int:
    """How many of the rule's ticks passed unevaluated (not made up for)."""
    late = now - rule.due
    return int(late / rule.rule.interval) if late >= rule.rule.interval else 0


def _next_due(rule: _Rule, now: datetime) -> datetime:
    """One interval on; from now when the rule was found an interval late or more."""
    if now - rule.due >= rule.rule.interval:
        return now + rule.rule.interval
    return rule.due + rule.rule.interval


def _in_warm_up(term: _Term, rule: AlertRule, now: datetime) -> bool:
    window = window_of(rule) or rule.interval
    return now - term.began < window


def _evaluate(
    term: _Term, rule: _Rule, observations: Observations, now: datetime
) -> tuple[list[SlotChange], set[str]]:
    """What to write for the rule's groups, and why rule labels failed to render (the
    instance is kept without such a label; the rule's run shows the reason)."""
    slots = term.slots.get(rule.id, {})
    current: dict[GroupKey, Instance] = {group: s.instance for group, s in slots.items()}
    if _in_warm_up(term, rule.rule, now):
        # Not stepped as missing: the previous leader may have seen data we have not.
        current = {g: i for g, i in current.items() if not i.is_open or g in observations}
    condition = rule.rule.condition()
    # Most groups are closed and stay so: a value that does not breach changes nothing
    # there but the value, which is not kept for closed slots. Not stepping them keeps
    # a cycle of 100,000 groups cheap (and this loop is written for that many).
    open_groups = {group for group, instance in current.items() if instance.is_open}
    breaches = condition.breaches
    observed = {}
    for group, seen in observations.items():
        if (
            type(seen) is Sample
            and group not in open_groups
            and not math.isnan(seen.value)
            and not breaches(seen.value)
        ):
            continue
        observed[group] = seen
    result = evaluate(condition, current, now, observed)
    made: dict[GroupKey, list[Transition]] = {}
    for item in result.transitions:
        made.setdefault(item.group, []).append(item.transition)
    open_now = {group for group, after in result.instances.items() if after.is_open}
    changes = []
    label_problems: set[str] = set()
    for group in sorted(open_now | made.keys()):
        after, transitions = result.instances[group], tuple(made.get(group, ()))
        stored = slots.get(group)
        if stored is not None and stored.instance == after and not transitions:
            continue
        labelled = instance_labels(rule.rule, dict(group), after.value)
        labels = labelled.labels
        label_problems.update(
            f"label {name} not rendered: {problem}" for name, problem in labelled.problems.items()
        )
        rendered = render_all(
            rule.rule.annotations,
            value=after.value,
            labels=labels,
            threshold=_threshold(rule.rule),
            rule=rule.rule.name,
        )
        annotations = {
            name: r.text if r.problem is None else f"({r.problem})" for name, r in rendered.items()
        }
        changes.append(SlotChange(rule.id, group, labels, annotations, stored, after, transitions))
    return changes, label_problems


def _threshold(rule: AlertRule) -> float | None:
    spec = rule.spec
    if isinstance(spec, MetricThreshold | EventCount):
        return spec.limit.threshold
    return None


def _new_row(change: SlotChange) -> bool:
    return change.before is None or change.before.instance.sequence != change.after.sequence


def _apply(term: _Term, changes: Sequence[SlotChange]) -> None:
    """The recorded changes kept in memory (new rows are read back by the caller)."""
    for change in changes:
        slots = term.slots.setdefault(change.rule_id, {})
        if change.before is not None and not _new_row(change):
            slots[change.group] = replace(
                change.before, instance=change.after, annotations=change.annotations
            )


def _published(term: _Term, changes: Sequence[SlotChange]) -> list[Mapping[str, Any]]:
    """The transitions as the live channel shows them, once recorded and read back.

    A change's transitions belong to the row it wrote (as storage records
    them): the instance it had, or the one it opened, whose id the slots hold
    once read back.
    """
    published: list[Mapping[str, Any]] = []
    for change in changes:
        if not change.transitions:
            continue
        if change.before is not None and not _new_row(change):
            instance_id: int | None = change.before.id
        elif change.after.sequence == 0:
            continue  # the slot never opened an instance: nothing was recorded
        else:
            stored = term.slots.get(change.rule_id, {}).get(change.group)
            same = stored is not None and stored.instance.sequence == change.after.sequence
            instance_id = stored.id if same and stored is not None else None
        published.extend(
            transition_item(
                instance_id=instance_id,
                rule_id=change.rule_id,
                labels=change.labels,
                annotations=change.annotations,
                transition=transition,
                actor=None,
            )
            for transition in change.transitions
        )
    return published
