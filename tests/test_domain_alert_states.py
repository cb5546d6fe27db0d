"""The alert instance state machine (domain/alert_states.py, decision 0056).

Examples pin each documented rule; a RuleBasedStateMachine plays random
observations and operator actions against a small model written the way
the decision's table reads; the backtest fold is checked against stepping
one evaluation at a time.
"""

from __future__ import annotations

import operator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from monitor.domain.alert_states import (
    ActionRefused,
    Condition,
    Failed,
    GroupKey,
    GroupTransition,
    Instance,
    Missing,
    Observation,
    Sample,
    State,
    acknowledge,
    evaluate,
    firing_time,
    replay,
    resolve_by_hand,
    rule_deleted,
    rule_disabled,
    step,
)

T0 = datetime(2026, 12, 3, tzinfo=UTC)
GT_90 = Condition(">", 90.0, resolve_threshold=80.0, for_=timedelta(minutes=2))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def play(
    condition: Condition, observations: list[tuple[float, Observation]]
) -> tuple[Instance, list[tuple[State, State]]]:
    instance = Instance()
    moves = []
    for seconds, observation in observations:
        result = step(instance, observation, at(seconds), condition)
        instance = result.instance
        moves.extend((t.from_state, t.to_state) for t in result.transitions)
    return instance, moves


def test_pending_then_firing_after_for_of_continuous_breach() -> None:
    instance, moves = play(GT_90, [(0, Sample(95)), (60, Sample(96)), (120, Sample(97))])
    assert moves == [(State.INACTIVE, State.PENDING), (State.PENDING, State.FIRING)]
    assert instance.sequence == 1


def test_a_dip_while_pending_starts_the_wait_over() -> None:
    instance, moves = play(
        GT_90, [(0, Sample(95)), (60, Sample(50)), (90, Sample(95)), (180, Sample(95))]
    )
    assert instance.state == State.PENDING
    assert moves[1] == (State.PENDING, State.INACTIVE)
    assert instance.sequence == 2  # the second breach is a new instance


def test_for_zero_fires_at_once() -> None:
    _, moves = play(Condition(">", 1.0), [(0, Sample(2))])
    assert moves == [(State.INACTIVE, State.FIRING)]


def test_hysteresis_keeps_firing_until_below_the_resolve_threshold() -> None:
    firing = [(0, Sample(95)), (120, Sample(95))]
    instance, _ = play(GT_90, [*firing, (150, Sample(85))])
    assert instance.state == State.FIRING  # below 90 but above 80
    instance, moves = play(GT_90, [*firing, (150, Sample(85)), (180, Sample(80))])
    assert instance.state == State.RESOLVED
    assert moves[-1] == (State.FIRING, State.RESOLVED)


def test_keep_firing_for_holds_after_the_condition_clears() -> None:
    condition = Condition(">", 1.0, keep_firing_for=timedelta(minutes=5))
    instance, _ = play(condition, [(0, Sample(2)), (60, Sample(0)), (300, Sample(0))])
    assert instance.state == State.FIRING
    instance, _ = play(condition, [(0, Sample(2)), (60, Sample(0)), (360, Sample(0))])
    assert instance.state == State.RESOLVED
    # A breach in between starts the wait over.
    instance, _ = play(
        condition,
        [(0, Sample(2)), (60, Sample(0)), (120, Sample(2)), (130, Sample(0)), (360, Sample(0))],
    )
    assert instance.state == State.FIRING


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("ok", State.RESOLVED), ("alerting", State.FIRING), ("no_data", State.NO_DATA)],
)
def test_no_data_policies(policy: str, expected: State) -> None:
    condition = Condition(">", 1.0, no_data=policy)  # type: ignore[arg-type]
    instance, _ = play(condition, [(0, Sample(2)), (30, Missing())])
    assert instance.state == expected


def test_no_data_on_a_closed_slot_opens_an_instance_only_with_policy_alerting_or_no_data() -> None:
    assert play(Condition(">", 1.0, no_data="ok"), [(0, Missing())])[0].state == State.INACTIVE
    alerting = Condition(">", 1.0, no_data="alerting", for_=timedelta(minutes=1))
    assert play(alerting, [(0, Missing())])[0].state == State.PENDING


