"""Acknowledging and resolving an alert instance: the API's routes and the UI's forms share
these steps, so both refuse the same input the same way and write the same audit row
(decision 0048's rule).

A state that does not allow the action raises domain/alert_states.py `ActionRefused`
(the API's blueprint answers it as a 409; the UI shows the same reason as a page).

Once committed, each action is published on the `alerts` live channel
(domain/alert_live.py), as the evaluator's transitions are, so every open
Alerts page and websocket client hears of an operator's action too; so are
the instances a rule's disabling or deletion closes (`publish_changes`), and
changes of silences and inhibition rules (`publish_muting`), which change
which instances the pages mark muted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.domain.alert_live import (
    MutingChange,
    MutingWhat,
    acknowledgement_item,
    muting_item,
    transition_item,
)
from monitor.domain.alert_states import ActionRefused
from monitor.domain.dashboards import NotFound, actor_label
from monitor.messages import AlertTransitions
from monitor.storage import alert_instances as store
from monitor.storage import alert_reads as reads
from monitor.storage.alert_instances import SlotChange
from monitor.web.api.alerts.schemas import AcknowledgeIn
from monitor.web.api.dashboards.answers import existing_id, not_found
from monitor.web.api.dashboards.bodies import invalid
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.auth import current_principal


async def _not_current(instance_id: int) -> Exception:
    """Why an action found no current instance `instance_id`: unknown (404) or superseded."""
    if await reads.get_instance(current_deps().gateway, instance_id) is None:
        return not_found("alert instance", instance_id)
    return ActionRefused(
        "a newer instance of its rule and group has opened since; this one is closed"
    )


async def acknowledge_instance(instance_id: int, data: AcknowledgeIn) -> None:
    """Acknowledge as the request's key; a 400 for an `until` not in the future, a 404 for
    no such instance, `ActionRefused` when its state (or a newer instance) forbids it."""
    existing_id("alert instance", instance_id)
    now = datetime.now(UTC)
    if data.until is not None and data.until <= now:
        raise invalid([{"field": "until", "message": "must be in the future"}])
    try:
        owned = await store.acknowledge(
            current_deps().gateway,
            instance_id,
            comment=data.comment,
            until=data.until,
            now=now,
            by=request_attribution(),
            by_label=current_principal().name,
        )
    except NotFound:
        raise await _not_current(instance_id) from None
    acknowledgement = owned.instance.acknowledgement
    assert acknowledgement is not None
    _publish(
        acknowledgement_item(
            instance_id=owned.id,
            rule_id=owned.rule_id,
            labels=owned.labels,
            annotations=owned.annotations,
            state=owned.instance.state,
            acknowledgement=acknowledgement,
        )
    )


async def resolve_instance(instance_id: int) -> None:
    """Resolve by hand as the request's key; a 404 for no such instance, `ActionRefused`
    when it is closed already (or a newer instance opened)."""
    existing_id("alert instance", instance_id)
    by_label = current_principal().name
    try:
        change = await store.resolve_by_hand(
            current_deps().gateway,
            instance_id,
            now=datetime.now(UTC),
            by=request_attribution(),
            by_label=by_label,
        )
    except NotFound:
        raise await _not_current(instance_id) from None
    publish_changes([change], by_label)


def publish_changes(changes: Sequence[SlotChange], actor: str) -> None:
    """Committed changes an operator made (a resolve; a rule disabled or deleted, which
    closes its instances), each transition onto the live channel."""
    _publish(
        *(
            transition_item(
                instance_id=change.before.id if change.before is not None else None,
                rule_id=change.rule_id,
                labels=change.labels,
                annotations=change.annotations,
                transition=transition,
                actor=actor,
            )
            for change in changes
            for transition in change.transitions
        )
    )


def publish_muting(what: MutingWhat, id: int, change: MutingChange, at: datetime) -> None:
    """A committed change of a silence or inhibition rule, as the request's key made it."""
    _publish(
        muting_item(
            what=what, id=id, change=change, at=at, actor=actor_label(request_attribution().actor)
        )
    )


def _publish(*items: dict[str, Any]) -> None:
    """Onto the live channel without waiting (dropped and counted when its queue is full)."""
    if items:
        current_deps().live.publish(AlertTransitions(items))
