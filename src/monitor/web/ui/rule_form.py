"""An alert rule as the editor's form holds it: text fields to the API's JSON and back.

The form is flat: one field per rule field, every kind's fields on one form
(the kind chosen says which are read, so it works without JavaScript). What
the fields hold is turned into the JSON document `POST /api/v1/alerts`
takes and read by the API's own `checked_rule` (parse_rule, templates,
event filters); only the text forms below are the form's own:

- label matchers, one per line: `service=api`, `env!=dev` (a label given
  twice is a list, as in the API);
- event filters as a query string, as a widget's query: `level=error&source=api`;
- group_by as names separated by commas or spaces;
- labels and annotations one per line, `name=template`; a line starting
  with a space continues the template above it on a new line, so a
  template with line breaks reads back exactly;
- numbers as typed (`0.5`, `-3`, `1e3`); anything else is passed on as
  text, for parse_rule to say "must be a number".

`form_values(document)` is the reverse: a stored rule's form, which reads
back to the same rule (tests/test_ui_alert_rule_editor.py checks that with
hypothesis).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

from monitor.domain.alert_rules import DEFAULT_LOOKBACK, DEFAULT_RESOLVE_AFTER, RULE_KINDS
from monitor.domain.durations import format_duration

MAX_FILTER_FIELDS = 200
# The field a problem is shown beside, by the first part of its dotted path.
_DIRECT = frozenset(
    {
        "name",
        "kind",
        "enabled",
        "description",
        "interval",
        "for",
        "keep_firing_for",
        "no_data",
        "offset",
        "severity",
        "labels",
        "annotations",
        "filters",
        "condition",
        "window",
        "group_by",
        "comparator",
        "threshold",
        "resolve_threshold",
        "resolve_after",
        "lookback",
        "metric",
        "matchers",
        "measure",
        "absence_of",
    }
)
_MATCHER = re.compile(r"([^=!\s]+)(!=|=)(.*)", re.S)
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,4})?")
# Fields each kind reads (besides the common ones); the page shows only these with JavaScript.
KIND_FIELDS: dict[str, frozenset[str]] = {
    "metric_threshold": frozenset(
        {
            "metric",
            "matchers",
            "aggregation",
            "window",
            "group_by",
            "comparator",
            "threshold",
            "resolve_threshold",
        }
    ),
    "event_count": frozenset(
        {"filters", "measure", "window", "group_by", "comparator", "threshold", "resolve_threshold"}
    ),
    "error_group": frozenset(
        {
            "condition",
            "filters",
            "resolve_after",
            "window",
            "comparator",
            "threshold",
            "resolve_threshold",
        }
    ),
    "absence": frozenset(
        {"absence_of", "metric", "matchers", "filters", "window", "group_by", "lookback"}
    ),
}
FormProblem = dict[str, str]  # {"field": …, "message": …} as the API names problems


def new_rule_values() -> dict[str, str]:
    """A new rule's form: the API's defaults, a metric threshold to start from."""
    return {
        "name": "",
        "kind": "metric_threshold",
        "enabled": "on",
        "description": "",
        "severity": "warning",
        "interval": "30s",
        "for": "0s",
        "keep_firing_for": "0s",
        "offset": "30s",
        "no_data": "no_data",
        "labels": "",
        "annotations": "",
        "metric": "",
        "matchers": "",
        "filters": "",
        "absence_of": "metrics",
        "aggregation": "avg",
        "measure": "count",
        "condition": "new",
        "window": "5m",
        "group_by": "",
        "comparator": ">",
        "threshold": "",
        "resolve_threshold": "",
        "resolve_after": format_duration(DEFAULT_RESOLVE_AFTER),
        "lookback": format_duration(DEFAULT_LOOKBACK),
    }


def _number_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _lines(pairs: Mapping[str, Any]) -> str:
    """`name=value` entries, one a line."""
    return "\n".join(_continued(f"{name}={value}") for name, value in pairs.items())


def _continued(entry: str) -> str:
    """An entry's further lines each start with a space (read back by `_entries`)."""
    return "\n ".join(entry.split("\n"))


