"""Dashboard sessions as requests see them: started, found (through a short cache), ended.

A lookup is cached for `cache_ttl` (MONITOR_KEY_CACHE_TTL, like API keys),
keyed by the token's hash, so pages cost no database round trip each; the
cached row still holds its times, so an idle timeout, maximum age or key
expiry takes effect at once everywhere. A sign-out or key revocation made
through this instance drops the entries at once; one made elsewhere deletes
the rows, which this instance notices within the TTL.

`last_seen_at` is written at most once a minute per session (and instance),
not once per request.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import trio

from monitor.domain.credentials import SESSION, Credential
from monitor.domain.keys import Role
from monitor.domain.sessions import (
    TOKEN_BYTES,
    SessionTimes,
    due_for_touch,
    ended,
    ends_at,
    token_hash,
)
from monitor.storage import sessions as session_store
from monitor.storage.gateway import Gateway
from monitor.web.edge.authenticator import Principal

CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True, repr=False)
class Session:
    """A signed-in browser: its key, and when it ends."""

    id: int
    token: str  # the secret the cookie carries; the CSRF token derives from it
    principal: Principal
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # the absolute end
    ends_at: datetime  # the earliest end if nothing else happens: idle, absolute, key

    @property
    def credential(self) -> Credential:
        """What a websocket admitted with this session is checked against while it lives."""
        return Credential(SESSION, self.id, self.ends_at)

    def __repr__(self) -> str:  # never the token
        return f"Session(id={self.id}, key={self.principal.audit_name})"


def _principal_of(stored: session_store.StoredSession) -> Principal:
    return Principal(
        key_id=stored.key_id,
        name=stored.key_name,
        prefix=stored.key_prefix,
        role=Role.parse(stored.key_role),
        rate_limit=stored.key_rate_limit,
        expires_at=stored.key_expires_at,
    )


def _times(stored: session_store.StoredSession) -> SessionTimes:
    return SessionTimes(
        last_seen_at=stored.last_seen_at,
        expires_at=stored.expires_at,
        key_revoked_at=stored.key_revoked_at,
        key_expires_at=stored.key_expires_at,
    )


class SessionKeeper:
    def __init__(
        self,
        gateway: Gateway,
        *,
        cache_ttl: float,
        idle_timeout: timedelta,
        max_age: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._gateway = gateway
        self._cache_ttl = cache_ttl
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self._clock = clock
        self._cache: OrderedDict[bytes, tuple[float, session_store.StoredSession]] = OrderedDict()

    async def start(
        self, principal: Principal, *, user_agent: str | None, client_address: str | None
    ) -> Session:
        """A new session for a key that has just authenticated."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        stored = await session_store.create(
            self._gateway,
            token_sha256=token_hash(token),
            key_id=principal.key_id,
            max_age=self.max_age,
            user_agent=user_agent,
            client_address=client_address,
        )
        return self._session(token, stored)

    async def find(self, token: str) -> Session | None:
        """The live session behind `token`, or None (unknown, ended, or its key ended)."""
        digest = token_hash(token)
        stored = await self._lookup(digest)
        if stored is None:
            return None
        now = self._clock()
        if ended(_times(stored), self.idle_timeout, now) is not None:
            self._cache.pop(digest, None)
            return None
        if due_for_touch(stored.last_seen_at, now):
            await session_store.touch(self._gateway, stored.id, now)
            stored = replace(stored, last_seen_at=now)
            if digest in self._cache:
                self._cache[digest] = (self._cache[digest][0], stored)
        return self._session(token, stored)

    async def end(self, session: Session) -> None:
        """Sign out: the row goes, and this instance forgets it at once."""
        await session_store.delete(self._gateway, session.id)
        self._cache.pop(token_hash(session.token), None)

    def forget_key(self, key_id: int) -> None:
        """Drop every cached session of a key (just revoked through this instance)."""
        for digest in [d for d, (_, s) in self._cache.items() if s.key_id == key_id]:
            del self._cache[digest]

    def _session(self, token: str, stored: session_store.StoredSession) -> Session:
        return Session(
            id=stored.id,
            token=token,
            principal=_principal_of(stored),
            created_at=stored.created_at,
            last_seen_at=stored.last_seen_at,
            expires_at=stored.expires_at,
            ends_at=ends_at(_times(stored), self.idle_timeout),
        )

    async def _lookup(self, digest: bytes) -> session_store.StoredSession | None:
        now = trio.current_time()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self._cache_ttl:
            return cached[1]
        stored = await session_store.find(self._gateway, digest)
        if stored is None:
            self._cache.pop(digest, None)
            return None
        if self._cache_ttl > 0:
            self._cache[digest] = (now, stored)
            self._cache.move_to_end(digest)
            while len(self._cache) > CACHE_MAX_ENTRIES:
                self._cache.popitem(last=False)
        return stored
