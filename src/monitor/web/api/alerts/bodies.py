"""Reading an alert rule from a request body, checked as saving it would check it.

Size (413), JSON (400), then domain/alert_rules.py `parse_rule` with the
sandboxed template check (alert_templates.template_problem), then a rule's
event filters through the events list's own parser, as a widget's query is
checked: one 400 names every bad field, before anything is stored.
"""

from __future__ import annotations

import json
from typing import Any

from quart import request
from werkzeug.datastructures import MultiDict

from monitor.alert_templates import template_problem
from monitor.domain.alert_rules import (
    AlertRule,
    MetricThreshold,
    Pairs,
    parse_rule,
    rule_document,
)
from monitor.domain.rule_fields import RuleProblems
from monitor.storage.alert_rules import RuleFields
from monitor.web.api.dashboards.bodies import invalid
from monitor.web.api.events.query import event_filter_and_errors
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.request_body import read_json_body

# parse_rule bounds the document at 64 KiB; a little more for spacing.
RULE_BODY_BYTES = 96 * 1024


async def read_body(max_bytes: int) -> bytes:
    too_large = ProblemError(413, f"the request body is larger than {max_bytes} bytes")
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise too_large
    body = await read_json_body(max_bytes)
    if len(body) > max_bytes:
        raise too_large
    return body


def decoded(body: bytes) -> object:
    """The JSON document in `body`; a 400 when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as refused:
        message = "not valid JSON" if isinstance(refused, RecursionError) else str(refused)
        raise invalid(
            [{"field": "(body)", "message": f"not valid JSON: {message}"[:300]}]
        ) from None


def checked_rule(raw: object) -> AlertRule:
    """The rule `raw` describes, or a 400 naming every bad field."""
    try:
        rule = parse_rule(raw, check_template=template_problem)
    except RuleProblems as refused:
        raise invalid([problem.as_dict() for problem in refused.problems]) from None
    errors = filter_errors(rule)
    if errors:
        raise invalid(errors, "the rule's event filters are invalid")
    return rule


def _filters(rule: AlertRule) -> Pairs | None:
    spec = rule.spec
    return None if isinstance(spec, MetricThreshold) else spec.filters


def filter_errors(rule: AlertRule) -> list[dict[str, Any]]:
    """What the events list's parser says of the rule's filters, named `filters.<name>`."""
    filters = _filters(rule)
    if not filters:
        return []
    _, errors = event_filter_and_errors(frozenset(), MultiDict(list(filters)))
    return [{**error, "field": f"filters.{error.get('field', '')}"} for error in errors]


def rule_fields(rule: AlertRule) -> RuleFields:
    return RuleFields(rule.name, rule.kind, rule.enabled, rule_document(rule))


async def read_rule() -> AlertRule:
    return checked_rule(decoded(await read_body(RULE_BODY_BYTES)))
