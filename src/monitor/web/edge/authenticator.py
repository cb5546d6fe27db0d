"""Who is making a request: API keys checked against storage, through a short cache.

The cache (MONITOR_KEY_CACHE_TTL) spares a database lookup per request; a
revocation made on another instance takes effect within its TTL, and open
websockets are checked again by the credential watch.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

import trio

from monitor.domain.credentials import KEY, Credential
from monitor.domain.keys import PresentedKey, Refusal, Role, parse_key, refusal_for
from monitor.messages import KeyUsed
from monitor.storage import keys as key_store
from monitor.storage.gateway import Gateway
from monitor.web.edge.problems import ProblemError

CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Principal:
    """Who is making the request."""

    key_id: int
    name: str
    prefix: str
    role: Role
    rate_limit: int | None
    expires_at: datetime | None = None

    @property
    def audit_name(self) -> str:
        return f"key:{self.key_id}:{self.prefix}"

    @property
    def credential(self) -> Credential:
        """What a long-lived connection was admitted with, to be checked again while it lives."""
        return Credential(KEY, self.key_id, self.expires_at)


def _principal_of(stored: key_store.StoredKey) -> Principal:
    return Principal(
        key_id=stored.id,
        name=stored.name,
        prefix=stored.prefix,
        role=Role.parse(stored.role),
        rate_limit=stored.rate_limit,
        expires_at=stored.expires_at,
    )


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401,
        detail,
        kind="unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="monitor"'},
    )


class Authenticator:
    def __init__(
        self,
        gateway: Gateway,
        usage: trio.MemorySendChannel[KeyUsed],
        *,
        cache_ttl: float,
    ) -> None:
        self._gateway = gateway
        self._usage = usage
        self._cache_ttl = cache_ttl
        self._cache: OrderedDict[str, tuple[float, key_store.StoredKey]] = OrderedDict()
        self.usage_dropped = 0

    async def authenticate(self, token: str | None) -> Principal:
        """The principal behind `token`, or ProblemError 401 saying why not."""
        if not token:
            raise _unauthorized("an API key is required (X-API-Key or Authorization: Bearer)")
        presented = parse_key(token)
        if presented is None:
            raise _unauthorized("invalid API key")
        stored = await self._lookup(presented)
        if stored is None:
            raise _unauthorized("invalid API key")
        now = datetime.now(UTC)
        refusal = refusal_for(
            presented=presented,
            stored_sha256=stored.secret_sha256,
            revoked_at=stored.revoked_at,
            expires_at=stored.expires_at,
            now=now,
        )
        if refusal is not None:
            if refusal is Refusal.WRONG_SECRET:
                self.forget(presented.prefix)
            raise _unauthorized(refusal.value)
        self._note_usage(stored.id, now)
        return _principal_of(stored)

    def cached_principal(self, token: str | None) -> Principal | None:
        """The principal behind `token` if the cache alone proves it, else None.

        No database access and no usage stamp: it lets the rate limiter count
        a request against its key together with its address, in one round
        trip, before `authenticate` runs.
        """
        presented = parse_key(token) if token else None
        if presented is None:
            return None
        cached = self._cache.get(presented.prefix)
        if cached is None or trio.current_time() - cached[0] >= self._cache_ttl:
            return None
        stored = cached[1]
        refusal = refusal_for(
            presented=presented,
            stored_sha256=stored.secret_sha256,
            revoked_at=stored.revoked_at,
            expires_at=stored.expires_at,
            now=datetime.now(UTC),
        )
        return None if refusal is not None else _principal_of(stored)

    def forget(self, prefix: str) -> None:
        self._cache.pop(prefix, None)

    async def _lookup(self, presented: PresentedKey) -> key_store.StoredKey | None:
        now = trio.current_time()
        cached = self._cache.get(presented.prefix)
        if cached is not None and now - cached[0] < self._cache_ttl:
            return cached[1]
        stored = await key_store.find_by_prefix(self._gateway, presented.prefix)
        if stored is None:
            self._cache.pop(presented.prefix, None)
            return None
        if self._cache_ttl > 0:
            self._cache[presented.prefix] = (now, stored)
            self._cache.move_to_end(presented.prefix)
            while len(self._cache) > CACHE_MAX_ENTRIES:
                self._cache.popitem(last=False)
        return stored

    def _note_usage(self, key_id: int, at: datetime) -> None:
        try:
            self._usage.send_nowait(KeyUsed(key_id=key_id, at=at))
        except trio.WouldBlock:
            self.usage_dropped += 1
