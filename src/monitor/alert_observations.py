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
  machine reads it as `Missing` when its instance is open); avg, sum,
  min, max, count and last take the window's whole minutes before the
  rollup watermark from the 1-minute rollups (read once per transaction),
  which equal their samples;
- `event_count`: the count (or count per second) of matching events; a
  group without events counts 0 — for the groups the caller already knows
  (`known_groups`, its open instances) — since no events is a value here;
- `absence`: per group expected (seen during the lookback before the
  window, or still open), the number of samples or events in the window;
  0 fires (`< 1`). Metric groups are found with two index probes per series
  (storage/alert_values.py `read_metric_presence`), not by reading a day
  of samples;
- `error_group`: per error group (labels `error_group`, `source`, `type`)
  matching the rule's filters: `new` and `regression` 1 while the group,
  first seen or reopened within `resolve_after`, is open and has events
  within `resolve_after`, else 0; `frequency` its events in the window.

A read the database refuses (`QueryRefused`, e.g. an overflow) is `Failed`
for every group of the rules it served; an outage (`StorageUnavailable`)
propagates: nothing can be recorded then either.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import trio

from monitor.domain.alert_rules import Absence, AlertRule, EventCount, MetricThreshold, Pairs
from monitor.domain.alert_states import Failed, GroupKey, Observation, Sample
from monitor.domain.events import EventFilter
from monitor.storage import rollups
from monitor.storage.alert_values import (
    ERROR_GROUP_LABEL,
    ErrorGroupQuery,
    EventCountQuery,
    GroupValues,
    Marks,
    PresenceQuery,
    SelectorQuery,
    WindowAggregate,
    read_error_groups,
    read_event_counts,
    read_metric_presence,
    read_selector,
)
from monitor.storage.errors import QueryRefused
from monitor.storage.gateway import Connection, Gateway

EventFilterOf = Callable[[Pairs], EventFilter]  # the events list's parser, for rule filters


@dataclass(frozen=True)
class RuleToObserve:
    rule_id: int
    rule: AlertRule
    known_groups: frozenset[GroupKey] = field(default_factory=frozenset)
    # Only the groups that can change something (what the evaluator steps): a value
    # that breaches the condition, is not a number, or belongs to a known group. A
    # cycle of 1,000 rules over 100 hosts each sees 100,000 values, about 1 % of them
    # breaching; the rest would be built only to be skipped. Trials keep every group.
    changes_only: bool = False


Observations = dict[GroupKey, Observation]


class Observed(dict[GroupKey, Observation]):
    """A metric rule's observations, and how many groups had a value (`groups`), which
    with `changes_only` may be more than the observations kept."""

    groups: int = 0


def groups_seen(observations: Observations) -> int:
    """How many groups the read saw for the rule."""
    return observations.groups if isinstance(observations, Observed) else len(observations)


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


@dataclass
class _PresenceRead:
    query: PresenceQuery
    rule_id: int


@dataclass
class _ErrorRead:
    query: ErrorGroupQuery
    rule_id: int


@dataclass(frozen=True)
class _Reads:
    metrics: list[_MetricRead]
    events: list[_EventRead]
    presences: list[_PresenceRead]
    errors: list[_ErrorRead]

    def share(self, number: int, shares: int) -> _Reads:
        return _Reads(
            self.metrics[number::shares],
            self.events[number::shares],
            self.presences[number::shares],
            self.errors[number::shares],
        )

    def __len__(self) -> int:
        return len(self.metrics) + len(self.events) + len(self.presences) + len(self.errors)


