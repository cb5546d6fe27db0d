"""What the rule editor shows beside the form: the rule's series with its thresholds, the
`test` answer per group, and a backtest's transitions with its firing spans.

The series is what the evaluator compares with the threshold: alert_observations
`observe_in` asked at steps over a recent range, on one connection in one
transaction, as alert_trials' replay does, so the chart shows exactly the
values live evaluation and backtest see (metric_threshold: the aggregation
over the window per group; event_count: the count or rate; error_group: 1
while new or regressed, or the count in the window; absence: the samples or
events in the window). It is bounded: at most MAX_POINTS steps (the rule's
interval, or coarser so the range fits) and MAX_GROUPS groups drawn (those
nearest to firing; the page says how many more there are).

The `test` answer is alert_trials `try_now` (the API's `POST /alerts/test`
and `POST /alerts/{id}/test`), the backtest alert_trials `backtest` (the
API's `POST /alerts/backtest`); a backtest whose range needs more than
MAX_TICKS evaluations is clamped to the latest MAX_TICKS before `to`, and
the page says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.alert_observations import EventFilterOf, RuleToObserve, observe_in
from monitor.alert_templates import instance_labels
from monitor.alert_trials import (
    MAX_TICKS,
    TRIAL_RULE_ID,
    Backtest,
    GroupTrial,
    backtest,
    ticks_between,
    try_now,
)
from monitor.domain.alert_rules import AlertRule
from monitor.domain.alert_states import Failed, GroupKey, GroupTransition, Instance, Sample, State
from monitor.storage import alert_instances as instance_store
from monitor.storage.gateway import Connection, Gateway

MAX_POINTS = 120
MAX_GROUPS = 10
MAX_ROWS = 200  # transitions shown on the page; the rest are counted
PREVIEW_RANGES = {"1h": timedelta(hours=1), "3h": timedelta(hours=3), "6h": timedelta(hours=6)}
DEFAULT_PREVIEW_RANGE = "3h"
DEFAULT_BACKTEST = timedelta(hours=24)


def step_for(start: datetime, end: datetime, interval: timedelta) -> timedelta:
    """The rule's interval, or the smallest multiple of it that keeps MAX_POINTS steps."""
    return interval * max(1, math.ceil((end - start) / (interval * MAX_POINTS)))


def group_label(group: GroupKey) -> str:
    return ", ".join(f"{name}={value}" for name, value in group) or "the rule"


@dataclass(frozen=True)
class SeriesChart:
    """The rule's value per group at each step, ready for uPlot and for a table."""

    times: list[float]  # unix seconds
    series: list[dict[str, Any]]  # {"label", "values", "latest", "peak"}, at most MAX_GROUPS
    hidden_groups: int  # groups seen but not drawn
    step: timedelta
    start: datetime
    end: datetime
    thresholds: list[dict[str, Any]]  # {"label", "value"}
    spans: list[tuple[float, float]] = field(default_factory=list)  # firing, unix seconds
    failure: str | None = None  # why a step's read failed, the first one

    def chart_json(self) -> dict[str, Any]:
        return {
            "times": self.times,
            "series": [{"label": s["label"], "values": s["values"]} for s in self.series],
            "thresholds": self.thresholds,
            "spans": [list(span) for span in self.spans],
        }


def _thresholds(rule: AlertRule) -> list[dict[str, Any]]:
    condition = rule.condition()
    lines = [
        {
            "label": f"threshold ({condition.comparator} {condition.threshold:g})",
            "value": condition.threshold,
        }
    ]
    if condition.resolve_threshold is not None:
        lines.append(
            {
                "label": f"resolve threshold ({condition.resolve_threshold:g})",
                "value": condition.resolve_threshold,
            }
        )
    return lines


def _read_steps(
    connection: Connection,
    rule: AlertRule,
    times: Sequence[datetime],
    event_filter_of: EventFilterOf,
) -> tuple[dict[GroupKey, list[float | None]], str | None]:
    """Each group's observed value at each time (None: not seen, or the read failed)."""
    found: dict[GroupKey, list[float | None]] = {}
    failure: str | None = None
    for index, now in enumerate(times):
        known = frozenset(found)
        observed = observe_in(
            connection, [RuleToObserve(TRIAL_RULE_ID, rule, known)], now, event_filter_of
        ).get(TRIAL_RULE_ID, {})
        for group, observation in observed.items():
            values = found.setdefault(group, [None] * len(times))
            if isinstance(observation, Sample) and math.isfinite(observation.value):
                values[index] = observation.value
            elif isinstance(observation, Failed) and failure is None:
                failure = observation.reason
    return found, failure


def _nearest_first(
    rule: AlertRule, groups: Mapping[GroupKey, list[float | None]]
) -> list[GroupKey]:
    """Groups by how close they come to firing: the highest peak first for > and >=,
    the lowest for < and <=; then by their labels."""
    lower = rule.condition().comparator in ("<", "<=")

    def key(group: GroupKey) -> tuple[float, GroupKey]:
        numbers = [v for v in groups[group] if v is not None]
        if not numbers:
            return (math.inf, group)
        return (min(numbers) if lower else -max(numbers), group)

    return sorted(groups, key=key)


