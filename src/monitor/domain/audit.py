"""What the audit log records of a change: who made it, from where, and to what.

Every change to the service's configuration or data (not ingest) is stored
with one `AuditEntry`, written in the same transaction as the change itself
(storage/audit.py `record_change`), so a change without its row, or a row
without its change, cannot be committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ActorKind = Literal["key", "cli", "system", "session"]
ACTOR_KINDS: tuple[ActorKind, ...] = ("key", "cli", "system", "session")


@dataclass(frozen=True)
class Actor:
    """Who made a change: an API key (its name and public prefix), the CLI, or the service."""

    kind: ActorKind
    name: str | None = None
    prefix: str | None = None

    @classmethod
    def key(cls, name: str, prefix: str) -> Actor:
        return cls("key", name, prefix)

    @classmethod
    def cli(cls, user: str | None) -> Actor:
        """The `monitor` command, run by the operating-system user `user` when known."""
        return cls("cli", user)

    @classmethod
    def system(cls, name: str | None = None) -> Actor:
        """The service itself (the first admin key), or a named tool (tests, benchmarks)."""
        return cls("system", name)


@dataclass(frozen=True)
class Origin:
    """Where a change came from: the client's address and the request's id (HTTP only)."""

    client_address: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class Attribution:
    """Who made a change and from where: what a route or the CLI hands to storage."""

    actor: Actor
    origin: Origin = field(default_factory=Origin)


@dataclass(frozen=True)
class AuditEntry:
    """One change: `before` is None for a creation, `after` None for a deletion.

    `before` and `after` are plain JSON-like values (dicts, lists, text, numbers,
    times); secrets in them are redacted when the entry is stored.
    """

    by: Attribution
    resource: str  # what kind of thing changed: "api_key", "event", "series", ...
    resource_id: str
    action: str  # "create", "update", "delete", "revoke", ...
    before: Mapping[str, object] | None = None
    after: Mapping[str, object] | None = None


@dataclass(frozen=True)
class AuditFilter:
    """What `GET /api/v1/audit` narrows the log to. Times: [time_from, time_to).

    `actors` match an actor's key name, key prefix or kind (`cli`, `system`).
    """

    resources: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    time_from: datetime | None = None
    time_to: datetime | None = None
