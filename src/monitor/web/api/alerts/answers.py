"""What the alert routes answer: rules, instances and transitions as JSON, refusals as problems."""

from __future__ import annotations

import math
from typing import Any

from quart import Response

from monitor.domain.alert_states import ActionRefused
from monitor.storage.alert_reads import InstanceRow, TransitionRow
from monitor.storage.alert_rules import RuleRecord
from monitor.web.api.bulk_json import json_response
from monitor.web.edge.preconditions import with_version
from monitor.web.edge.problems import ProblemError, response_for


def rule_json(record: RuleRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "version": record.version,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "updated_at": record.updated_at,
        "updated_by": record.updated_by,
        "rule": record.definition,
    }


def rule_response(record: RuleRecord, status: int = 200) -> Response:
    return with_version(json_response(rule_json(record), status), record.version)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def instance_json(row: InstanceRow) -> dict[str, Any]:
    acknowledgement = (
        {
            "by": row.acknowledged_by,
            "comment": row.acknowledged_note or "",
            "at": row.acknowledged_at,
            "until": row.acknowledged_until,
        }
        if row.acknowledged_by is not None
        else None
    )
    return {
        "id": row.id,
        "rule_id": row.rule_id,
        "rule_name": row.rule_name,
        "labels": row.labels,
        "annotations": row.annotations,
        "state": row.state,
        "since": row.since,
        "value": _finite(row.value),
        "reason": row.reason,
        "acknowledgement": acknowledgement,
        "opened_at": row.opened_at,
        "closed_at": row.closed_at,
    }


def transition_json(row: TransitionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "instance_id": row.instance_id,
        "from_state": row.from_state,
        "to_state": row.to_state,
        "at": row.at,
        "value": _finite(row.value),
        "reason": row.reason,
        "labels": row.labels,
        "annotations": row.annotations,
        "actor": row.actor,
    }


def action_refused(refusal: ActionRefused) -> ProblemError:
    return ProblemError(409, f"{refusal}; nothing was changed", kind="state-conflict")


async def refused_action(refusal: ActionRefused) -> Response:
    """Error handler: an operator action the instance's state does not allow, as a 409."""
    return response_for(action_refused(refusal))
