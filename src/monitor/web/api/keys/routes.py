"""API key management (admin only): create, list, show, revoke."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from quart import Blueprint
from quart_schema import document_response, tag, validate_request

from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.auth import require_role
from monitor.web.edge.problems import ProblemError

blueprint = Blueprint("keys", __name__)

MAX_ID = 2**63 - 1
# Printable, and not only spaces.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
PrintableName = Annotated[str, Field(min_length=1, max_length=200, pattern=NAME_PATTERN)]
LATEST_EXPIRY = datetime(9000, 1, 1, tzinfo=UTC)


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PrintableName
    role: Role = Field(description="What the key may do; docs/roles.md has the matrix.")
    rate_limit: int | None = Field(
        default=None, ge=0, le=1_000_000_000, description="Requests per hour; 0 = unlimited."
    )
    expires_at: AwareDatetime | None = Field(default=None, description="RFC 3339, in the future.")

    @field_validator("expires_at")
    @classmethod
    def in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("must be in the future")
        if value is not None and value >= LATEST_EXPIRY:
            raise ValueError("must be before the year 9000")
        return value


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    role: Role
    status: Literal["active", "revoked", "expired"]
    rate_limit: int | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The full key. Shown only in this response; store it now.")


class KeyList(BaseModel):
    keys: list[KeyOut]


def _shown(record: key_store.KeyRecord) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "role": record.role,
        "status": record.status(now),
        "rate_limit": record.rate_limit,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "revoked_at": record.revoked_at,
        "last_used_at": record.last_used_at,
    }


def _not_found(key_id: int) -> ProblemError:
    return ProblemError(404, f"no API key with id {key_id}", kind="not-found")


@blueprint.post("/keys")
@require_role(Role.ADMIN)
@tag(["keys"])
@validate_request(KeyCreate)
@document_response(KeyCreated, 201)
async def create_key(data: KeyCreate) -> tuple[dict[str, Any], int]:
    """Create a key. The response is the only time the full key is shown."""
    record, token = await key_store.create_key(
        current_deps().gateway,
        name=data.name,
        role=data.role,
        rate_limit=data.rate_limit,
        expires_at=data.expires_at,
        by=request_attribution(),
    )
    return KeyCreated(key=token, **_shown(record)).model_dump(mode="json"), 201


@blueprint.get("/keys")
@require_role(Role.ADMIN)
@tag(["keys"])
@document_response(KeyList, 200)
async def list_keys() -> dict[str, Any]:
    """Every key, without secrets (revoked and expired ones included)."""
    records = await key_store.list_keys(current_deps().gateway)
    return KeyList(keys=[KeyOut(**_shown(record)) for record in records]).model_dump(mode="json")


@blueprint.get("/keys/<int:key_id>")
@require_role(Role.ADMIN)
@tag(["keys"])
@document_response(KeyOut, 200)
async def get_key(key_id: int) -> dict[str, Any]:
    record = None if key_id > MAX_ID else await key_store.get_key(current_deps().gateway, key_id)
    if record is None:
        raise _not_found(key_id)
    return KeyOut(**_shown(record)).model_dump(mode="json")


@blueprint.delete("/keys/<int:key_id>")
@require_role(Role.ADMIN)
@tag(["keys"])
@document_response(KeyOut, 200)
async def revoke_key(key_id: int) -> dict[str, Any]:
    """Revoke a key. It stays listed, and requests with it get 401 "revoked"."""
    deps = current_deps()
    record = (
        None
        if key_id > MAX_ID
        else await key_store.revoke_key(deps.gateway, key_id, by=request_attribution())
    )
    if record is None:
        raise _not_found(key_id)
    deps.authenticator.forget(record.prefix)
    deps.sessions.forget_key(record.id)  # its sessions' rows went with the revocation
    return KeyOut(**_shown(record)).model_dump(mode="json")
