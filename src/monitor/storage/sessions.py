"""SQL for dashboard sessions. Tokens never reach this module: only their SHA-256."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg.rows import class_row

from monitor.domain.credentials import Standing
from monitor.storage.gateway import Connection, Gateway

PRUNE_BATCH_ROWS = 10_000


@dataclass(frozen=True)
class StoredSession:
    """A session with what authentication needs of its key."""

    id: int
    key_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    key_name: str
    key_prefix: str
    key_role: str
    key_rate_limit: int | None
    key_expires_at: datetime | None
    key_revoked_at: datetime | None


_SELECT = """
select s.id, s.key_id, s.created_at, s.last_seen_at, s.expires_at,
       k.name as key_name, k.prefix as key_prefix, k.role as key_role,
       k.rate_limit as key_rate_limit, k.expires_at as key_expires_at,
       k.revoked_at as key_revoked_at
from ui_sessions s join api_keys k on k.id = s.key_id
"""


async def create(
    gateway: Gateway,
    *,
    token_sha256: bytes,
    key_id: int,
    max_age: timedelta,
    user_agent: str | None,
    client_address: str | None,
) -> StoredSession:
    """Store a session of key `key_id` (already authenticated); it ends `max_age` from now."""

    def work(connection: Connection) -> StoredSession:
        row = connection.execute(
            """
            insert into ui_sessions (token_sha256, key_id, expires_at, user_agent, client_address)
            values (%s, %s, now() + %s, %s, %s)
            returning id
            """,
            (token_sha256, key_id, max_age, user_agent, client_address),
        ).fetchone()
        assert row is not None
        with connection.cursor(row_factory=class_row(StoredSession)) as cursor:
            stored = cursor.execute(_SELECT + " where s.id = %s", (row[0],)).fetchone()
        assert stored is not None
        return stored

    return await gateway.run(work)


async def find(gateway: Gateway, token_sha256: bytes) -> StoredSession | None:
    """The session whose token hashes to `token_sha256`, with its key; None when unknown."""

    def work(connection: Connection) -> StoredSession | None:
        with connection.cursor(row_factory=class_row(StoredSession)) as cursor:
            return cursor.execute(
                _SELECT + " where s.token_sha256 = %s", (token_sha256,)
            ).fetchone()

    return await gateway.run(work)


async def touch(gateway: Gateway, session_id: int, at: datetime) -> None:
    """Record use of the session at `at` (never moving the time backwards)."""

    def work(connection: Connection) -> None:
        connection.execute(
            "update ui_sessions set last_seen_at = %s where id = %s and last_seen_at < %s",
            (at, session_id, at),
        )

    await gateway.run(work)


async def delete(gateway: Gateway, session_id: int) -> bool:
    """End one session (sign-out); whether it existed."""

    def work(connection: Connection) -> bool:
        return (
            connection.execute("delete from ui_sessions where id = %s", (session_id,)).rowcount > 0
        )

    return await gateway.run(work)


def delete_for_key(connection: Connection, key_id: int) -> int:
    """End every session of a key, in the caller's transaction (its revocation's)."""
    return connection.execute("delete from ui_sessions where key_id = %s", (key_id,)).rowcount


async def standings(
    gateway: Gateway, session_ids: Collection[int], *, idle_timeout: timedelta
) -> dict[int, Standing]:
    """For open websockets: each session's key revocation and when the session ends
    (idle, absolute or key expiry, the earliest); a session that is gone is absent."""
    if not session_ids:
        return {}

    def work(connection: Connection) -> dict[int, Standing]:
        rows = connection.execute(
            """
            select s.id, k.revoked_at, least(s.last_seen_at + %s, s.expires_at, k.expires_at)
            from ui_sessions s join api_keys k on k.id = s.key_id
            where s.id = any(%s)
            """,
            (idle_timeout, list(session_ids)),
        ).fetchall()
        return {sid: Standing(revoked_at, ends) for sid, revoked_at, ends in rows}

    return await gateway.run(work)


async def prune(
    gateway: Gateway,
    now: datetime,
    *,
    idle_timeout: timedelta,
    batch_rows: int = PRUNE_BATCH_ROWS,
) -> int:
    """Delete the sessions that ended by `now` (idle or past their absolute end), a batch
    per transaction; return how many. Sessions of revoked keys went with the revocation."""

    def work(connection: Connection) -> int:
        return connection.execute(
            """
            delete from ui_sessions where id = any(array(
                select id from ui_sessions
                where expires_at <= %s or last_seen_at <= %s
                limit %s
            ))
            """,
            (now, now - idle_timeout, batch_rows),
        ).rowcount

    deleted = 0
    while True:
        batch = await gateway.run(work)
        deleted += batch
        if batch < batch_rows:
            return deleted