def test_an_error_is_kept_apart_from_firing_and_returns_without_restarting() -> None:
    instance, moves = play(
        GT_90, [(0, Sample(95)), (120, Sample(95)), (150, Failed("timeout")), (180, Sample(95))]
    )
    assert moves[-2:] == [(State.FIRING, State.ERROR), (State.ERROR, State.FIRING)]
    assert instance.sequence == 1
    failed, _ = play(GT_90, [(0, Failed("relation missing"))])
    assert (failed.state, failed.reason) == (State.ERROR, "relation missing")


def test_an_error_while_pending_keeps_the_breach_start() -> None:
    instance, _ = play(GT_90, [(0, Sample(95)), (60, Failed("x")), (120, Sample(95))])
    assert instance.state == State.FIRING


def test_nan_is_an_error() -> None:
    instance, _ = play(GT_90, [(0, Sample(float("nan")))])
    assert instance.state == State.ERROR


def test_acknowledge_keeps_firing_marks_owned_and_expires() -> None:
    instance, _ = play(Condition(">", 1.0), [(0, Sample(2))])
    owned = acknowledge(instance, "ops", "looking", at(10), until=at(100))
    assert owned.state == State.FIRING and owned.acknowledged(at(50))
    assert not owned.acknowledged(at(100))
    later = step(owned, Sample(2), at(120), Condition(">", 1.0)).instance
    assert later.acknowledgement is None
    with pytest.raises(ActionRefused):
        acknowledge(Instance(), "ops", "", at(0))


def test_manual_resolve_then_a_new_instance_if_the_condition_still_holds() -> None:
    instance, _ = play(GT_90, [(0, Sample(95)), (120, Sample(95))])
    closed = resolve_by_hand(instance, "ops", at(130))
    assert closed.instance.state == State.RESOLVED
    assert closed.transitions[0].reason == "resolved by ops"
    reopened = step(closed.instance, Sample(95), at(150), GT_90)
    assert reopened.instance.state == State.PENDING
    assert reopened.instance.sequence == instance.sequence + 1
    with pytest.raises(ActionRefused):
        resolve_by_hand(closed.instance, "ops", at(131))


def test_disable_and_delete_close_open_instances() -> None:
    firing, _ = play(Condition(">", 1.0), [(0, Sample(2))])
    pending, _ = play(GT_90, [(0, Sample(95))])
    assert rule_disabled(firing, at(1)).instance.state == State.RESOLVED
    assert rule_deleted(firing, at(1)).transitions[0].reason == "rule deleted"
    assert rule_deleted(pending, at(1)).instance.state == State.INACTIVE
    assert rule_disabled(Instance(), at(1)).transitions == ()


# --- the model ---------------------------------------------------------------------------

COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
CLOSED = ("inactive", "resolved")
GAPS = ("no_data", "error")


class Model:
    """The decision's table, written out plainly with strings and no shared code."""

    def __init__(self, condition: Condition) -> None:
        self.c = condition
        self.state = "inactive"
        self.sequence = 0
        self.breach_start: datetime | None = None
        self.clear_start: datetime | None = None
        self.before_gap = "inactive"
        self.ack_until: datetime | None = None
        self.acked = False
        self.log: list[tuple[int, str, str, datetime]] = []

    def enter(self, to: str, when: datetime) -> None:
        if self.state in CLOSED:
            self.sequence += 1
        self.log.append((self.sequence, self.state, to, when))
        self.state = to
        if to in CLOSED:
            self.breach_start = self.clear_start = None
            self.before_gap = "inactive"
            self.acked = False
        elif to not in GAPS:
            self.before_gap = "inactive"

    def observe(self, when: datetime, kind: str, value: float) -> None:
        if self.acked and self.ack_until is not None and when >= self.ack_until:
            self.acked = False
        policy = self.c.no_data
        if kind == "error" or (kind == "missing" and policy == "no_data"):
            gap = "error" if kind == "error" else "no_data"
            if self.state == gap:
                return
            if self.state in ("pending", "firing"):
                self.before_gap = self.state
            elif self.state in CLOSED:
                self.before_gap = "inactive"
            self.enter(gap, when)
            return
        was = self.before_gap if self.state in GAPS else self.state
        if kind == "missing":
            bad = policy == "alerting"
        else:
            limit = self.c.threshold
            if was == "firing" and self.c.resolve_threshold is not None:
                limit = self.c.resolve_threshold
            bad = COMPARE[self.c.comparator](value, limit)
        if was == "firing":
            if bad:
                self.clear_start = None
                wanted = "firing"
            else:
                if self.clear_start is None:
                    self.clear_start = when
                cleared_long_enough = when - self.clear_start >= self.c.keep_firing_for
                wanted = "resolved" if cleared_long_enough else "firing"
        elif bad:
            if was != "pending" or self.breach_start is None:
                self.breach_start = when
            self.clear_start = None
            wanted = "firing" if when - self.breach_start >= self.c.for_ else "pending"
        elif self.state == "pending":
            wanted = "inactive"
        elif self.state in GAPS:
            wanted = "resolved"
        else:
            wanted = self.state
        if wanted != self.state:
            self.enter(wanted, when)

    def close(self, when: datetime) -> None:
        if self.state not in CLOSED:
            self.enter("inactive" if self.state == "pending" else "resolved", when)