def _read_events(
    event_reads: dict[tuple[object, ...], _EventRead],
    unread: dict[int, Observations],
    item: RuleToObserve,
    event_filter_of: EventFilterOf,
    end: datetime,
    per_second: float | None,
) -> None:
    """Add an event rule's windows to the read of its filters, grouping and end.

    An absence rule reads its window and, for the groups expected, the lookback
    before it: a group seen only there answers a count of 0 for the window."""
    spec = item.rule.spec
    assert isinstance(spec, EventCount | Absence) and spec.filters is not None
    key = (spec.filters, spec.group_by, end)
    found = event_reads.get(key)
    if found is None:
        try:
            event_filter = event_filter_of(spec.filters)
        except ValueError as refused:
            unread[item.rule_id] = _failed_for(item, f"filters: {refused}")
            return
        found = _EventRead(EventCountQuery(event_filter, spec.group_by, (), end))
        event_reads[key] = found
    wanted = [spec.window]
    if isinstance(spec, Absence):
        wanted.append(spec.window + spec.lookback)
    for window in wanted:
        if window not in found.query.windows:
            query = found.query
            found.query = EventCountQuery(
                query.event_filter, query.group_by, (*query.windows, window), end
            )
    found.readers.append((item.rule_id, found.query.windows.index(spec.window), per_second))


def _plan(
    rules: Sequence[RuleToObserve], now: datetime, event_filter_of: EventFilterOf
) -> tuple[_Reads, dict[int, Observations]]:
    metric_reads: dict[tuple[object, ...], _MetricRead] = {}
    event_reads: dict[tuple[object, ...], _EventRead] = {}
    presence_reads: list[_PresenceRead] = []
    error_reads: list[_ErrorRead] = []
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
            per_second = spec.window.total_seconds() if spec.aggregation == "rate" else None
            _read_events(event_reads, unread, item, event_filter_of, end, per_second)
        elif isinstance(spec, Absence) and spec.selector is not None:
            presence = PresenceQuery(
                spec.selector.name,
                spec.selector.matchers,
                spec.group_by,
                spec.window,
                spec.lookback,
                end,
            )
            presence_reads.append(_PresenceRead(presence, item.rule_id))
        elif isinstance(spec, Absence):
            _read_events(event_reads, unread, item, event_filter_of, end, None)
        else:
            try:
                event_filter = event_filter_of(spec.filters)
            except ValueError as refused:
                unread[item.rule_id] = _failed_for(item, f"filters: {refused}")
                continue
            known = tuple(
                int(dict(group)[ERROR_GROUP_LABEL])
                for group in item.known_groups
                if ERROR_GROUP_LABEL in dict(group)
            )
            error_query = ErrorGroupQuery(
                spec.condition, event_filter, spec.resolve_after, spec.window, known, end
            )
            error_reads.append(_ErrorRead(error_query, item.rule_id))
    reads = _Reads(
        list(metric_reads.values()), list(event_reads.values()), presence_reads, error_reads
    )
    return reads, unread


def _with_ask(query: SelectorQuery, ask: WindowAggregate) -> SelectorQuery:
    return SelectorQuery(query.name, query.matchers, query.group_by, (*query.asks, ask), query.end)


def _failed_for(item: RuleToObserve, reason: str) -> Observations:
    groups = item.known_groups or frozenset({()})
    return {group: Failed(reason) for group in groups}


def _read_all(
    connection: Connection,
    by_id: Mapping[int, RuleToObserve],
    reads: _Reads,
    marks: Marks | None = None,
) -> dict[int, Observations]:
    found: dict[int, Observations] = {}
    # Read once for the share: a watermark only advances, and the minutes before
    # it stay exact whatever commits meanwhile (storage/rollups.py).
    marks = rollups.watermarks(connection) if reads.metrics and marks is None else marks
    for metric in reads.metrics:
        try:
            answers = read_selector(connection, metric.query, marks)
        except QueryRefused as refused:
            for rule_id, _ in metric.readers:
                found[rule_id] = _failed_for(by_id[rule_id], str(refused))
            continue
        keys = _keys(answers)  # once for the ten or so rules reading these answers
        positions = {key: place for place, key in enumerate(keys)}
        for rule_id, index in metric.readers:
            found[rule_id] = _metric_values(answers, index, keys, positions, by_id[rule_id])
    for events in reads.events:
        answers = read_event_counts(connection, events.query)
        for rule_id, index, per_second in events.readers:
            seen = _values(answers, index, per_second)
            # No event is a count of 0, not missing data, for the groups known.
            zero = {group: Sample(0.0) for group in by_id[rule_id].known_groups}
            found[rule_id] = {**zero, **seen}
    for presence in reads.presences:
        answers = read_metric_presence(connection, presence.query)
        # A group no longer expected (unseen for the whole lookback) counts 0 while open.
        zero = {group: Sample(0.0) for group in by_id[presence.rule_id].known_groups}
        found[presence.rule_id] = {**zero, **_values(answers, 0, None)}
    for errors in reads.errors:
        item = by_id[errors.rule_id]
        try:
            answers = read_error_groups(connection, errors.query)
        except ValueError as refused:
            found[errors.rule_id] = _failed_for(item, str(refused))
            continue
        # A frequency rule's group with no event in the window counts 0 while open.
        zero = {group: Sample(0.0) for group in item.known_groups}
        found[errors.rule_id] = {**zero, **_values(answers, 0, None)}
    return found


