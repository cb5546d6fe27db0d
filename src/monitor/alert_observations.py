"""What each alert rule sees at an evaluation: one observation per group.

Live evaluation, `test` and backtest ask the same question here: for these
rules at `now`, each group's `Sample`, `Missing` or `Failed`
(domain/alert_states.py). The reads are shared: metric rules on the same
selector, grouping and offset are one statement for all their windows and
aggregations, event rules on the same filters, grouping and offset likewise
(storage/alert_values.py), all in one transaction.

By kind:

- `metric_threshold`: the aggregation over the window ending at
  `now - offset`; a group without samples there is not seen (the state
  machine reads it as `Missing` when its instance is open);
- `event_count`: the count (or count per second) of matching events; a
  group without events counts 0 — for the groups the caller already knows
  (`known_groups`, its open instances) — since no events is a value here;
- `error_group` and `absence` are not evaluated yet: their rules observe
  `Failed("… not evaluated yet")` for the whole rule (group `()`), so that
  nobody takes their silence for health.

A read the database refuses (`QueryRefused`, e.g. an overflow) is `Failed`
for every group of the rules it served; an outage (`StorageUnavailable`)
propagates: nothing can be recorded then either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import trio

from monitor.domain.alert_rules import AlertRule, EventCount, MetricThreshold, Pairs
from monitor.domain.alert_states import Failed, GroupKey, Observation, Sample
from monitor.domain.events import EventFilter
from monitor.storage.alert_values import (
    EventCountQuery,
    GroupValues,
    SelectorQuery,
    WindowAggregate,
    read_event_counts,
    read_selector,
)
from monitor.storage.errors import QueryRefused
from monitor.storage.gateway import Connection, Gateway

EventFilterOf = Callable[[Pairs], EventFilter]  # the events list's parser, for rule filters
NOT_YET = "{kind} rules are not evaluated yet"


@dataclass(frozen=True)
class RuleToObserve:
    rule_id: int
    rule: AlertRule
    known_groups: frozenset[GroupKey] = field(default_factory=frozenset)


Observations = dict[GroupKey, Observation]


def group_key(labels: Mapping[str, str]) -> GroupKey:
    return tuple(sorted(labels.items()))


@dataclass
class _MetricRead:
    query: SelectorQuery
    readers: list[tuple[int, int]] = field(default_factory=list)  # (rule_id, ask index)


@dataclass
class _EventRead:
    query: EventCountQuery
    readers: list[tuple[int, int, float | None]] = field(default_factory=list)  # per second?


def _plan(
    rules: Sequence[RuleToObserve], now: datetime, event_filter_of: EventFilterOf
) -> tuple[list[_MetricRead], list[_EventRead], dict[int, Observations]]:
    metric_reads: dict[tuple[object, ...], _MetricRead] = {}
    event_reads: dict[tuple[object, ...], _EventRead] = {}
    unread: dict[int, Observations] = {}
    for item in rules:
        rule, spec = item.rule, item.rule.spec
        end = now - rule.offset
        if isinstance(spec, MetricThreshold):
            key: tuple[object, ...] = (
                spec.selector.name,
                spec.selector.matchers,
                spec.group_by,
                end,
            )
            read = metric_reads.setdefault(
                key,
                _MetricRead(
                    SelectorQuery(
                        spec.selector.name, spec.selector.matchers, spec.group_by, (), end
                    )
                ),
            )
            ask = WindowAggregate(spec.aggregation, spec.window)
            if ask not in read.query.asks:
                read.query = _with_ask(read.query, ask)
            read.readers.append((item.rule_id, read.query.asks.index(ask)))
        elif isinstance(spec, EventCount):
            key = (spec.filters, spec.group_by, end)
            found = event_reads.get(key)
            if found is None:
                try:
                    event_filter = event_filter_of(spec.filters)
                except ValueError as refused:
                    unread[item.rule_id] = _failed_for(item, f"filters: {refused}")
                    continue
                found = _EventRead(EventCountQuery(event_filter, spec.group_by, (), end))
                event_reads[key] = found
            if spec.window not in found.query.windows:
                found.query = EventCountQuery(
                    found.query.event_filter,
                    found.query.group_by,
                    (*found.query.windows, spec.window),
                    end,
                )
            per_second = spec.window.total_seconds() if spec.aggregation == "rate" else None
            found.readers.append((item.rule_id, found.query.windows.index(spec.window), per_second))
        else:
            unread[item.rule_id] = {(): Failed(NOT_YET.format(kind=rule.kind))}
    return list(metric_reads.values()), list(event_reads.values()), unread


def _with_ask(query: SelectorQuery, ask: WindowAggregate) -> SelectorQuery:
    return SelectorQuery(query.name, query.matchers, query.group_by, (*query.asks, ask), query.end)


def _failed_for(item: RuleToObserve, reason: str) -> Observations:
    groups = item.known_groups or frozenset({()})
    return {group: Failed(reason) for group in groups}


def _read_all(
    connection: Connection,
    by_id: Mapping[int, RuleToObserve],
    metric_reads: Sequence[_MetricRead],
    event_reads: Sequence[_EventRead],
) -> dict[int, Observations]:
    found: dict[int, Observations] = {}
    for metric in metric_reads:
        try:
            answers = read_selector(connection, metric.query)
        except QueryRefused as refused:
            for rule_id, _ in metric.readers:
                found[rule_id] = _failed_for(by_id[rule_id], str(refused))
            continue
        for rule_id, index in metric.readers:
            found[rule_id] = _values(answers, index, None)
    for events in event_reads:
        answers = read_event_counts(connection, events.query)
        for rule_id, index, per_second in events.readers:
            seen = _values(answers, index, per_second)
            # No event is a count of 0, not missing data, for the groups known.
            zero = {group: Sample(0.0) for group in by_id[rule_id].known_groups}
            found[rule_id] = {**zero, **seen}
    return found


def observe_in(
    connection: Connection,
    rules: Sequence[RuleToObserve],
    now: datetime,
    event_filter_of: EventFilterOf,
) -> dict[int, Observations]:
    """Every rule's observations at `now`, read on `connection` (one transaction)."""
    metric_reads, event_reads, found = _plan(rules, now, event_filter_of)
    by_id = {item.rule_id: item for item in rules}
    found.update(_read_all(connection, by_id, metric_reads, event_reads))
    return found


