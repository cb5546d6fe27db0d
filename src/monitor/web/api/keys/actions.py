"""Creating and revoking a key, as the API and the web UI both do it.

Both callers are behind a role guard that leaves the principal in `g`, so
`request_attribution()` names the same key, address and request id in the
audit row whichever way the change came in.
"""

from __future__ import annotations

from monitor.storage import keys as key_store
from monitor.web.api.keys.schemas import MAX_ID, KeyCreate
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution


async def create_key(data: KeyCreate) -> tuple[key_store.KeyRecord, str]:
    """Store the key `data` describes; its record and the full token (shown once)."""
    return await key_store.create_key(
        current_deps().gateway,
        name=data.name,
        role=data.role,
        rate_limit=data.rate_limit,
        expires_at=data.expires_at,
        by=request_attribution(),
    )


async def revoke_key(key_id: int) -> key_store.KeyRecord | None:
    """Revoke the key (idempotent) and forget what this instance cached of it and of its
    sessions; None when there is no such key."""
    if key_id > MAX_ID:
        return None
    deps = current_deps()
    record = await key_store.revoke_key(deps.gateway, key_id, by=request_attribution())
    if record is None:
        return None
    deps.authenticator.forget(record.prefix)
    deps.sessions.forget_key(record.id)  # its sessions' rows went with the revocation
    return record
