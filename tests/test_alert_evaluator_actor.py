"""The evaluator actor on a virtual clock: due times, late ticks, warm-up, conflicts, leadership."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio
import trio.testing

from monitor.actors import alert_evaluator
from monitor.alert_observations import Observations, RuleToObserve
from monitor.alert_templates import template_problem
from monitor.domain.alert_rules import AlertRule, parse_rule
from monitor.domain.alert_states import GroupKey, Instance, Sample, State
from monitor.evaluator_figures import EvaluatorFigures
from monitor.leadership import Leadership
from monitor.messages import AlertTransitions
from monitor.storage.alert_instances import SlotChange, SlotChanged, StoredInstance
from monitor.storage.alert_rules import RuleRecord
from monitor.storage.alert_runs import RuleRun

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOST_A: GroupKey = (("host", "a"),)
RULE = {
    "name": "cpu",
    "kind": "metric_threshold",
    "selector": {"name": "cpu"},
    "aggregation": "max",
    "window": "1m",
    "group_by": ["host"],
    "comparator": ">",
    "threshold": 90,
    "interval": "10s",
    "no_data": "no_data",
}


def _record(definition: dict[str, Any]) -> RuleRecord:
    return RuleRecord(1, "cpu", "metric_threshold", True, definition, 1, T0, "t", T0, "t")


@dataclass
class Fake:
    """The actor's storage and clock, scripted."""

    observations: Observations = field(default_factory=dict)
    rule: dict[str, Any] = field(default_factory=lambda: dict(RULE))
    slots: dict[GroupKey, StoredInstance] = field(default_factory=dict)
    observe_delay: float = 0.0
    conflict_once: bool = False
    observed_at: list[datetime] = field(default_factory=list)
    recorded: list[list[SlotChange]] = field(default_factory=list)
    loads: int = 0
    published: list[AlertTransitions] = field(default_factory=list)
    runs: list[RuleRun] = field(default_factory=list)

    def now(self) -> datetime:
        return T0 + timedelta(seconds=trio.current_time())

    async def fingerprint(self) -> object:
        return 1

    async def load_rules(self) -> list[RuleRecord]:
        return [_record(self.rule)]

    async def load_instances(
        self, rule_ids: Sequence[int]
    ) -> dict[int, dict[GroupKey, StoredInstance]]:
        self.loads += 1
        return {1: dict(self.slots)}

    async def observe(
        self, rules: Sequence[RuleToObserve], now: datetime
    ) -> dict[int, Observations]:
        self.observed_at.append(now)
        await trio.sleep(self.observe_delay)
        self.observe_delay = 0.0
        return {1: dict(self.observations)}

    async def record(
        self, changes: Sequence[SlotChange], runs: Sequence[RuleRun], epoch: int
    ) -> list[int]:
        if self.conflict_once:
            self.conflict_once = False
            raise SlotChanged("an operator resolved it")
        self.recorded.append(list(changes))
        self.runs.extend(runs)
        return []

    def deps(self) -> alert_evaluator.EvaluatorDeps:
        def parse(record: RuleRecord) -> AlertRule:
            return parse_rule(record.definition, check_template=template_problem)

        return alert_evaluator.EvaluatorDeps(
            rules_fingerprint=self.fingerprint,
            load_rules=self.load_rules,
            parse=parse,
            load_instances=self.load_instances,
            observe=self.observe,
            record=self.record,
            publish=self.published.append,
            now=self.now,
        )


async def _run_for(fake: Fake, seconds: float, leadership: Leadership) -> EvaluatorFigures:
    figures = EvaluatorFigures()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: alert_evaluator.run(
                leadership, fake.deps(), figures, tick=1.0, task_status=task_status
            )
        )
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()
    return figures


def _leading() -> Leadership:
    leadership = Leadership()
    leadership.epoch = 7
    return leadership


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


async def test_a_rule_is_evaluated_once_per_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = Fake(observations={HOST_A: Sample(95.0)})
    figures = await _run_for(fake, 35.5, _leading())
    seconds = [(at - T0).total_seconds() for at in fake.observed_at]
    assert seconds == [0, 10, 20, 30]
    assert figures.evaluations == 4 and figures.late_ticks == 0
    assert [(run.evaluated_at - T0).total_seconds() for run in fake.runs] == [0, 10, 20, 30]
    assert [(run.next_due_at - T0).total_seconds() for run in fake.runs] == [10, 20, 30, 40]
    assert {run.groups for run in fake.runs} == {1}
    assert fake.published[0].items[0]["to"] == "firing"


async def test_a_late_cycle_is_counted_not_replayed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = Fake(observations={HOST_A: Sample(50.0)}, observe_delay=35.0)
    figures = await _run_for(fake, 60.5, _leading())
    seconds = [(at - T0).total_seconds() for at in fake.observed_at]
    # The first read took 35 s: the ticks at 10, 20 and 30 are not made up for.
    assert seconds == [0, 36, 46, 56]
    assert figures.late_ticks == 2 and figures.max_lag_s == pytest.approx(26.0)


async def test_no_data_waits_one_window_after_taking_the_lead(
    autojump_clock: trio.testing.MockClock,
) -> None:
    firing = Instance(
        sequence=1,
        state=State.FIRING,
        since=T0 - timedelta(hours=1),
        value=95.0,
        breach_since=T0 - timedelta(hours=1),
    )
    stored = StoredInstance(10, 1, HOST_A, {"host": "a"}, {}, firing, firing.since or T0, None)
    fake = Fake(slots={HOST_A: stored})  # the group has no data now
    await _run_for(fake, 75.5, _leading())
    moved = [
        ((change.transitions[0].at - T0).total_seconds(), change.transitions[0].to_state)
        for changes in fake.recorded
        for change in changes
        if change.transitions
    ]
    assert moved == [(60.0, State.NO_DATA)], "not before the 1 m window has passed"


async def test_an_operators_change_drops_the_cycle_and_reads_the_instances_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = Fake(observations={HOST_A: Sample(95.0)}, conflict_once=True)
    figures = await _run_for(fake, 12.5, _leading())
    assert figures.write_conflicts == 1
    assert fake.loads >= 2, "read at the start and again after the conflict"
    assert fake.recorded, "the next cycle is recorded"
    assert (fake.runs[0].evaluated_at - T0).total_seconds() == 1, "still due after the conflict"


async def test_a_follower_evaluates_nothing(autojump_clock: trio.testing.MockClock) -> None:
    fake = Fake(observations={HOST_A: Sample(95.0)})
    figures = await _run_for(fake, 30, Leadership())
    assert fake.observed_at == [] and figures.cycles == 0


async def test_a_rule_label_that_fails_to_render_is_left_out_and_shown_on_the_rules_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = Fake(
        observations={HOST_A: Sample(95.0)},
        rule={**RULE, "labels": {"team": "api", "owner": "{{ value + 'x' }}"}},
    )
    await _run_for(fake, 0.5, _leading())
    [change] = fake.recorded[0]
    assert change.labels == {"host": "a", "team": "api", "rule": "cpu", "severity": "warning"}
    [run] = fake.runs
    assert run.failed is not None and run.failed.startswith("label owner not rendered: ")
