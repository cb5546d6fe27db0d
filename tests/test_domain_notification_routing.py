"""Notification matchers, policy routing, silences and inhibition (pure rules, no I/O)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.label_matchers import MAX_MATCHERS, Matcher, read_matchers
from monitor.domain.muting import InhibitionRule, Silence, inhibited_by, silenced_by
from monitor.domain.notification_routing import GroupKey, Policy, channels_of, groups_of, route
from monitor.domain.rule_fields import Fields, RuleProblem

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
names = st.sampled_from(["host", "severity", "team", "rule"])
values = st.sampled_from(["", "a", "b", "web-1", "critical", "warning"])
label_sets = st.dictionaries(names, values.filter(bool), max_size=4)


def _m(name: str, op: str, value: str) -> Matcher:
    return Matcher.of(name, op, value)  # type: ignore[arg-type]


@given(name=names, value=values, labels=label_sets)
def test_equality_matchers_treat_a_missing_label_as_empty(
    name: str, value: str, labels: dict[str, str]
) -> None:
    seen = labels.get(name, "")
    assert _m(name, "=", value).matches(labels) == (seen == value)
    assert _m(name, "!=", value).matches(labels) == (seen != value)


@given(name=names, value=st.text(max_size=20), labels=label_sets)
def test_a_regex_of_a_literal_matches_exactly_that_value(
    name: str, value: str, labels: dict[str, str]
) -> None:
    literal = re.escape(value)
    seen = labels.get(name, "")
    assert _m(name, "=~", literal).matches(labels) == (seen == value)
    assert _m(name, "!~", literal).matches(labels) == (seen != value)


def test_a_regex_must_match_the_whole_value() -> None:
    assert _m("host", "=~", "web-.*").matches({"host": "web-1"})
    assert not _m("host", "=~", "web").matches({"host": "web-1"})
    assert not _m("host", "=~", "a|b").matches({"host": "ab"}), "alternation stays anchored"
    assert _m("team", "=~", "|api").matches({}), "a missing label is the empty string"


@pytest.mark.parametrize("pattern", ["(a", "(?=a)", r"(a)\1", "a{1000}{1000}", "[z-a]"])
def test_patterns_re2_cannot_run_in_linear_time_or_at_all_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="not a valid RE2 regular expression"):
        Matcher.of("host", "=~", pattern)


def test_a_backtracking_bomb_is_matched_in_linear_time() -> None:
    matcher = _m("host", "=~", "(a+)+$x")
    began = time.perf_counter()
    assert not matcher.matches({"host": "a" * 100_000 + "b"})
    assert time.perf_counter() - began < 1.0


def _read(raw: object, *, required: bool = False) -> tuple[tuple[Matcher, ...], list[RuleProblem]]:
    problems: list[RuleProblem] = []
    fields = Fields({"matchers": raw}, "", problems)
    return read_matchers(fields, "matchers", required=required), problems


def test_matchers_are_read_from_name_op_value_objects() -> None:
    found, problems = _read(
        [{"name": "severity", "value": "critical"}, {"name": "host", "op": "=~", "value": "web-.*"}]
    )
    assert problems == []
    assert [str(matcher) for matcher in found] == ['severity="critical"', 'host=~"web-.*"']


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ("severity=critical", "matchers", "must be a list"),
        ([1], "matchers[0]", "must be an object"),
        ([{"value": "x"}], "matchers[0].name", "is required"),
        ([{"name": "a\x00b", "value": "x"}], "matchers[0].name", "NUL"),
        ([{"name": "a", "value": "x\x00"}], "matchers[0].value", "NUL"),
        ([{"name": "a", "value": 5}], "matchers[0].value", "must be text"),
        ([{"name": "a", "op": "~=", "value": "x"}], "matchers[0].op", "must be one of"),
        ([{"name": "a", "op": "=~", "value": "(?=x)"}], "matchers[0].value", "RE2"),
        ([{"name": "a", "value": "x", "extra": 1}], "matchers[0].extra", "not a field"),
        ([{"name": "a", "value": "x" * 1001}], "matchers[0].value", "1000 characters"),
        ([{"name": "a", "value": "x"}] * (MAX_MATCHERS + 1), "matchers", "at most"),
        ([], "matchers", "at least one"),
    ],
)
def test_bad_matchers_are_refused_naming_the_field(raw: object, field: str, message: str) -> None:
    _, problems = _read(raw, required=True)
    assert any(p.field == field and message in p.message for p in problems), problems


def _policy(number: int, *matchers: Matcher, go_on: bool = False) -> Policy:
    return Policy(number, matchers, (number * 10,), continue_matching=go_on)


DEFAULT = Policy(0, (), (99,))


@given(
    wanted=st.lists(st.tuples(values, st.booleans()), max_size=6),
    labels=label_sets,
)
def test_routing_takes_matching_policies_in_order_until_one_does_not_continue(
    wanted: list[tuple[str, bool]], labels: dict[str, str]
) -> None:
    policies = [
        _policy(index + 1, _m("host", "=", value), go_on=go_on)
        for index, (value, go_on) in enumerate(wanted)
    ]
    expected: list[int] = []
    for index, (value, go_on) in enumerate(wanted):
        if labels.get("host", "") == value:
            expected.append(index + 1)
            if not go_on:
                break
    taken = [policy.id for policy in route(policies, DEFAULT, labels)]
    assert taken == (expected or [0])


def test_the_default_policy_takes_what_no_policy_takes_and_only_that() -> None:
    critical = _policy(1, _m("severity", "=", "critical"), go_on=True)
    assert [p.id for p in route([critical], DEFAULT, {"severity": "warning"})] == [0]
    assert [p.id for p in route([critical], DEFAULT, {"severity": "critical"})] == [1]
    assert channels_of([critical, DEFAULT, critical]) == (10, 99)


def test_instances_group_by_the_policys_labels() -> None:
    by_alert = Policy(1, (), (1,), group_by=("alertname", "host"))
    everything = Policy(2, (), (1,), group_by=("...",))
    together = Policy(3, (), (1,))
    labels = {"host": "a", "team": "api"}
    assert by_alert.group_of(labels) == (("alertname", ""), ("host", "a"))
    assert everything.group_of(labels) == (("host", "a"), ("team", "api"))
    assert together.group_of(labels) == ()
    fifty = {by_alert.group_of({"host": "a", "n": str(n)}) for n in range(50)}
    assert len(fifty) == 1, "fifty instances of one group make one group"
    assert groups_of([by_alert], DEFAULT, labels) == [
        GroupKey(1, (("alertname", ""), ("host", "a")))
    ]
    assert GroupKey(1, (("host", "a'b"),)).text() == '1:{host="a\'b"}'


@given(start=st.integers(-100, 100), length=st.integers(0, 100), at=st.integers(-200, 200))
def test_a_silence_holds_from_its_start_until_before_its_end(
    start: int, length: int, at: int
) -> None:
    silence = Silence(
        7,
        (_m("host", "=", "a"),),
        T0 + timedelta(seconds=start),
        T0 + timedelta(seconds=start + length),
    )
    now = T0 + timedelta(seconds=at)
    assert silenced_by([silence], {"host": "a"}, now) == (
        [7] if start <= at < start + length else []
    )
    assert silenced_by([silence], {"host": "b"}, now) == []


def test_critical_inhibits_warning_for_the_same_host_only() -> None:
    rule = InhibitionRule(
        3, (_m("severity", "=", "critical"),), (_m("severity", "=", "warning"),), ("host",)
    )
    critical_a = {"severity": "critical", "host": "a"}
    assert inhibited_by([rule], {"severity": "warning", "host": "a"}, [critical_a]) == [3]
    assert inhibited_by([rule], {"severity": "warning", "host": "b"}, [critical_a]) == []
    assert inhibited_by([rule], {"severity": "warning", "host": "a"}, []) == []
    assert inhibited_by([rule], {"severity": "critical", "host": "a"}, [critical_a]) == []
    unlabelled = InhibitionRule(4, (_m("a", "=", "1"),), (), ("host",))
    assert inhibited_by([unlabelled], {"b": "2"}, [{"a": "1"}]) == [4], "missing on both: equal"


@given(labels=label_sets)
def test_an_instance_never_inhibits_itself(labels: dict[str, str]) -> None:
    rule = InhibitionRule(1, (), (), tuple(labels))
    assert inhibited_by([rule], labels, [labels]) == []
