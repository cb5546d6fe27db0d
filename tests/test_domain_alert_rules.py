"""Alert rule documents: valid ones read back as written, each bad field is named.

The parser is the API's 400 for a rule: any JSON must give either a rule or
RuleProblems, never another exception, and the problem must name the field a
client got wrong so a form can show it beside that field.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.alert_templates import template_problem
from monitor.domain.alert_rules import (
    AlertRule,
    MetricThreshold,
    RuleProblems,
    parse_rule,
    rule_document,
)
from monitor.domain.alert_states import Sample, State, replay

ISSUE_EXAMPLE: dict[str, Any] = {
    "name": "api latency high",
    "kind": "metric_threshold",
    "enabled": True,
    "selector": {"name": "http_request_seconds", "labels": {"service": "api"}},
    "aggregation": "p95",
    "window": "5m",
    "group_by": ["host"],
    "comparator": ">",
    "threshold": 0.5,
    "resolve_threshold": 0.4,
    "interval": "30s",
    "for": "2m",
    "keep_firing_for": "5m",
    "no_data": "no_data",
    "severity": "warning",
    "labels": {"team": "api"},
    "annotations": {"summary": "p95 {{ value | round(3) }} s on {{ labels.host }}"},
}


def parse(raw: object) -> AlertRule:
    return parse_rule(raw, check_template=template_problem)


def problems_of(raw: object) -> dict[str, str]:
    with pytest.raises(RuleProblems) as refused:
        parse(raw)
    return {problem.field: problem.message for problem in refused.value.problems}


def test_the_issue_example_is_a_rule() -> None:
    rule = parse(ISSUE_EXAMPLE)
    assert isinstance(rule.spec, MetricThreshold)
    assert rule.spec.selector.matchers[0].name == "service"
    condition = rule.condition()
    assert (condition.comparator, condition.threshold, condition.resolve_threshold) == (
        ">",
        0.5,
        0.4,
    )
    assert rule_document(rule) | {} == {**ISSUE_EXAMPLE, "description": "", "offset": "30s"}


def test_defaults() -> None:
    rule = parse(
        {"name": "n", "kind": "error_group", "condition": "new"},
    )
    document = rule_document(rule)
    assert (document["interval"], document["offset"], document["resolve_after"]) == (
        "30s",
        "30s",
        "1h",
    )
    assert (rule.enabled, rule.severity, rule.no_data) == (True, "warning", "no_data")


def test_selector_labels_take_the_metrics_query_operators() -> None:
    rule = parse(
        {**ISSUE_EXAMPLE, "selector": {"name": "up", "labels": {"env!": ["dev", "test"], "a": "1"}}}
    )
    assert isinstance(rule.spec, MetricThreshold)
    matchers = [(m.name, m.value, m.equal) for m in rule.spec.selector.matchers]
    assert matchers == [("a", "1", True), ("env", "dev", False), ("env", "test", False)]
    assert matchers_match(rule, {"a": "1"}) and not matchers_match(rule, {"a": "1", "env": "dev"})


def matchers_match(rule: AlertRule, labels: dict[str, str]) -> bool:
    assert isinstance(rule.spec, MetricThreshold)
    return all(m.matches(labels) for m in rule.spec.selector.matchers)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"comparator": ">", "threshold": 90, "resolve_threshold": 95}, "resolve_threshold"),
        ({"comparator": "<", "threshold": 10, "resolve_threshold": 5}, "resolve_threshold"),
        ({"comparator": "==", "threshold": 1, "resolve_threshold": 1}, "resolve_threshold"),
        ({"interval": "4s"}, "interval"),
        ({"window": "2d"}, "window"),
        ({"for": "8d"}, "for"),
        ({"name": "x" * 201}, "name"),
        ({"name": " "}, "name"),
        ({"labels": {f"l{i}": "v" for i in range(21)}}, "labels"),
        ({"labels": {"severity": "x"}}, "labels"),
        ({"labels": {"team": "y" * 201}}, "labels"),
        ({"annotations": {"summary": "{{ value | nope }}"}}, "annotations.summary"),
        ({"annotations": {"summary": "{{ value "}}, "annotations.summary"),
        ({"annotations": {"summary": "{% for x in labels %}{% endfor %}"}}, "annotations.summary"),
        ({"annotations": {"summary": "x" * 2001}}, "annotations"),
        ({"selector": {"name": "up", "labels": {"a": 1}}}, "selector.labels.a"),
        ({"selector": {"name": "up", "extra": 1}}, "selector.extra"),
        ({"group_by": ["host", "host"]}, "group_by"),
        ({"threshold": True}, "threshold"),
        ({"threshold": "1"}, "threshold"),
        ({"enabled": 1}, "enabled"),
        ({"filters": {}}, "filters"),
        ({"lookback": "1h"}, "lookback"),
    ],
)
def test_each_bad_field_is_named(changes: dict[str, Any], field: str) -> None:
    assert field in problems_of({**ISSUE_EXAMPLE, **changes})


def test_kind_specific_fields() -> None:
    event_count = {
        "name": "errors",
        "kind": "event_count",
        "filters": {"level": ["error", "critical"], "source": "api", "attr.status": 500},
        "aggregation": "rate",
        "window": "5m",
        "group_by": ["source"],
        "comparator": ">",
        "threshold": 1,
    }
    rule = parse(event_count)
    assert parse(rule_document(rule)) == rule
    assert "filters.from" in problems_of({**event_count, "filters": {"from": "2026-01-01"}})
    assert "filters.level" in problems_of({**event_count, "filters": {"level": "loud"}})
    assert "group_by" in problems_of({**event_count, "group_by": ["host"]})
    new_group = {"name": "new", "kind": "error_group", "condition": "new"}
    assert "threshold" in problems_of({**new_group, "threshold": 1})
    assert "resolve_after" in problems_of(
        {**new_group, "condition": "frequency", "resolve_after": "1h"}
    )
    absence = {"name": "gone", "kind": "absence", "window": "10m"}
    assert "selector" in problems_of(absence)
    assert parse({**absence, "filters": {"source": "cron"}}).condition().comparator == "<"


def test_garbage_is_refused_as_a_whole() -> None:
    assert problems_of([]) == {"(body)": "must be a JSON object"}
    assert "kind" in problems_of({"name": "x"})
    deep: dict[str, Any] = {}
    for _ in range(10):
        deep = {"a": deep}
    assert problems_of({**ISSUE_EXAMPLE, "labels": deep})


# --- properties ------------------------------------------------------------------------

label_names = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True).filter(
    lambda name: name not in ("rule", "severity")
)
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
durations = st.sampled_from(["10s", "30s", "1m", "5m", "1h30m", "1d"])
thresholds = st.integers(-1000, 1000) | st.floats(-1e6, 1e6, allow_nan=False)
comparators = st.sampled_from([">", ">=", "<", "<=", "==", "!="])


@st.composite
def limits(draw: st.DrawFn) -> dict[str, Any]:
    comparator = draw(comparators)
    threshold = draw(thresholds)
    document: dict[str, Any] = {"comparator": comparator, "threshold": threshold}
    margin = draw(st.none() | st.integers(0, 50))
    if margin is not None and comparator not in ("==", "!="):
        document["resolve_threshold"] = (
            threshold - margin if comparator.startswith(">") else threshold + margin
        )
    return document


selectors = st.fixed_dictionaries(
    {"name": st.from_regex(r"[a-z_:][a-z0-9_:]{0,20}", fullmatch=True)},
    optional={
        "labels": st.dictionaries(
            label_names.map(lambda n: n) | label_names.map(lambda n: n + "!"),
            texts | st.lists(texts, min_size=1, max_size=3),
            max_size=4,
        )
    },
)
event_filters = st.fixed_dictionaries(
    {},
    optional={
        "level": st.sampled_from(["error", "critical"]),
        "source": st.lists(st.sampled_from(["api", "cron", "db"]), min_size=1, max_size=3),
        "q": st.just("timeout"),
    },
)
common = st.fixed_dictionaries(
    {"name": st.from_regex(r"[a-z][a-z ]{0,30}", fullmatch=True)},
    optional={
        "enabled": st.booleans(),
        "description": texts,
        "interval": st.sampled_from(["5s", "30s", "1m", 60]),
        "for": durations,
        "keep_firing_for": durations,
        "no_data": st.sampled_from(["ok", "alerting", "no_data"]),
        "offset": st.sampled_from(["0s", "30s", "1m"]),
        "severity": st.sampled_from(["info", "warning", "critical"]),
        "labels": st.dictionaries(label_names, texts, max_size=3),
        "annotations": st.dictionaries(
            label_names,
            st.sampled_from(
                ["{{ value }}", "{{ labels.host }} over {{ threshold }}", "{{ rule }}", "plain"]
            ),
            max_size=3,
        ),
    },
)


@st.composite
def rule_documents(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(common)
    kind = draw(st.sampled_from(["metric_threshold", "event_count", "error_group", "absence"]))
    document["kind"] = kind
    if kind == "metric_threshold":
        document |= {"selector": draw(selectors), "window": draw(durations)}
        document |= draw(limits())
        document["group_by"] = draw(st.lists(label_names, unique=True, max_size=3))
        document["aggregation"] = draw(st.sampled_from(["avg", "p95", "rate", "last"]))
    elif kind == "event_count":
        document |= {"filters": draw(event_filters), "window": draw(durations)}
        document |= draw(limits())
        document["group_by"] = draw(st.lists(st.sampled_from(["source", "type"]), unique=True))
    elif kind == "error_group":
        condition = draw(st.sampled_from(["new", "regression", "frequency"]))
        document["condition"] = condition
        if condition == "frequency":
            document |= {"window": draw(durations)} | draw(limits())
        else:
            document["resolve_after"] = draw(st.sampled_from(["1m", "1h", "2d"]))
    else:
        document["window"] = draw(durations)
        document["lookback"] = draw(st.sampled_from(["1d", "7d"]))
        if draw(st.booleans()):
            document["selector"] = draw(selectors)
            document["group_by"] = draw(st.lists(label_names, unique=True, max_size=3))
        else:
            document["filters"] = draw(event_filters)
            document["group_by"] = draw(st.lists(st.sampled_from(["source", "type"]), unique=True))
    return document


@given(rule_documents())
def test_valid_rules_read_back_as_written(document: dict[str, Any]) -> None:
    rule = parse(document)
    canonical = rule_document(rule)
    assert parse(json.loads(json.dumps(canonical))) == rule
    assert rule_document(parse(canonical)) == canonical


BAD_VALUES: list[Any] = [None, True, -1, 1e400, "", "x" * 3000, [], {}, [1], {"a": 1}, "\x00"]


@given(rule_documents(), st.data())
def test_a_bad_value_is_a_problem_naming_its_field(
    document: dict[str, Any], data: st.DataObject
) -> None:
    field = data.draw(st.sampled_from(sorted(set(document) - {"description"})))
    bad = data.draw(st.sampled_from(BAD_VALUES))
    broken = copy.deepcopy(document)
    broken[field] = bad
    try:
        parse(broken)
    except RuleProblems as refused:
        named = [p.field for p in refused.problems]
        assert any(name == field or name.startswith(field + ".") for name in named) or (
            field == "kind" or any(name == "(body)" for name in named)
        ), (field, bad, named)
        return
    # The values that are valid for some fields.
    assert (
        (bad is True and field == "enabled")
        or (bad == [] and field == "group_by")
        or (bad == {} and field in ("labels", "annotations", "filters"))
        or (bad == -1 and not isinstance(bad, bool) and field in ("threshold", "resolve_threshold"))
    ), (field, bad)


@given(rule_documents(), label_names)
def test_an_unknown_field_is_named(document: dict[str, Any], extra: str) -> None:
    if extra in document or extra in ALL_FIELDS:
        return
    assert extra in problems_of({**document, extra: 1})


ALL_FIELDS = {
    *ISSUE_EXAMPLE,
    "description",
    "offset",
    "filters",
    "condition",
    "resolve_after",
    "lookback",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(sorted(ALL_FIELDS | {"kind", "x"})), json_values))
def test_any_json_gives_a_rule_or_problems(raw: dict[str, Any]) -> None:
    try:
        parse(raw)
    except RuleProblems as refused:
        assert refused.problems


def test_a_parsed_rule_drives_the_state_machine() -> None:
    rule = parse({**ISSUE_EXAMPLE, "for": "0s"})
    group = (("host", "a"),)
    result = replay(rule.condition(), [(datetime(2026, 1, 1, tzinfo=UTC), {group: Sample(0.6)})])
    assert result.instances[group].state == State.FIRING