conditions = st.builds(
    lambda comparator, threshold, margin, for_s, keep_s, policy: Condition(
        comparator,
        float(threshold),
        resolve_threshold=None
        if margin is None
        else float(threshold - margin if comparator in (">", ">=") else threshold + margin),
        for_=timedelta(seconds=for_s),
        keep_firing_for=timedelta(seconds=keep_s),
        no_data=policy,
    ),
    st.sampled_from((">", ">=", "<", "<=")),
    st.integers(2, 8),
    st.none() | st.integers(0, 3),
    st.sampled_from((0, 30, 60, 120)),
    st.sampled_from((0, 30, 90)),
    st.sampled_from(("ok", "alerting", "no_data")),
)


class InstanceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.instance = Instance()
        self.made: list[tuple[int, str, str, datetime]] = []
        self.disabled = False
        self.deleted = False
        self.observed = 0  # delete and disable wait for some history, or runs end early

    @initialize(condition=conditions)
    def start(self, condition: Condition) -> None:
        self.condition = condition
        self.model = Model(condition)

    def record(self, transitions: tuple[object, ...]) -> None:
        for t in transitions:
            assert hasattr(t, "sequence")
            self.made.append((t.sequence, t.from_state.value, t.to_state.value, t.at))  # type: ignore[attr-defined]

    @precondition(lambda self: not self.disabled and not self.deleted)
    @rule(
        run=st.lists(
            st.tuples(
                st.integers(1, 90),
                st.sampled_from(("value", "value", "value", "missing", "error")),
                st.integers(0, 10),
            ),
            min_size=1,
            max_size=8,
        )
    )
    def observe(self, run: list[tuple[int, str, int]]) -> None:
        """A run of evaluations: stateful runs are short, and timing needs several in a row."""
        for gap, kind, value in run:
            self.now += timedelta(seconds=gap)
            self.observed += 1
            observation: Observation = (
                Sample(float(value))
                if kind == "value"
                else Missing()
                if kind == "missing"
                else Failed("boom")
            )
            result = step(self.instance, observation, self.now, self.condition)
            self.instance = result.instance
            self.record(result.transitions)
            self.model.observe(self.now, kind, float(value))
            assert self.made == self.model.log
            assert (self.instance.acknowledgement is not None) == self.model.acked

    @precondition(lambda self: not self.deleted)
    @rule(until=st.none() | st.integers(1, 60))
    def acknowledge(self, until: int | None) -> None:
        expires = None if until is None else self.now + timedelta(seconds=until)
        allowed = self.model.state in ("firing", "no_data", "error")
        try:
            self.instance = acknowledge(self.instance, "ops", "mine", self.now, expires)
        except ActionRefused:
            assert not allowed
            return
        assert allowed
        self.model.acked, self.model.ack_until = True, expires

    @precondition(lambda self: not self.deleted)
    @rule()
    def resolve(self) -> None:
        allowed = self.model.state not in CLOSED
        try:
            result = resolve_by_hand(self.instance, "ops", self.now)
        except ActionRefused:
            assert not allowed
            return
        assert allowed
        self.instance = result.instance
        self.record(result.transitions)
        self.model.close(self.now)

    @precondition(lambda self: not self.deleted and self.observed >= 5)
    @rule()
    def disable(self) -> None:
        result = rule_disabled(self.instance, self.now)
        self.instance = result.instance
        self.record(result.transitions)
        self.model.close(self.now)
        self.disabled = True

    @precondition(lambda self: self.disabled and not self.deleted)
    @rule()
    def enable(self) -> None:
        self.disabled = False

    @precondition(lambda self: not self.deleted and self.observed >= 15)
    @rule()
    def delete(self) -> None:
        result = rule_deleted(self.instance, self.now)
        self.instance = result.instance
        self.record(result.transitions)
        self.model.close(self.now)
        self.deleted = True

    @precondition(lambda self: self.deleted)
    @rule()
    def resolve_after_delete(self) -> None:
        with pytest.raises(ActionRefused):
            resolve_by_hand(self.instance, "ops", self.now)

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        assert self.instance.state.value == self.model.state
        assert self.instance.sequence == self.model.sequence
        assert self.made == self.model.log
        assert (self.instance.acknowledgement is not None) == self.model.acked
        assert self.instance.acknowledged(self.now) == (
            self.model.acked and (self.model.ack_until is None or self.now < self.model.ack_until)
        )

    @invariant()
    def closed_instances_carry_nothing_over(self) -> None:
        if not self.instance.is_open:
            assert self.instance.acknowledgement is None
            assert self.instance.breach_since is None and self.instance.cleared_since is None

    @invariant()
    def transitions_are_real_moves_in_time_order(self) -> None:
        for previous, current in zip(self.made, self.made[1:], strict=False):
            assert previous[3] <= current[3]
        assert all(from_state != to_state for _, from_state, to_state, _ in self.made)


InstanceMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40)
TestInstanceMachine = InstanceMachine.TestCase


# --- evaluation over groups, and the backtest fold -----------------------------------------

GROUPS: tuple[GroupKey, ...] = ((("host", "a"),), (("host", "b"),), (("host", "c"),))
observations = st.one_of(
    st.integers(0, 10).map(lambda v: Sample(float(v))), st.just(Missing()), st.just(Failed("x"))
)
ticks = st.lists(
    st.tuples(st.integers(1, 120), st.dictionaries(st.sampled_from(GROUPS), observations)),
    max_size=30,
)


def timed(
    raw: list[tuple[int, dict[GroupKey, Observation]]],
) -> list[tuple[datetime, dict[GroupKey, Observation]]]:
    now, result = T0, []
    for gap, seen in raw:
        now += timedelta(seconds=gap)
        result.append((now, seen))
    return result


@given(conditions, ticks)
def test_the_backtest_fold_equals_stepping_one_evaluation_at_a_time(
    condition: Condition, raw: list[tuple[int, dict[GroupKey, Observation]]]
) -> None:
    history = timed(raw)
    folded = replay(condition, history)
    instances: dict[GroupKey, Instance] = {}
    made: list[GroupTransition] = []
    for now, seen in history:
        for group in sorted(set(seen) | {g for g, i in instances.items() if i.is_open}):
            result = step(
                instances.get(group, Instance()), seen.get(group, Missing()), now, condition
            )
            instances[group] = result.instance
            made.extend(GroupTransition(group, t) for t in result.transitions)
    assert dict(folded.instances) == instances
    assert list(folded.transitions) == made


@given(conditions, ticks, st.integers(0, 30))
def test_live_evaluation_resumed_from_stored_instances_equals_one_backtest(
    condition: Condition, raw: list[tuple[int, dict[GroupKey, Observation]]], cut: int
) -> None:
    history = timed(raw)
    first = replay(condition, history[:cut])
    second = replay(condition, history[cut:], first.instances)
    whole = replay(condition, history)
    assert second.instances == whole.instances
    assert first.transitions + second.transitions == whole.transitions


def test_a_group_that_stops_reporting_gets_the_no_data_policy_and_closed_ones_stay() -> None:
    condition = Condition(">", 1.0, no_data="ok")
    a, b = GROUPS[0], GROUPS[1]
    first = evaluate(condition, {}, at(0), {a: Sample(2), b: Sample(0)})
    assert first.instances[a].state == State.FIRING
    second = evaluate(condition, first.instances, at(30), {})
    assert second.instances[a].state == State.RESOLVED
    assert [t.group for t in second.transitions] == [a]


def test_firing_time_adds_up_firing_spans_per_group() -> None:
    condition = Condition(">", 1.0)
    a = GROUPS[0]
    history = [
        (at(0), {a: Sample(2)}),
        (at(60), {a: Sample(0)}),
        (at(120), {a: Sample(2)}),
        (at(150), {a: Failed("x")}),
    ]
    result = replay(condition, history)
    assert firing_time(result.transitions, at(600)) == {a: timedelta(seconds=90)}
    still = replay(condition, history[:3])
    assert firing_time(still.transitions, at(600)) == {a: timedelta(seconds=540)}
