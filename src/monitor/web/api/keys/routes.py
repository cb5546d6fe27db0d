"""API key management (admin only): create, list, show, revoke."""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import document_response, tag, validate_request

from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.web.api.keys import actions
from monitor.web.api.keys.schemas import MAX_ID, KeyCreate, KeyCreated, KeyList, KeyOut, shown
from monitor.web.deps import current_deps
from monitor.web.edge.auth import require_role
from monitor.web.edge.problems import ProblemError

blueprint = Blueprint("keys", __name__)


def _not_found(key_id: int) -> ProblemError:
    return ProblemError(404, f"no API key with id {key_id}", kind="not-found")


@blueprint.post("/keys")
@require_role(Role.ADMIN)
@tag(["keys"])
@validate_request(KeyCreate)
@document_response(KeyCreated, 201)
async def create_key(data: KeyCreate) -> tuple[dict[str, Any], int]:
    """Create a key. The response is the only time the full key is shown."""
    record, token = await actions.create_key(data)
    return KeyCreated(key=token, **shown(record)).model_dump(mode="json"), 201


@blueprint.get("/keys")
@require_role(Role.ADMIN)
@tag(["keys"])
@document_response(KeyList, 200)
async def list_keys() -> dict[str, Any]:
    """Every key, without secrets (revoked and expired ones included)."""
    records = await key_store.list_keys(current_deps().gateway)
    return KeyList(keys=[KeyOut(**shown(record)) for record in records]).model_dump(mode="json")


@blueprint.get("/keys/<int:key_id>")
@require_role(Role.ADMIN)
@tag(["keys"])
@document_response(KeyOut, 200)
async def get_key(key_id: int) -> dict[str, Any]:
    record = None if key_id > MAX_ID else await key_store.get_key(current_deps().gateway, key_id)
    if record is None:
        raise _not_found(key_id)
    return KeyOut(**shown(record)).model_dump(mode="json")


@blueprint.delete("/keys/<int:key_id>")
@require_role(Role.ADMIN)
@tag(["keys"])
@document_response(KeyOut, 200)
async def revoke_key(key_id: int) -> dict[str, Any]:
    """Revoke a key. It stays listed, and requests with it get 401 "revoked"."""
    record = await actions.revoke_key(key_id)
    if record is None:
        raise _not_found(key_id)
    return KeyOut(**shown(record)).model_dump(mode="json")