def observe_in(
    connection: Connection,
    rules: Sequence[RuleToObserve],
    now: datetime,
    event_filter_of: EventFilterOf,
    *,
    marks: Marks | None = None,
) -> dict[int, Observations]:
    """Every rule's observations at `now`, read on `connection` (one transaction).

    `marks`: the rollup watermarks to read by (`{}`: raw samples only, as
    bench/alerts.py compares); read on `connection` when not given."""
    reads, found = _plan(rules, now, event_filter_of)
    by_id = {item.rule_id: item for item in rules}
    found.update(_read_all(connection, by_id, reads, marks))
    return found


def _keys(answers: list[GroupValues]) -> list[GroupKey]:
    return [group_key(answer.labels) for answer in answers]


def _values(
    answers: list[GroupValues],
    index: int,
    per_second: float | None,
    keys: list[GroupKey] | None = None,
) -> Observations:
    seen: Observations = {}
    for answer, key in zip(answers, _keys(answers) if keys is None else keys, strict=True):
        value = answer.values[index]
        if value is None:
            continue  # no sample in this window: unseen
        seen[key] = Sample(value / per_second if per_second else value)
    return seen


def _metric_values(
    answers: list[GroupValues],
    index: int,
    keys: list[GroupKey],
    positions: Mapping[GroupKey, int],
    item: RuleToObserve,
) -> Observed:
    """`keys`: the answers' group keys, in order; `positions`: each one's place."""
    seen = Observed()
    column = [answer.values[index] for answer in answers]
    seen.groups = len(column) - column.count(None)  # None: no sample in this window
    if not item.changes_only:
        for key, value in zip(keys, column, strict=True):
            if value is not None:
                seen[key] = Sample(value)
        return seen
    # Breaching, or NaN (`v != v`), which the state machine judges itself; then the
    # open groups whatever their value. A comprehension calling the comparison's C
    # function: this runs for every group of every rule, each cycle.
    condition = item.rule.condition()
    compare, threshold = condition.compare, condition.threshold
    places = {
        place
        for place, value in enumerate(column)
        if value is not None and (compare(value, threshold) or value != value)
    }
    places.update(positions[key] for key in item.known_groups if key in positions)
    for place in sorted(places):  # in the answers' order, as without changes_only
        if (value := column[place]) is not None:
            seen[keys[place]] = Sample(value)
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
    reads, found = _plan(rules, now, event_filter_of)
    by_id = {item.rule_id: item for item in rules}
    shares = max(1, min(concurrency, len(reads)))

    async def read_share(number: int) -> None:
        share = reads.share(number, shares)
        found.update(await gateway.run(lambda connection: _read_all(connection, by_id, share)))

    async with trio.open_nursery() as nursery:
        for number in range(shares):
            nursery.start_soon(read_share, number)
    return found


def window_of(rule: AlertRule) -> timedelta | None:
    spec = rule.spec
    return spec.window if isinstance(spec, MetricThreshold | EventCount | Absence) else None
