"""Acknowledging and resolving an alert instance: the API's routes and the UI's forms share
these steps, so both refuse the same input the same way and write the same audit row
(decision 0048's rule).

A state that does not allow the action raises domain/alert_states.py `ActionRefused`
(the API's blueprint answers it as a 409; the UI shows the same reason as a page).
"""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.domain.alert_states import ActionRefused
from monitor.domain.dashboards import NotFound
from monitor.storage import alert_instances as store
from monitor.storage import alert_reads as reads
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
        await store.acknowledge(
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


async def resolve_instance(instance_id: int) -> None:
    """Resolve by hand as the request's key; a 404 for no such instance, `ActionRefused`
    when it is closed already (or a newer instance opened)."""
    existing_id("alert instance", instance_id)
    try:
        await store.resolve_by_hand(
            current_deps().gateway,
            instance_id,
            now=datetime.now(UTC),
            by=request_attribution(),
            by_label=current_principal().name,
        )
    except NotFound:
        raise await _not_current(instance_id) from None
