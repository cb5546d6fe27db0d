"""Alert label and annotation templates: sandboxed, bounded, and never raising at render."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.alert_templates import (
    MAX_OUTPUT,
    Rendered,
    instance_labels,
    render,
    render_all,
    template_problem,
)
from monitor.domain.alert_rules import parse_rule

CONTEXT = {"value": 0.51234, "labels": {"host": "web-1"}, "threshold": 0.5, "rule": "latency"}


def rendered(source: str) -> Rendered:
    return render(source, **CONTEXT)  # type: ignore[arg-type]


def test_the_issue_example_renders() -> None:
    source = "p95 {{ value | round(3) }} s on {{ labels.host }}"
    assert template_problem(source) is None
    assert rendered(source) == Rendered("p95 0.512 s on web-1")
    assert rendered("{{ rule }} over {{ threshold }}").text == "latency over 0.5"


def test_a_missing_label_renders_empty() -> None:
    assert rendered("[{{ labels.zone }}]") == Rendered("[]")
    assert rendered("{{ labels.zone | default('?') }}").text == "?"


@pytest.mark.parametrize(
    "source",
    [
        "{{ value ",
        "{{ value | no_such_filter }}",
        "{{ undefined_name }}",
        "{{ labels.__class__ }}",
        "{{ labels.items() }}",
        "{{ range(10) }}",
        "{% for x in labels %}{{ x }}{% endfor %}",
        "{% set x = 1 %}",
        "{% macro m() %}{% endmacro %}",
        "{% include 'other' %}",
        "{{ labels.host | center(10000000) }}",
        "{{ lipsum(100000) }}",
        "{{" + "(" * 400 + "1" + ")" * 400 + "}}",
        "x" * 2001,
    ],
)
def test_refused_when_saved(source: str) -> None:
    problem = template_problem(source)
    assert problem
    assert rendered(source).problem == problem  # never rendered either


@pytest.mark.parametrize(
    "source",
    [
        "{{ labels['__class__'] }}",
        "{{ value['__class__'] }}",
        "{{ rule['__len__'] }}",
        "{{ labels['update'] }}",
        "{{ labels['host']['__class__'] }}",
    ],
)
def test_unsafe_attributes_are_refused_at_render(source: str) -> None:
    assert template_problem(source) is None  # they only show up with values
    result = rendered(source)
    assert result.text == ""
    assert result.problem is not None and "not allowed" in result.problem


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 100000000 }}",
        "{{ rule * 100000000 }}",
        "{{ 10 ** 100000 }}",
        "{{ (rule ~ rule ~ rule) | truncate(1000000) * 100000 }}",
        "{{ value / 0 }}",
        "{{ labels.zone.deeper }}",
        "{{ labels.host + 1 }}",
        "{{ rule.upper }}",
    ],
)
def test_a_render_that_fails_gives_a_reason(source: str) -> None:
    assert template_problem(source) is None
    result = rendered(source)
    assert result.text == "" and result.problem


def test_output_is_cut_at_the_cap() -> None:
    source = "{{ labels.host }}" * 100  # 1,700 characters that print 20,000
    result = render(source, value=None, labels={"host": "z" * 200}, threshold=None, rule="r")
    assert result.problem is None
    assert len(result.text) == MAX_OUTPUT and result.text.endswith("…")


def test_render_all_renders_each_annotation() -> None:
    results = render_all(
        [("summary", "{{ value }}"), ("bad", "{{ value / 0 }}")],
        value=2.0,
        labels={},
        threshold=1.0,
        rule="r",
    )
    assert results["summary"] == Rendered("2.0")
    assert results["bad"].problem


@given(st.text(max_size=200))
def test_any_text_is_refused_or_renders_without_raising(source: str) -> None:
    problem = template_problem(source)
    result = render(source, value=1.5, labels={"a": "b"}, threshold=None, rule="r")
    if problem is not None:
        assert result.problem == problem
    assert len(result.text) <= MAX_OUTPUT


def test_instance_labels_are_group_then_rule_then_name_and_severity() -> None:
    rule = parse_rule(
        {
            "name": "disk",
            "kind": "metric_threshold",
            "selector": {"name": "disk_used"},
            "window": "5m",
            "comparator": ">",
            "threshold": 90,
            "severity": "critical",
            "labels": {
                "team": "ops",
                "host": "fixed",
                "shout": "{{ labels.host | upper }}",
                "bad": "{{ 1 / 0 }}",
            },
        },
        check_template=template_problem,
    )
    result = instance_labels(rule, {"host": "db-1", "rule": "spoofed"}, 95.0)
    assert result.labels == {
        "host": "fixed",  # the rule's label overwrites the group's, as in Prometheus
        "shout": "DB-1",
        "team": "ops",
        "rule": "disk",
        "severity": "critical",
    }
    assert list(result.problems) == ["bad"]
