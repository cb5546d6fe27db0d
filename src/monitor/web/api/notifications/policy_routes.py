"""Notification policies (under /api/v1/notification-policies): read to view, admin to change.

Policies are tried by `position`, then id (domain/notification_routing.py);
the default policy is one row of its own, made by the migration, replaced
with `PUT /notification-policies/default` and never deleted. `PUT` and
`DELETE` honour If-Match on the version, as alert rules do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_headers, document_request, document_response, tag

from monitor.domain.dashboards import DashboardRefused, VersionCondition
from monitor.domain.keys import Role
from monitor.domain.notification_documents import parse_policy
from monitor.domain.rule_fields import RuleProblem, RuleProblems
from monitor.storage import versioned_documents as store
from monitor.storage.channels import missing_channels
from monitor.storage.gateway import Connection
from monitor.storage.notification_tables import DEFAULT_POLICY, POLICIES
from monitor.web.api.alerts.schemas import IfMatchHeader
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboards.answers import existing_id, not_found, refused
from monitor.web.api.dashboards.bodies import invalid
from monitor.web.api.notifications.documents import read_document, stored_json, stored_response
from monitor.web.api.notifications.schemas import (
    DefaultPolicyDocument,
    DefaultPolicyOut,
    PolicyDocument,
    PolicyList,
    PolicyOut,
)
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.auth import require_role
from monitor.web.edge.preconditions import if_match

blueprint = Blueprint("notification_policies", __name__)
blueprint.register_error_handler(DashboardRefused, refused)

ANY_VERSION = VersionCondition(None)
WHAT = "notification policy"


def channels_exist(connection: Connection, definition: dict[str, Any]) -> None:
    missing = missing_channels(connection, definition.get("channel_ids", []))
    if missing:
        listed = ", ".join(str(channel_id) for channel_id in missing)
        raise RuleProblems([RuleProblem("channel_ids", f"no channel with id {listed}")])


@contextmanager
def _refusals_named() -> Iterator[None]:
    try:
        yield
    except RuleProblems as refused:
        raise invalid([problem.as_dict() for problem in refused.problems]) from None


def _document(raw: object) -> dict[str, Any]:
    return parse_policy(raw).document()


def _default_document(raw: object) -> dict[str, Any]:
    return parse_policy(raw, default=True).document(default=True)


async def _default() -> store.DocumentRecord:
    [found] = await store.list_all(current_deps().gateway, DEFAULT_POLICY)
    return found


@blueprint.get("/notification-policies")
@require_role(Role.READ)
@tag(["notifications"])
@document_response(PolicyList, 200)
async def list_policies() -> Response:
    """Every policy in the order they are tried, and the default policy."""
    found = await store.list_all(current_deps().gateway, POLICIES)
    return json_response(
        {
            "policies": [stored_json(record, "policy") for record in found],
            "default": stored_json(await _default(), "policy"),
        }
    )


@blueprint.post("/notification-policies")
@require_role(Role.ADMIN)
@tag(["notifications"])
@document_request(PolicyDocument)
@document_response(PolicyOut, 201)
async def create_policy() -> Response:
    """A new policy; every bad field is named in one 400."""
    document = await read_document(_document)
    with _refusals_named():
        created = await store.create(
            current_deps().gateway,
            POLICIES,
            document,
            by=request_attribution(),
            check=channels_exist,
        )
    response = stored_response(created, "policy", 201)
    response.headers["Location"] = f"{request.path}/{created.id}"
    return response


@blueprint.get("/notification-policies/default")
@require_role(Role.READ)
@tag(["notifications"])
@document_response(DefaultPolicyOut, 200)
async def get_default_policy() -> Response:
    """The default policy: where instances no other policy takes go."""
    return stored_response(await _default(), "policy")


@blueprint.put("/notification-policies/default")
@require_role(Role.ADMIN)
@tag(["notifications"])
@document_headers(IfMatchHeader)
@document_request(DefaultPolicyDocument)
@document_response(DefaultPolicyOut, 200)
async def replace_default_policy() -> Response:
    """Replace the default policy (If-Match honoured)."""
    condition = if_match() or ANY_VERSION
    document = await read_document(_default_document)
    current = await _default()
    with _refusals_named():
        updated = await store.replace(
            current_deps().gateway,
            DEFAULT_POLICY,
            current.id,
            document,
            condition=condition,
            by=request_attribution(),
            check=channels_exist,
        )
    return stored_response(updated, "policy")


@blueprint.get("/notification-policies/<int:policy_id>")
@require_role(Role.READ)
@tag(["notifications"])
@document_response(PolicyOut, 200)
async def get_policy(policy_id: int) -> Response:
    """A policy; its version is also the `ETag`."""
    found = await store.get(current_deps().gateway, POLICIES, existing_id(WHAT, policy_id))
    if found is None:
        raise not_found(WHAT, policy_id)
    return stored_response(found, "policy")


@blueprint.put("/notification-policies/<int:policy_id>")
@require_role(Role.ADMIN)
@tag(["notifications"])
@document_headers(IfMatchHeader)
@document_request(PolicyDocument)
@document_response(PolicyOut, 200)
async def replace_policy(policy_id: int) -> Response:
    """Replace a policy (If-Match honoured); a body equal to the stored one changes nothing."""
    condition = if_match() or ANY_VERSION
    existing_id(WHAT, policy_id)
    document = await read_document(_document)
    with _refusals_named():
        updated = await store.replace(
            current_deps().gateway,
            POLICIES,
            policy_id,
            document,
            condition=condition,
            by=request_attribution(),
            check=channels_exist,
        )
    return stored_response(updated, "policy")


@blueprint.delete("/notification-policies/<int:policy_id>")
@require_role(Role.ADMIN)
@tag(["notifications"])
@document_headers(IfMatchHeader)
async def delete_policy(policy_id: int) -> Response:
    """Delete a policy (If-Match honoured); its instances go where the others now send them."""
    condition = if_match() or ANY_VERSION
    await store.delete(
        current_deps().gateway,
        POLICIES,
        existing_id(WHAT, policy_id),
        condition=condition,
        by=request_attribution(),
    )
    return Response(b"", status=204)
