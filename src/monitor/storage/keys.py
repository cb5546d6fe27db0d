"""SQL for API keys. Secrets never reach this module: only their SHA-256."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime

from psycopg import sql
from psycopg.rows import class_row

from monitor.domain.audit import Actor, Attribution, AuditEntry
from monitor.domain.credentials import Standing
from monitor.domain.keys import NewKey, Role, mint_key
from monitor.storage import sessions as session_store
from monitor.storage.audit import record_change
from monitor.storage.gateway import Connection, Gateway

# Serialises "create the first admin key" between instances starting together.
BOOTSTRAP_LOCK_ID = 7_236_002

_COLUMNS = sql.SQL(
    "id, name, prefix, role, rate_limit, created_at, expires_at, revoked_at, last_used_at"
)


@dataclass(frozen=True)
class KeyRecord:
    """A key as listings show it: everything but the secret."""

    id: int
    name: str
    prefix: str
    role: str
    rate_limit: int | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class StoredKey:
    """What authentication needs to judge a presented key."""

    id: int
    name: str
    prefix: str
    role: str
    rate_limit: int | None
    secret_sha256: bytes
    expires_at: datetime | None
    revoked_at: datetime | None


def _insert(
    connection: Connection,
    minted: NewKey,
    *,
    name: str,
    role: Role,
    rate_limit: int | None,
    expires_at: datetime | None,
    by: Attribution,
) -> KeyRecord:
    with connection.cursor(row_factory=class_row(KeyRecord)) as cursor:
        cursor.execute(
            sql.SQL("""
            insert into api_keys (name, prefix, secret_sha256, role, rate_limit, expires_at)
            values (%s, %s, %s, %s, %s, %s)
            returning {columns}
            """).format(columns=_COLUMNS),
            (name, minted.prefix, minted.secret_sha256, role.label, rate_limit, expires_at),
        )
        record = cursor.fetchone()
    assert record is not None
    record_change(
        connection, AuditEntry(by, "api_key", str(record.id), "create", after=asdict(record))
    )
    return record


async def create_key(
    gateway: Gateway,
    *,
    name: str,
    role: Role,
    rate_limit: int | None,
    expires_at: datetime | None,
    by: Attribution,
) -> tuple[KeyRecord, str]:
    """Store a new key; return its record and the full token (shown once, never stored)."""
    minted = mint_key(secrets.choice)

    def work(connection: Connection) -> KeyRecord:
        return _insert(
            connection,
            minted,
            name=name,
            role=role,
            rate_limit=rate_limit,
            expires_at=expires_at,
            by=by,
        )

    return await gateway.run(work), minted.token


_ACTIVE_ADMIN_EXISTS = """
select exists (
    select 1 from api_keys
    where role = 'admin' and revoked_at is null and (expires_at is null or expires_at > now())
)
"""


def active_admin_exists(connection: Connection) -> bool:
    """Whether some admin key works right now (neither revoked nor expired)."""
    return connection.execute(_ACTIVE_ADMIN_EXISTS).fetchone() == (True,)


async def create_bootstrap_key(gateway: Gateway) -> tuple[KeyRecord, str] | None:
    """Create an admin key if no active one exists; None otherwise.

    Not only on an empty table: after `monitor keys create --role write`, or
    once every admin key is revoked or expired, nobody could manage keys over
    the API any more. The advisory lock makes instances starting together
    create one key between them, not one each.
    """
    minted = mint_key(secrets.choice)

    def work(connection: Connection) -> KeyRecord | None:
        connection.execute("select pg_advisory_xact_lock(%s)", (BOOTSTRAP_LOCK_ID,))
        if active_admin_exists(connection):
            return None
        return _insert(
            connection,
            minted,
            name="bootstrap admin",
            role=Role.ADMIN,
            rate_limit=None,
            expires_at=None,
            by=Attribution(Actor.system()),
        )

    record = await gateway.run(work)
    return None if record is None else (record, minted.token)


async def list_keys(gateway: Gateway) -> list[KeyRecord]:
    def work(connection: Connection) -> list[KeyRecord]:
        with connection.cursor(row_factory=class_row(KeyRecord)) as cursor:
            return cursor.execute(
                sql.SQL("select {columns} from api_keys order by id").format(columns=_COLUMNS)
            ).fetchall()

    return await gateway.run(work)


async def get_key(gateway: Gateway, key_id: int) -> KeyRecord | None:
    def work(connection: Connection) -> KeyRecord | None:
        with connection.cursor(row_factory=class_row(KeyRecord)) as cursor:
            return cursor.execute(
                sql.SQL("select {columns} from api_keys where id = %s").format(columns=_COLUMNS),
                (key_id,),
            ).fetchone()

    return await gateway.run(work)


async def revoke_key(gateway: Gateway, key_id: int, *, by: Attribution) -> KeyRecord | None:
    """Mark a key revoked (idempotent; the row stays) and end its dashboard sessions.
    None when no such key.

    Revoking a key already revoked changes nothing, so it writes no audit row.
    """
    select = sql.SQL("select {columns} from api_keys where id = %s for update").format(
        columns=_COLUMNS
    )
    update = sql.SQL(
        "update api_keys set revoked_at = now() where id = %s returning {columns}"
    ).format(columns=_COLUMNS)

    def work(connection: Connection) -> KeyRecord | None:
        with connection.cursor(row_factory=class_row(KeyRecord)) as cursor:
            before = cursor.execute(select, (key_id,)).fetchone()
            if before is None or before.revoked_at is not None:
                return before
            after = cursor.execute(update, (key_id,)).fetchone()
        assert after is not None
        # Its dashboard sessions end with it, in the same transaction: no instance
        # can find one of them once the revocation is committed.
        session_store.delete_for_key(connection, key_id)
        record_change(
            connection,
            AuditEntry(
                by, "api_key", str(key_id), "revoke", before=asdict(before), after=asdict(after)
            ),
        )
        return after

    return await gateway.run(work)


async def find_by_prefix(gateway: Gateway, prefix: str) -> StoredKey | None:
    def work(connection: Connection) -> StoredKey | None:
        with connection.cursor(row_factory=class_row(StoredKey)) as cursor:
            return cursor.execute(
                """
                select id, name, prefix, role, rate_limit, secret_sha256, expires_at, revoked_at
                from api_keys where prefix = %s
                """,
                (prefix,),
            ).fetchone()

    return await gateway.run(work)


async def standings(gateway: Gateway, key_ids: Collection[int]) -> dict[int, Standing]:
    """Revocation and expiry of many keys in one query; a key that no longer exists is absent."""
    if not key_ids:
        return {}

    def work(connection: Connection) -> dict[int, Standing]:
        rows = connection.execute(
            "select id, revoked_at, expires_at from api_keys where id = any(%s)",
            (list(key_ids),),
        ).fetchall()
        return {key_id: Standing(revoked_at, expires_at) for key_id, revoked_at, expires_at in rows}

    return await gateway.run(work)


async def record_last_used(gateway: Gateway, last_used: Mapping[int, datetime]) -> int:
    """Write many keys' last_used_at in one statement; never moves a time backwards."""
    if not last_used:
        return 0
    ids = list(last_used)
    times = [last_used[key_id] for key_id in ids]

    def work(connection: Connection) -> int:
        cursor = connection.execute(
            """
            update api_keys as k set last_used_at = u.at
            from unnest(%s::bigint[], %s::timestamptz[]) as u(id, at)
            where k.id = u.id and (k.last_used_at is null or k.last_used_at < u.at)
            """,
            (ids, times),
        )
        return cursor.rowcount

    return await gateway.run(work)
