"""Trying alert rules (under /api/v1/alerts): `test` now and `backtest` over stored data.

Admin's, like the rules they try out; they change nothing (alert_trials.py).
An unsaved rule is checked exactly as saving it would check it (bodies.py),
so a rule that tests is a rule that saves.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response
from quart_schema import document_request, document_response, tag

from monitor.alert_templates import instance_labels, template_problem
from monitor.alert_trials import (
    MAX_TICKS,
    TRIAL_RULE_ID,
    Backtest,
    GroupTrial,
    backtest,
    ticks_between,
    try_now,
)
from monitor.domain.alert_rules import AlertRule, parse_rule
from monitor.domain.alert_states import GroupKey, Instance
from monitor.domain.keys import Role
from monitor.domain.query_times import parse_query_time
from monitor.domain.rule_fields import RuleProblems
from monitor.storage import alert_instances as instance_store
from monitor.storage import alert_rules as store
from monitor.storage.gateway import Connection
from monitor.web.api.alerts.bodies import RULE_BODY_BYTES, checked_rule, decoded, read_body
from monitor.web.api.alerts.schemas import BacktestIn, BacktestOut, RuleDocument, TrialOut
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboards.answers import MAX_ID, existing_id, not_found
from monitor.web.api.dashboards.bodies import invalid
from monitor.web.api.events.query import event_filter_of_pairs
from monitor.web.deps import current_deps
from monitor.web.edge.auth import require_role
from monitor.web.edge.problems import ProblemError

blueprint = Blueprint("alert_trials", __name__)

BACKTEST_FIELDS = frozenset({"rule", "rule_id", "from", "to"})


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _trial_json(trial: GroupTrial) -> dict[str, Any]:
    instance = trial.instance
    return {
        "group": dict(trial.group),
        "labels": trial.labels,
        "state": instance.state.value,
        "value": _finite(instance.value),
        "reason": instance.reason,
        "annotations": {name: r.text for name, r in trial.annotations.items()},
        "annotation_problems": {
            name: r.problem for name, r in trial.annotations.items() if r.problem is not None
        },
    }


async def _saved(rule_id: int) -> AlertRule:
    record = await store.get_rule(current_deps().gateway, existing_id("alert rule", rule_id))
    if record is None:
        raise not_found("alert rule", rule_id)
    try:
        return parse_rule(record.definition, check_template=template_problem)
    except RuleProblems as refused:
        # Stored under older checks than today's: it must be replaced to be tried.
        raise ProblemError(
            409,
            f"the stored rule {rule_id} no longer passes the rule checks ({refused}); "
            "replace it with PUT",
            kind="rule-outdated",
        ) from None


async def _current(rule_id: int) -> dict[GroupKey, Instance]:
    def work(connection: Connection) -> dict[GroupKey, Instance]:
        slots = instance_store.current_instances(connection, [rule_id]).get(rule_id, {})
        return {group: stored.instance for group, stored in slots.items()}

    return await current_deps().gateway.run(work)


async def _tried(rule: AlertRule, rule_id: int, current: dict[GroupKey, Instance]) -> Response:
    now = datetime.now(UTC)
    trials = await try_now(
        current_deps().gateway,
        rule,
        rule_id=rule_id,
        current=current,
        now=now,
        event_filter_of=event_filter_of_pairs,
    )
    return json_response({"evaluated_at": now, "groups": [_trial_json(t) for t in trials]})


@blueprint.post("/alerts/<int:rule_id>/test")
@require_role(Role.ADMIN)
@tag(["alerts"])
@document_response(TrialOut, 200)
async def test_saved_rule(rule_id: int) -> Response:
    """Evaluate a saved rule now, from its current instances, without recording anything:
    per group, the value, the state it would be in and the annotations rendered. No body."""
    rule = await _saved(rule_id)
    return await _tried(rule, rule_id, await _current(rule_id))


@blueprint.post("/alerts/test")
@require_role(Role.ADMIN)
@tag(["alerts"])
@document_request(RuleDocument)
@document_response(TrialOut, 200)
async def test_unsaved_rule() -> Response:
    """Evaluate a rule that is not saved, now, as if it had no instances yet (so a breach
    with `for` is pending). The rule is checked as saving it would be (400 naming fields)."""
    rule = checked_rule(decoded(await read_body(RULE_BODY_BYTES)))
    return await _tried(rule, TRIAL_RULE_ID, {})


def _backtest_request(raw: object) -> tuple[AlertRule | int, datetime, datetime]:
    """(the rule or a saved rule's id, from, to), or a 400 naming every bad field."""
    if not isinstance(raw, dict):
        raise invalid([{"field": "(body)", "message": "must be a JSON object"}])
    errors: list[dict[str, Any]] = [
        {"field": str(name)[:60], "message": "is not a known field"}
        for name in raw
        if name not in BACKTEST_FIELDS
    ]
    if ("rule" in raw) == ("rule_id" in raw):
        errors.append({"field": "rule", "message": "give exactly one of rule or rule_id"})
    rule_id = raw.get("rule_id")
    if "rule_id" in raw and (
        isinstance(rule_id, bool) or not isinstance(rule_id, int) or not 1 <= rule_id <= MAX_ID
    ):
        errors.append({"field": "rule_id", "message": f"must be a whole number from 1 to {MAX_ID}"})
    times: dict[str, datetime] = {}
    for name in ("from", "to"):
        value = raw.get(name)
        if not isinstance(value, str):
            errors.append({"field": name, "message": "is required: an RFC 3339 time"})
            continue
        try:
            times[name] = parse_query_time(value)
        except ValueError as problem:
            errors.append({"field": name, "message": str(problem)})
    if len(times) == 2 and times["from"] >= times["to"]:
        errors.append({"field": "to", "message": "must be after from"})
    if errors:
        raise invalid(errors)
    chosen: AlertRule | int = rule_id if isinstance(rule_id, int) else _nested_rule(raw["rule"])
    return chosen, times["from"], times["to"]


def _nested_rule(raw: object) -> AlertRule:
    """The body's `rule`, checked as saving it would be; its fields named under `rule.`."""
    try:
        return checked_rule(raw)
    except ProblemError as refusal:
        errors = refusal.errors or []
        raise invalid([{**e, "field": f"rule.{e.get('field', '')}"} for e in errors]) from None


def _backtest_json(
    rule: AlertRule, result: Backtest, start: datetime, end: datetime
) -> dict[str, Any]:
    return {
        "from": start,
        "to": end,
        "interval_seconds": rule.interval.total_seconds(),
        "evaluations": result.ticks,
        "transitions": [
            {
                "labels": instance_labels(rule, dict(item.group), item.transition.value).labels,
                "from_state": item.transition.from_state.value,
                "to_state": item.transition.to_state.value,
                "at": item.transition.at,
                "value": _finite(item.transition.value),
                "reason": item.transition.reason,
            }
            for item in result.transitions
        ],
        "transitions_truncated": result.truncated,
        "firing": [
            {
                "labels": instance_labels(rule, dict(group), None).labels,
                "seconds": spent.total_seconds(),
            }
            for group, spent in sorted(result.firing.items())
        ],
        "firing_seconds": sum(spent.total_seconds() for spent in result.firing.values()),
    }


@blueprint.post("/alerts/backtest")
@require_role(Role.ADMIN)
@tag(["alerts"])
@document_request(BacktestIn)
@document_response(BacktestOut, 200)
async def backtest_rule() -> Response:
    """Replay a rule (saved, by `rule_id`, or given as `rule`) over stored data between
    `from` and `to` at its interval, from no instances: the transitions it would have made
    and how long each group would have fired. Nothing is recorded."""
    chosen, start, end = _backtest_request(decoded(await read_body(RULE_BODY_BYTES + 1024)))
    rule_id = TRIAL_RULE_ID
    if isinstance(chosen, int):
        rule_id = chosen
        chosen = await _saved(chosen)
    count = ticks_between(start, end, chosen.interval)
    if count > MAX_TICKS:
        message = (
            f"{count} evaluations at the rule's interval; at most {MAX_TICKS}: "
            "shorten from-to or lengthen the interval"
        )
        raise invalid([{"field": "to", "message": message}])
    result = await backtest(
        current_deps().gateway,
        chosen,
        rule_id=rule_id,
        start=start,
        end=end,
        event_filter_of=event_filter_of_pairs,
    )
    return json_response(_backtest_json(chosen, result, start, end))