def _values(answers: list[GroupValues], index: int, per_second: float | None) -> Observations:
    seen: Observations = {}
    for answer in answers:
        value = answer.values[index]
        if value is None:
            continue  # no sample in this window: unseen
        seen[group_key(answer.labels)] = Sample(value / per_second if per_second else value)
    return seen


async def observe(
    gateway: Gateway,
    rules: Sequence[RuleToObserve],
    now: datetime,
    event_filter_of: EventFilterOf,
    *,
    concurrency: int = 1,
) -> dict[int, Observations]:
    """Every rule's observations at `now`, the reads shared out over `concurrency` pooled
    connections that read at the same time (each share in one transaction)."""
    metric_reads, event_reads, found = _plan(rules, now, event_filter_of)
    by_id = {item.rule_id: item for item in rules}
    shares = max(1, min(concurrency, len(metric_reads) + len(event_reads)))

    async def read_share(number: int) -> None:
        metrics, events = metric_reads[number::shares], event_reads[number::shares]
        found.update(
            await gateway.run(lambda connection: _read_all(connection, by_id, metrics, events))
        )

    async with trio.open_nursery() as nursery:
        for number in range(shares):
            nursery.start_soon(read_share, number)
    return found


def window_of(rule: AlertRule) -> timedelta | None:
    spec = rule.spec
    return spec.window if isinstance(spec, MetricThreshold | EventCount) else None