async def rule_series(
    gateway: Gateway,
    rule: AlertRule,
    start: datetime,
    end: datetime,
    event_filter_of: EventFilterOf,
    spans: list[tuple[float, float]] | None = None,
) -> SeriesChart:
    step = step_for(start, end, rule.interval)
    count = min(MAX_POINTS, max(1, ticks_between(start, end, step)))
    times = [end - step * (count - 1 - index) for index in range(count)]
    found, failure = await gateway.run(
        lambda connection: _read_steps(connection, rule, times, event_filter_of)
    )
    chosen = _nearest_first(rule, found)[:MAX_GROUPS]
    series = []
    for group in chosen:
        values = found[group]
        numbers = [v for v in values if v is not None]
        series.append(
            {
                "label": group_label(group),
                "values": values,
                "latest": next((v for v in reversed(values) if v is not None), None),
                "peak": max(numbers) if numbers else None,
                "low": min(numbers) if numbers else None,
            }
        )
    return SeriesChart(
        times=[moment.timestamp() for moment in times],
        series=series,
        hidden_groups=len(found) - len(chosen),
        step=step,
        start=times[0],
        end=end,
        thresholds=_thresholds(rule),
        spans=spans or [],
        failure=failure,
    )


async def current_instances(gateway: Gateway, rule_id: int) -> dict[GroupKey, Instance]:
    """A saved rule's instances now, which `test` steps from (as `POST /alerts/{id}/test`)."""

    def work(connection: Connection) -> dict[GroupKey, Instance]:
        slots = instance_store.current_instances(connection, [rule_id]).get(rule_id, {})
        return {group: stored.instance for group, stored in slots.items()}

    return await gateway.run(work)


def trial_rows(trials: Sequence[GroupTrial]) -> list[dict[str, Any]]:
    return [
        {
            "group": group_label(trial.group),
            "state": trial.instance.state.value,
            "value": trial.instance.value,
            "reason": trial.instance.reason,
            "annotations": [
                (name, rendered.text, rendered.problem)
                for name, rendered in sorted(trial.annotations.items())
            ],
        }
        for trial in trials
    ]


async def tried_now(
    gateway: Gateway,
    rule: AlertRule,
    *,
    rule_id: int | None,
    now: datetime,
    event_filter_of: EventFilterOf,
) -> list[dict[str, Any]]:
    current = await current_instances(gateway, rule_id) if rule_id is not None else {}
    trials = await try_now(
        gateway,
        rule,
        rule_id=rule_id if rule_id is not None else TRIAL_RULE_ID,
        current=current,
        now=now,
        event_filter_of=event_filter_of,
    )
    return trial_rows(trials)


def clamped_start(start: datetime, end: datetime, interval: timedelta) -> tuple[datetime, bool]:
    """`start`, or the latest start that keeps the evaluations at most MAX_TICKS."""
    if ticks_between(start, end, interval) <= MAX_TICKS:
        return start, False
    return end - interval * MAX_TICKS, True


def firing_spans(
    transitions: Sequence[GroupTransition], end: datetime
) -> dict[GroupKey, list[tuple[datetime, datetime]]]:
    """When each group was firing, from transitions in time order, up to `end`
    (alert_states.firing_time's reading, as spans)."""
    spans: dict[GroupKey, list[tuple[datetime, datetime]]] = {}
    started: dict[GroupKey, datetime] = {}
    for item in transitions:
        group, transition = item.group, item.transition
        if transition.to_state == State.FIRING and group not in started:
            started[group] = transition.at
        elif transition.to_state != State.FIRING and group in started:
            spans.setdefault(group, []).append((started.pop(group), transition.at))
    for group, at in started.items():
        spans.setdefault(group, []).append((at, max(end, at)))
    return spans


@dataclass(frozen=True)
class BacktestView:
    start: datetime
    end: datetime
    clamped: bool
    result: Backtest
    rows: list[dict[str, Any]]  # the first MAX_ROWS transitions
    firing: list[dict[str, Any]]  # {"group", "seconds"} per group that fired
    chart: SeriesChart


async def backtest_view(
    gateway: Gateway,
    rule: AlertRule,
    *,
    rule_id: int | None,
    start: datetime,
    end: datetime,
    event_filter_of: EventFilterOf,
) -> BacktestView:
    start, clamped = clamped_start(start, end, rule.interval)
    result = await backtest(
        gateway,
        rule,
        rule_id=rule_id if rule_id is not None else TRIAL_RULE_ID,
        start=start,
        end=end,
        event_filter_of=event_filter_of,
    )
    rows = [
        {
            "at": item.transition.at,
            "group": group_label(item.group),
            "labels": instance_labels(rule, dict(item.group), item.transition.value).labels,
            "from_state": item.transition.from_state.value,
            "to_state": item.transition.to_state.value,
            "value": item.transition.value,
            "reason": item.transition.reason,
        }
        for item in result.transitions[:MAX_ROWS]
    ]
    spans = firing_spans(result.transitions, end)
    union = sorted(
        (a.timestamp(), b.timestamp()) for group_spans in spans.values() for a, b in group_spans
    )
    chart = await rule_series(gateway, rule, start, end, event_filter_of, spans=union)
    firing = [
        {"group": group_label(group), "seconds": spent.total_seconds()}
        for group, spent in sorted(result.firing.items())
    ]
    return BacktestView(start, end, clamped, result, rows, firing, chart)


def duration_words(seconds: float) -> str:
    """A firing time as people read it: 1 h 5 min, 40 s."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs or not (hours or minutes) else "")
    return " ".join(part for part in parts if part)
