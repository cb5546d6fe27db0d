"""Alert rules as the API accepts them: the JSON shape, its bounds, its per-field problems.

`parse_rule` reads a decoded JSON object strictly (no coercion, unknown
fields refused) and either returns an `AlertRule` or raises `RuleProblems`
naming every bad field by its dotted path. `rule_document` writes the
canonical JSON back; `parse_rule(rule_document(rule)) == rule`.

What this module cannot check by itself is passed in or left to the caller:

- templates: `check_template` (alert_templates.template_problem, Jinja2 lives
  outside `domain/`) returns why a label or annotation template is refused;
- event filters: this module checks their shape and names (the events list's
  filter parameters, without `from`/`to`: the window is the time frame); the
  API runs them through the events list's own parser when saving, as it does
  for a widget's query.

Bounds (documented in docs/alerts.md): see the constants below. A window is at
most a day because retention may be as short as a day (MONITOR_*_RETENTION);
`lookback` at most a week, and at least the window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from monitor.domain.alert_states import (
    COMPARATORS,
    NO_DATA_POLICIES,
    Comparator,
    Condition,
    NoDataPolicy,
)
from monitor.domain.durations import format_duration
from monitor.domain.events import LEVEL_NUMBER
from monitor.domain.json_documents import JsonLimits, json_problems
from monitor.domain.metrics import (
    AGGREGATIONS,
    LABEL_NAME_PATTERN,
    MAX_LABELS,
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    LabelMatcher,
    labels_problem,
    parse_label_matcher,
)
from monitor.domain.rule_fields import (
    Fields,
    RuleProblem,
    RuleProblems,
    boolean,
    duration,
    json_object,
    number,
    one_of,
    shown,
    text,
)
from monitor.domain.widget_queries import QueryProblems, query_parameters

RuleKind = Literal["metric_threshold", "event_count", "error_group", "absence"]
RULE_KINDS: tuple[RuleKind, ...] = ("metric_threshold", "event_count", "error_group", "absence")
Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
EventMeasure = Literal["count", "rate"]
EVENT_MEASURES: tuple[EventMeasure, ...] = ("count", "rate")
EventGroupBy = Literal["source", "type"]
EVENT_GROUP_BY: tuple[EventGroupBy, ...] = ("source", "type")
ErrorCondition = Literal["new", "regression", "frequency"]
ERROR_CONDITIONS: tuple[ErrorCondition, ...] = ("new", "regression", "frequency")

MAX_RULE_NAME = 200
MAX_DESCRIPTION = 2000
MAX_ANNOTATIONS = 20
MAX_TEMPLATE = 2000
MAX_GROUP_BY = 10
MAX_MATCHERS = MAX_LABELS
DEFAULT_INTERVAL = timedelta(seconds=30)
MIN_INTERVAL = timedelta(seconds=5)
MAX_INTERVAL = timedelta(days=1)
MAX_WAIT = timedelta(days=7)  # for, keep_firing_for, resolve_after
MIN_WINDOW = timedelta(seconds=10)
MAX_WINDOW = timedelta(days=1)
DEFAULT_OFFSET = timedelta(seconds=30)
MAX_OFFSET = timedelta(hours=1)
DEFAULT_LOOKBACK = timedelta(hours=24)
MAX_LOOKBACK = timedelta(days=7)
DEFAULT_RESOLVE_AFTER = timedelta(hours=1)
MIN_RESOLVE_AFTER = timedelta(minutes=1)
RESERVED_LABELS = ("rule", "severity")  # every instance carries them (issue 17)
# The events list's filters a rule may carry (web/api/events/query.py FILTER_PARAMETERS,
# without from/to) and `attr.<key>`.
EVENT_FILTERS = ("type", "level", "min_level", "source", "q")
_DOCUMENT_LIMITS = JsonLimits(max_bytes=64 * 1024, max_depth=6)

Pairs = tuple[tuple[str, str], ...]  # ordered (name, value) pairs
TemplateCheck = Callable[[str], str | None]  # why a template is refused, or None


@dataclass(frozen=True)
class MetricSelector:
    name: str
    matchers: tuple[LabelMatcher, ...]  # sorted, so equal selectors compare equal


@dataclass(frozen=True)
class Threshold:
    comparator: Comparator
    threshold: float
    resolve_threshold: float | None = None


@dataclass(frozen=True)
class MetricThreshold:
    selector: MetricSelector
    aggregation: str
    window: timedelta
    group_by: tuple[str, ...]
    limit: Threshold
    kind: Literal["metric_threshold"] = "metric_threshold"


@dataclass(frozen=True)
class EventCount:
    filters: Pairs  # the events list's parameters, in order
    aggregation: EventMeasure  # rate: events per second over the window
    window: timedelta
    group_by: tuple[EventGroupBy, ...]
    limit: Threshold
    kind: Literal["event_count"] = "event_count"


@dataclass(frozen=True)
class ErrorGroupRule:
    condition: ErrorCondition
    filters: Pairs
    resolve_after: timedelta  # new, regression: closes after this long without events
    window: timedelta | None = None  # frequency only
    limit: Threshold | None = None  # frequency only
    kind: Literal["error_group"] = "error_group"


@dataclass(frozen=True)
class Absence:
    """No samples of `selector`, or no events matching `filters`, for `window`; per group,
    the groups expected being those seen during `lookback` before."""

    selector: MetricSelector | None
    filters: Pairs | None
    window: timedelta
    group_by: tuple[str, ...]
    lookback: timedelta
    kind: Literal["absence"] = "absence"


RuleSpec = MetricThreshold | EventCount | ErrorGroupRule | Absence


@dataclass(frozen=True)
class AlertRule:
    name: str
    spec: RuleSpec
    enabled: bool = True
    description: str = ""
    interval: timedelta = DEFAULT_INTERVAL
    for_: timedelta = timedelta(0)
    keep_firing_for: timedelta = timedelta(0)
    no_data: NoDataPolicy = "no_data"
    offset: timedelta = DEFAULT_OFFSET
    severity: Severity = "warning"
    labels: Pairs = ()  # sorted by name
    annotations: Pairs = field(default=())  # name → template, sorted

    @property
    def kind(self) -> RuleKind:
        return self.spec.kind

    def condition(self) -> Condition:
        """What alert_states decides by. The evaluator's value per group is, by kind:
        metric_threshold the aggregation, event_count the count or rate, error_group
        `frequency` the group's count in the window and `new`/`regression` 1 while the
        group is new or regressed (0 once resolved, ignored or quiet for resolve_after),
        absence the number of samples or events in the window."""
        limit = self.spec.limit if isinstance(self.spec, MetricThreshold | EventCount) else None
        if isinstance(self.spec, ErrorGroupRule):
            limit = self.spec.limit or Threshold(">=", 1)
        if isinstance(self.spec, Absence):
            limit = Threshold("<", 1)
        assert limit is not None
        return Condition(
            comparator=limit.comparator,
            threshold=limit.threshold,
            resolve_threshold=limit.resolve_threshold,
            for_=self.for_,
            keep_firing_for=self.keep_firing_for,
            no_data=self.no_data,
        )


def parse_rule(raw: object, *, check_template: TemplateCheck) -> AlertRule:
    """The rule `raw` (decoded JSON) describes; RuleProblems naming every bad field."""
    if not isinstance(raw, dict):
        raise RuleProblems([RuleProblem("(body)", "must be a JSON object")])
    structural = json_problems(raw, _DOCUMENT_LIMITS, "")
    if structural:
        raise RuleProblems([RuleProblem(path or "(body)", message) for path, message in structural])
    problems: list[RuleProblem] = []
    fields = Fields(raw, "", problems)
    name = fields.required("name", text(1, MAX_RULE_NAME, printable=True), "")
    kind = fields.required("kind", one_of(RULE_KINDS), None)
    spec = _spec(kind, fields) if kind is not None else None
    rule = AlertRule(
        name=name,
        spec=spec or _PLACEHOLDER,
        enabled=fields.get("enabled", boolean, True),
        description=fields.get("description", text(0, MAX_DESCRIPTION), ""),
        interval=fields.get("interval", duration(MIN_INTERVAL, MAX_INTERVAL), DEFAULT_INTERVAL),
        for_=fields.get("for", duration(timedelta(0), MAX_WAIT), timedelta(0)),
        keep_firing_for=fields.get(
            "keep_firing_for", duration(timedelta(0), MAX_WAIT), timedelta(0)
        ),
        no_data=fields.get("no_data", one_of(NO_DATA_POLICIES), "no_data"),
        offset=fields.get("offset", duration(timedelta(0), MAX_OFFSET), DEFAULT_OFFSET),
        severity=fields.get("severity", one_of(SEVERITIES), "warning"),
        labels=fields.get("labels", _rule_labels(fields, check_template), ()),
        annotations=fields.get("annotations", _annotations(fields, check_template), ()),
    )
    if kind is not None:
        fields.refuse_unknown(f"a {kind} rule")
    if problems or spec is None:
        raise RuleProblems(problems)
    return rule


def _spec(kind: RuleKind, fields: Fields) -> RuleSpec | None:
    before = len(fields.problems)
    spec: RuleSpec | None
    if kind == "metric_threshold":
        spec = MetricThreshold(
            selector=fields.required("selector", _selector(fields, "selector"), _NO_SELECTOR),
            aggregation=fields.get("aggregation", one_of(AGGREGATIONS), "avg"),
            window=fields.required("window", _window, MIN_WINDOW),
            group_by=fields.get("group_by", _label_names, ()),
            limit=_threshold(fields),
        )
    elif kind == "event_count":
        spec = EventCount(
            filters=fields.get("filters", _filters(fields, "filters"), ()),
            aggregation=fields.get("aggregation", one_of(EVENT_MEASURES), "count"),
            window=fields.required("window", _window, MIN_WINDOW),
            group_by=fields.get("group_by", _event_group_by, ()),
            limit=_threshold(fields),
        )
    elif kind == "error_group":
        spec = _error_group(fields)
    else:
        spec = _absence(fields)
    return spec if len(fields.problems) == before else None


def _error_group(fields: Fields) -> ErrorGroupRule:
    condition: ErrorCondition = fields.required("condition", one_of(ERROR_CONDITIONS), "new")
    frequency = condition == "frequency"
    for key in ("window", "comparator", "threshold", "resolve_threshold"):
        if not frequency and fields.has(key):
            fields.read.add(key)
            fields.problem(key, "only for condition frequency")
    if frequency and fields.has("resolve_after"):
        fields.read.add("resolve_after")
        fields.problem("resolve_after", "only for conditions new and regression")
    return ErrorGroupRule(
        condition=condition,
        filters=fields.get("filters", _filters(fields, "filters"), ()),
        resolve_after=fields.get(
            "resolve_after", duration(MIN_RESOLVE_AFTER, MAX_WAIT), DEFAULT_RESOLVE_AFTER
        ),
        window=fields.required("window", _window, MIN_WINDOW) if frequency else None,
        limit=_threshold(fields) if frequency else None,
    )


def _absence(fields: Fields) -> Absence:
    if fields.has("selector") == fields.has("filters"):
        fields.problem("selector", "give exactly one of selector (metrics) or filters (events)")
    selector = fields.get("selector", _selector(fields, "selector"), None)
    filters = fields.get("filters", _filters(fields, "filters"), None)
    window = fields.required("window", _window, MIN_WINDOW)
    group_by: tuple[str, ...] = fields.get(
        "group_by", _label_names if filters is None else _event_group_by, ()
    )
    lookback = fields.get("lookback", duration(MIN_WINDOW, MAX_LOOKBACK), DEFAULT_LOOKBACK)
    if lookback < window:
        fields.problem("lookback", "must be at least the window")
    return Absence(selector, filters, window, group_by, lookback)


def _threshold(fields: Fields) -> Threshold:
    comparator: Comparator = fields.required("comparator", one_of(COMPARATORS), ">")
    threshold = fields.required("threshold", number, 0.0)
    resolve = fields.get("resolve_threshold", number, None)
    if resolve is not None:
        if comparator in ("==", "!="):
            fields.problem("resolve_threshold", "only for comparators >, >=, < and <=")
        elif comparator in (">", ">=") and resolve > threshold:
            fields.problem("resolve_threshold", "must be at most threshold (the resolving side)")
        elif comparator in ("<", "<=") and resolve < threshold:
            fields.problem("resolve_threshold", "must be at least threshold (the resolving side)")
    return Threshold(comparator, threshold, resolve)


_window = duration(MIN_WINDOW, MAX_WINDOW)


def _selector(parent: Fields, key: str) -> Callable[[object], MetricSelector]:
    def read(value: object) -> MetricSelector:
        inner = Fields(json_object(value), parent.name(key), parent.problems)
        before = len(parent.problems)
        name = inner.required("name", _metric_name, "")
        no_labels: Mapping[str, object] = {}
        labels = inner.get("labels", json_object, no_labels)
        matchers: list[LabelMatcher] = []
        for label_key, given in labels.items():
            values = given if isinstance(given, list) else [given]
            if not values or not all(isinstance(v, str) for v in values):
                inner.problem(f"labels.{label_key}", "must be text or a list of text")
                continue
            for item in values:
                assert isinstance(item, str)
                try:
                    matchers.append(parse_label_matcher(label_key, item))
                except ValueError as refused:
                    inner.problem(f"labels.{label_key}", str(refused))
                    break
        if len(matchers) > MAX_MATCHERS:
            inner.problem("labels", f"at most {MAX_MATCHERS} matchers")
        inner.refuse_unknown("a selector")
        if len(parent.problems) != before:
            return _NO_SELECTOR  # the problems are recorded already
        return MetricSelector(name, tuple(sorted(matchers, key=_matcher_order)))

    return read


def _matcher_order(matcher: LabelMatcher) -> tuple[str, str, bool]:
    return (matcher.name, matcher.value, matcher.equal)


def _metric_name(value: object) -> str:
    if (
        not isinstance(value, str)
        or len(value) > MAX_NAME_LENGTH
        or not re.fullmatch(NAME_PATTERN, value)
    ):
        raise ValueError(f"must be a metric name matching {NAME_PATTERN}")
    return value


def _label_names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("must be a list of label names")
    names = tuple(str(item) for item in value)
    if len(names) > MAX_GROUP_BY or len(set(names)) != len(names):
        raise ValueError(f"at most {MAX_GROUP_BY} label names, each once")
    if labels_problem({name: "" for name in names}) is not None:
        raise ValueError(f"label names must match {LABEL_NAME_PATTERN}")
    return names


def _event_group_by(value: object) -> tuple[EventGroupBy, ...]:
    if not isinstance(value, list):
        raise ValueError("must be a list of source and/or type")
    read = one_of(EVENT_GROUP_BY)
    names = tuple(read(item) for item in value)
    if len(set(names)) != len(names):
        raise ValueError("each of source and type at most once")
    return names


def _filters(parent: Fields, key: str) -> Callable[[object], Pairs]:
    def read(value: object) -> Pairs:
        given = json_object(value)
        where = parent.name(key)
        try:
            pairs = query_parameters(given)
        except QueryProblems as refused:
            for name, text_problem in refused.problems:
                parent.problems.append(RuleProblem(f"{where}.{shown(name)}", text_problem))
            return ()
        bad = False
        for name, item in pairs:
            message = _filter_problem(name, item)
            if message is not None:
                parent.problems.append(RuleProblem(f"{where}.{shown(name)}", message))
                bad = True
        return () if bad else pairs

    return read


def _filter_problem(name: str, value: str) -> str | None:
    if name.startswith("attr."):
        return None if len(name) > len("attr.") else "attribute filters are attr.<key>"
    if name not in EVENT_FILTERS:
        return f"is not an event filter; one of {', '.join(EVENT_FILTERS)} or attr.<key>"
    if name in ("level", "min_level") and value.lower() not in LEVEL_NUMBER:
        return f"must be one of {', '.join(LEVEL_NUMBER)}"
    return None


def _rule_labels(parent: Fields, check_template: TemplateCheck) -> Callable[[object], Pairs]:
    def read(value: object) -> Pairs:
        given = _text_map(value)
        problem = labels_problem(dict(given))
        if problem is not None:
            raise ValueError(problem)
        reserved = [name for name, _ in given if name in RESERVED_LABELS]
        if reserved:
            raise ValueError(f"{reserved[0]} is set on every instance; use another name")
        return _templates_checked(parent, "labels", given, check_template)

    return read


def _annotations(parent: Fields, check_template: TemplateCheck) -> Callable[[object], Pairs]:
    def read(value: object) -> Pairs:
        given = _text_map(value)
        if len(given) > MAX_ANNOTATIONS:
            raise ValueError(f"at most {MAX_ANNOTATIONS} annotations")
        if labels_problem({name: "" for name, _ in given}) is not None:
            raise ValueError(f"annotation names must match {LABEL_NAME_PATTERN}")
        if any(len(template) > MAX_TEMPLATE for _, template in given):
            raise ValueError(f"templates are at most {MAX_TEMPLATE} characters")
        return _templates_checked(parent, "annotations", given, check_template)

    return read


def _text_map(value: object) -> Pairs:
    given = json_object(value)
    if not all(isinstance(item, str) for item in given.values()):
        raise ValueError("must be an object of names to text")
    return tuple(sorted((name, str(item)) for name, item in given.items()))


def _templates_checked(parent: Fields, key: str, given: Pairs, check: TemplateCheck) -> Pairs:
    """`given` if every template passes `check`; otherwise each refusal named as a problem."""
    refused = [(name, check(template)) for name, template in given]
    for name, reason in refused:
        if reason is not None:
            parent.problem(f"{key}.{name}", reason)
    return () if any(reason is not None for _, reason in refused) else given


_NO_SELECTOR = MetricSelector("", ())
_PLACEHOLDER = ErrorGroupRule("new", (), DEFAULT_RESOLVE_AFTER)


def rule_document(rule: AlertRule) -> dict[str, object]:
    """The rule as canonical JSON: what the API returns and what `parse_rule` reads back."""
    document: dict[str, object] = {"name": rule.name, "kind": rule.kind}
    document.update(_spec_document(rule.spec))
    document.update(
        {
            "enabled": rule.enabled,
            "description": rule.description,
            "interval": format_duration(rule.interval),
            "for": format_duration(rule.for_),
            "keep_firing_for": format_duration(rule.keep_firing_for),
            "no_data": rule.no_data,
            "offset": format_duration(rule.offset),
            "severity": rule.severity,
            "labels": dict(rule.labels),
            "annotations": dict(rule.annotations),
        }
    )
    return document


def _spec_document(spec: RuleSpec) -> dict[str, object]:
    if isinstance(spec, MetricThreshold):
        return {
            "selector": _selector_document(spec.selector),
            "aggregation": spec.aggregation,
            "window": format_duration(spec.window),
            "group_by": list(spec.group_by),
            **_threshold_document(spec.limit),
        }
    if isinstance(spec, EventCount):
        return {
            "filters": _filters_document(spec.filters),
            "aggregation": spec.aggregation,
            "window": format_duration(spec.window),
            "group_by": list(spec.group_by),
            **_threshold_document(spec.limit),
        }
    if isinstance(spec, ErrorGroupRule):
        document: dict[str, object] = {
            "condition": spec.condition,
            "filters": _filters_document(spec.filters),
        }
        if spec.window is not None and spec.limit is not None:
            document["window"] = format_duration(spec.window)
            document.update(_threshold_document(spec.limit))
        else:
            document["resolve_after"] = format_duration(spec.resolve_after)
        return document
    document = {}
    if spec.selector is not None:
        document["selector"] = _selector_document(spec.selector)
    if spec.filters is not None:
        document["filters"] = _filters_document(spec.filters)
    document["window"] = format_duration(spec.window)
    document["group_by"] = list(spec.group_by)
    document["lookback"] = format_duration(spec.lookback)
    return document


def _threshold_document(limit: Threshold) -> dict[str, object]:
    document: dict[str, object] = {"comparator": limit.comparator, "threshold": limit.threshold}
    if limit.resolve_threshold is not None:
        document["resolve_threshold"] = limit.resolve_threshold
    return document


def _selector_document(selector: MetricSelector) -> dict[str, object]:
    labels: dict[str, list[str]] = {}
    for matcher in selector.matchers:
        labels.setdefault(matcher.name + ("" if matcher.equal else "!"), []).append(matcher.value)
    return {
        "name": selector.name,
        "labels": {
            key: values[0] if len(values) == 1 else values for key, values in labels.items()
        },
    }


def _filters_document(filters: Pairs) -> dict[str, object]:
    grouped: dict[str, list[str]] = {}
    for name, value in filters:
        grouped.setdefault(name, []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}
