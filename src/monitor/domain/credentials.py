"""The credential a long-lived connection was admitted with, and when it stops being valid.

A websocket is authenticated once and may then stay open for hours, so what
admitted it must be checked again while it lives: an API key, or a dashboard
session (a signed cookie whose row can be deleted, and which ends when idle,
at its maximum age or with its key), checked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

KEY = "key"  # an API key: `id` is api_keys.id
SESSION = "session"  # a dashboard session: `id` is ui_sessions.id


@dataclass(frozen=True)
class Credential:
    kind: str  # names it in close reasons: "key revoked"
    id: int  # unique within its kind
    expires_at: datetime | None = None

    @property
    def identity(self) -> tuple[str, int]:
        return self.kind, self.id


class Standing(NamedTuple):
    """What storage says about a credential now."""

    revoked_at: datetime | None
    expires_at: datetime | None


def ended(credential: Credential, standing: Standing | None, now: datetime) -> str | None:
    """Why a connection admitted with `credential` must end ("key revoked"), or None.

    `standing` None means storage no longer holds the credential at all,
    which is treated as a revocation.
    """
    if standing is None or standing.revoked_at is not None:
        return f"{credential.kind} revoked"
    return expired(credential.kind, standing.expires_at, now)


def expired(kind: str, expires_at: datetime | None, now: datetime) -> str | None:
    if expires_at is not None and expires_at <= now:
        return f"{kind} expired"
    return None
