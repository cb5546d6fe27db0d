"""What the `alerts` live channel carries: one item per change of an instance.

Three kinds, so a client can tell a state change from an owner taking it on,
and both from a change of what mutes instances:

- `transition`: the instance moved from one state to another (the evaluator,
  or an operator resolving it by hand, or its rule disabled or deleted); the
  same facts as the transition row the history shows.
- `acknowledgement`: an operator acknowledged it; its state did not change.
- `muting`: a silence was made or expired early, or an inhibition rule was
  made, changed or deleted: which instances are muted may have changed (no
  instance is named; a silence reaching its own end is not published).

Every transition and acknowledgement names the instance (`instance_id`, null only if the evaluator
could not read back an instance it had just written) and its rule, so a
client can ask `GET /api/v1/alerts/instances?rule_id=…` or refresh a view.
Both the evaluator and the operators' actions build their items here, so the
channel has one shape whoever changed the instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from monitor.domain.alert_states import Acknowledgement, State, Transition


def transition_item(
    *,
    instance_id: int | None,
    rule_id: int,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    transition: Transition,
    actor: str | None,
) -> dict[str, Any]:
    """A state change; `actor` is the operator's key or session, None for the evaluator."""
    return {
        "kind": "transition",
        "instance_id": instance_id,
        "rule_id": rule_id,
        "labels": dict(labels),
        "annotations": dict(annotations),
        "from": transition.from_state.value,
        "to": transition.to_state.value,
        "at": transition.at.isoformat(),
        "value": transition.value,
        "reason": transition.reason,
        "actor": actor,
    }


def acknowledgement_item(
    *,
    instance_id: int,
    rule_id: int,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    state: State,
    acknowledgement: Acknowledgement,
) -> dict[str, Any]:
    """An operator took the instance on; `state` is its (unchanged) state."""
    return {
        "kind": "acknowledgement",
        "instance_id": instance_id,
        "rule_id": rule_id,
        "labels": dict(labels),
        "annotations": dict(annotations),
        "state": state.value,
        "at": acknowledgement.at.isoformat(),
        "by": acknowledgement.by,
        "comment": acknowledgement.comment,
        "until": None if acknowledgement.until is None else acknowledgement.until.isoformat(),
    }


MutingWhat = Literal["silence", "inhibition_rule"]
MutingChange = Literal["created", "changed", "expired", "deleted"]


def muting_item(
    *, what: MutingWhat, id: int, change: MutingChange, at: datetime, actor: str
) -> dict[str, Any]:
    """A silence or inhibition rule changed: muted marks may have changed anywhere."""
    return {
        "kind": "muting",
        "what": what,
        "id": id,
        "change": change,
        "at": at.isoformat(),
        "actor": actor,
    }
