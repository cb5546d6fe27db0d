"""The shapes of API keys as the API takes and shows them (also the web UI's form rules)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from monitor.domain.keys import Role
from monitor.storage.keys import KeyRecord

MAX_ID = 2**63 - 1
# Printable, and not only spaces.
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$"
MAX_NAME_LENGTH = 200
PrintableName = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)
]
LATEST_EXPIRY = datetime(9000, 1, 1, tzinfo=UTC)
MAX_RATE_LIMIT = 1_000_000_000


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PrintableName
    role: Role = Field(description="What the key may do; docs/roles.md has the matrix.")
    rate_limit: int | None = Field(
        default=None, ge=0, le=MAX_RATE_LIMIT, description="Requests per hour; 0 = unlimited."
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


def shown(record: KeyRecord) -> dict[str, Any]:
    """A key's fields as KeyOut takes them, its status judged now."""
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