def _matcher_lines(labels: Mapping[str, Any]) -> str:
    lines: list[str] = []
    for key, given in labels.items():
        values = given if isinstance(given, list) else [given]
        name, operator = (key[:-1], "!=") if key.endswith("!") else (key, "=")
        lines.extend(_continued(f"{name}{operator}{value}") for value in values)
    return "\n".join(lines)


def _query_text(filters: Mapping[str, Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for name, given in filters.items():
        values = given if isinstance(given, list) else [given]
        pairs.extend((name, str(value)) for value in values)
    return urlencode(pairs)


def form_values(document: Mapping[str, Any]) -> dict[str, str]:
    """A stored rule's canonical document as its form shows it."""
    values = new_rule_values()
    kind = str(document.get("kind", "metric_threshold"))
    values["kind"] = kind
    for name in ("name", "description", "severity", "no_data", "comparator", "condition"):
        if isinstance(document.get(name), str):
            values[name] = document[name]
    for name in (
        "interval",
        "for",
        "keep_firing_for",
        "offset",
        "window",
        "resolve_after",
        "lookback",
    ):
        if name in document:
            values[name] = str(document[name])
    values["enabled"] = "on" if document.get("enabled", True) else ""
    values["labels"] = _lines(document.get("labels") or {})
    values["annotations"] = _lines(document.get("annotations") or {})
    selector = document.get("selector")
    if isinstance(selector, Mapping):
        values["metric"] = str(selector.get("name", ""))
        values["matchers"] = _matcher_lines(selector.get("labels") or {})
    filters = document.get("filters")
    if isinstance(filters, Mapping):
        values["filters"] = _query_text(filters)
    values["absence_of"] = "events" if kind == "absence" and "filters" in document else "metrics"
    aggregation = document.get("aggregation")
    if isinstance(aggregation, str):
        values["measure" if kind == "event_count" else "aggregation"] = aggregation
    values["group_by"] = ", ".join(str(name) for name in document.get("group_by") or ())
    values["threshold"] = _number_text(document.get("threshold"))
    values["resolve_threshold"] = _number_text(document.get("resolve_threshold"))
    return values


def _number(text: str) -> object:
    """A typed number as JSON would give it; otherwise the text, for parse_rule to refuse."""
    typed = text.strip()
    if _INTEGER.fullmatch(typed):
        return int(typed)
    if _NUMBER.fullmatch(typed):
        return float(typed)
    return typed


def _entries(text: str) -> list[tuple[int, str]]:
    """The text's entries with their line numbers: a line starting with a space continues
    the entry above it on a new line; blank lines are skipped."""
    entries: list[tuple[int, str]] = []
    for number, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if raw[:1] in (" ", "\t") and entries:
            entries[-1] = (entries[-1][0], entries[-1][1] + "\n" + raw[1:])
        elif raw.strip():
            entries.append((number, raw))
    return entries


def _pairs(text: str, field: str, problems: list[FormProblem]) -> dict[str, str]:
    """`name=value` entries as an object."""
    found: dict[str, str] = {}
    for number, entry in _entries(text):
        name, equals, value = entry.partition("=")
        if not equals or not name.strip():
            problems.append({"field": field, "message": f"line {number}: write name=value"})
            continue
        if name.strip() in found:
            problems.append({"field": field, "message": f"line {number}: {name} is given twice"})
        found[name.strip()] = value
    return found


def _matchers(text: str, problems: list[FormProblem]) -> dict[str, object]:
    labels: dict[str, list[str]] = {}
    for number, entry in _entries(text):
        matched = _MATCHER.fullmatch(entry)
        if matched is None:
            problems.append(
                {
                    "field": "matchers",
                    "message": f"line {number}: write label=value or label!=value",
                }
            )
            continue
        name, operator, value = matched.groups()
        labels.setdefault(name + ("!" if operator == "!=" else ""), []).append(value)
    return {key: values[0] if len(values) == 1 else values for key, values in labels.items()}


def _filters(text: str, problems: list[FormProblem]) -> dict[str, object]:
    try:
        pairs = parse_qsl(
            text.strip().lstrip("?"), keep_blank_values=True, max_num_fields=MAX_FILTER_FIELDS
        )
    except ValueError as refused:
        problems.append({"field": "filters", "message": str(refused)})
        return {}
    filters: dict[str, object] = {}
    for name, value in pairs:
        held = filters.get(name)
        if held is None:
            filters[name] = value
        else:
            filters[name] = [*held, value] if isinstance(held, list) else [held, value]
    return filters


def _names(text: str) -> list[str]:
    return [name for name in re.split(r"[\s,]+", text) if name]


def rule_body(form: Mapping[str, str]) -> tuple[dict[str, Any], list[FormProblem]]:
    """The API's JSON document for the form's fields, and what the form's own text forms
    could not read (parse_rule names everything else)."""
    problems: list[FormProblem] = []

    def given(name: str) -> str:
        return form.get(name, "").strip()

    kind = form.get("kind", "")
    body: dict[str, Any] = {"name": form.get("name", ""), "kind": kind}
    body["enabled"] = bool(form.get("enabled"))
    body["description"] = form.get("description", "").replace("\r\n", "\n")
    for name in ("severity", "no_data", "interval", "for", "keep_firing_for", "offset"):
        if given(name):
            body[name] = given(name)
    body["labels"] = _pairs(form.get("labels", ""), "labels", problems)
    body["annotations"] = _pairs(form.get("annotations", ""), "annotations", problems)
    selector = {"name": given("metric"), "labels": _matchers(form.get("matchers", ""), problems)}

    def threshold() -> None:
        body["comparator"] = given("comparator")
        if given("threshold"):
            body["threshold"] = _number(given("threshold"))
        if given("resolve_threshold"):
            body["resolve_threshold"] = _number(given("resolve_threshold"))

    if given("window"):
        body["window"] = given("window")
    if kind == "metric_threshold":
        body["selector"] = selector
        body["aggregation"] = given("aggregation")
        body["group_by"] = _names(form.get("group_by", ""))
        threshold()
    elif kind == "event_count":
        body["filters"] = _filters(form.get("filters", ""), problems)
        body["aggregation"] = given("measure")
        body["group_by"] = _names(form.get("group_by", ""))
        threshold()
    elif kind == "error_group":
        body["condition"] = given("condition")
        body["filters"] = _filters(form.get("filters", ""), problems)
        if given("condition") == "frequency":
            threshold()
        else:
            body.pop("window", None)
            if given("resolve_after"):
                body["resolve_after"] = given("resolve_after")
    elif kind == "absence":
        if form.get("absence_of") == "events":
            body["filters"] = _filters(form.get("filters", ""), problems)
        else:
            body["selector"] = selector
        body["group_by"] = _names(form.get("group_by", ""))
        if given("lookback"):
            body["lookback"] = given("lookback")
    return body, problems


def form_field(problem_field: str, kind: str) -> str | None:
    """The form's field a problem named by the API's dotted path is shown beside."""
    if problem_field.startswith("selector.labels"):
        return "matchers"
    if problem_field.startswith("selector"):
        return "metric"
    if problem_field == "aggregation":
        return "measure" if kind == "event_count" else "aggregation"
    first = problem_field.split(".", 1)[0]
    return first if first in _DIRECT else None


def problems_by_field(problems: Sequence[Mapping[str, Any]], kind: str) -> dict[str, list[str]]:
    shown: dict[str, list[str]] = {}
    for problem in problems:
        field = form_field(str(problem.get("field", "")), kind)
        if field is not None:
            shown.setdefault(field, []).append(str(problem.get("message", "")))
    return shown


def is_known_kind(kind: str) -> bool:
    return kind in RULE_KINDS


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
