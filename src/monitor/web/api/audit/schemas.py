"""The shapes of the audit log's query string and answer (for OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class AuditQuery(BaseModel):
    resource: str | None = Field(
        None, description="e.g. `api_key`, `event`, `series`; repeat or comma-separate."
    )
    action: str | None = Field(
        None, description="e.g. `create`, `revoke`, `delete`; repeat or comma-separate."
    )
    actor: str | None = Field(
        None,
        description="A key's name or prefix, or `cli` / `system`; repeat for several "
        "(a value is taken whole: names may contain commas).",
    )
    from_: datetime | None = Field(None, alias="from", description="RFC 3339, inclusive.")
    to: datetime | None = Field(None, description="RFC 3339, exclusive.")
    limit: int | None = Field(None, ge=1, le=1000, description="Page size (default 100).")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")


class AuditActor(BaseModel):
    kind: Literal["key", "cli", "system", "session"]
    name: str | None = Field(description="The key's name, or the OS user of the CLI.")
    prefix: str | None = Field(description="The key's public prefix.")


class AuditItem(BaseModel):
    id: int
    time: datetime
    actor: AuditActor
    resource: str
    resource_id: str
    action: str
    before: dict[str, Any] | None = Field(description="The thing before; null when created.")
    after: dict[str, Any] | None = Field(description="The thing after; null when deleted.")
    client_address: str | None
    request_id: str | None


class AuditPage(BaseModel):
    items: list[AuditItem] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )
