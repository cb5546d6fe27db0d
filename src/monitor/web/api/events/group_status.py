"""Changing an error group's status: the API's PATCH and the UI's form share these steps,
so both refuse the same input the same way and write the same audit row."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from monitor.storage import events as event_store
from monitor.storage.events import EventGroup
from monitor.web.api.events.schemas import GroupStatusIn
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.problems import ProblemError

MAX_GROUP_ID = 2**63 - 1  # event_groups.id is a bigint: a larger id names no group


def _invalid() -> ProblemError:
    return ProblemError(
        400,
        "the request is invalid",
        kind="validation-error",
        errors=[{"field": "status", "message": "must be open, resolved or ignored"}],
    )


def status_from_json(body: bytes) -> str:
    """The status a JSON body (`{"status": …}`) asks for; a 400 problem otherwise."""
    try:
        return GroupStatusIn.model_validate_json(body).status
    except ValueError:
        raise _invalid() from None


def status_from_form(value: Any) -> str:
    """The status a form field asks for; the same 400 problem as the API's otherwise."""
    try:
        return GroupStatusIn.model_validate({"status": value}).status
    except ValidationError:
        raise _invalid() from None


async def change_status(group_id: int, status: str) -> EventGroup:
    """Set the status, attributed to the request's key (an audit row when it changes);
    a 404 problem when there is no such group."""
    group = (
        None
        if group_id > MAX_GROUP_ID
        else await event_store.set_group_status(
            current_deps().gateway, group_id, status, by=request_attribution()
        )
    )
    if group is None:
        raise ProblemError(404, f"no event group with id {group_id}", kind="not-found")
    return group
