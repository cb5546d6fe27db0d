"""The credential watch: ends websockets whose key or session was revoked or has expired.

A websocket is authenticated once and may stay open for hours, while HTTP
requests honour a revoked key for at most the key cache's TTL. This actor
gives websockets the same bound. Every `interval` seconds (the TTL) it reads
the standing of every distinct credential of the open connections, in one
query per credential kind (API keys; dashboard sessions, whose expiry is the
earliest of idle, maximum age and their key's), and closes with 1008 ("key
revoked", "key expired", "session revoked", "session expired") the
connections whose credential was revoked, has expired or no longer exists.
It reads the database, not this instance's cache, so a revocation made
through another instance is noticed as well. An expiry is known in advance,
so between queries the actor compares each connection's `expires_at` with
the clock every `EXPIRY_TICK` seconds and closes expired ones without a query.

Error handling: when the database is unavailable nothing is closed (an outage
says nothing about a credential; expiry, known locally, still applies): each
failed check is logged as a warning and retried at the next tick, and the
recovery is logged as info. Any other error propagates and the
supervisor restarts the actor; the connections are not its own and the next
run checks them all again. It changes a connection only through the
connection's methods: `close`, and `renew` for a moved expiry.

Resource handling: holds nothing between ticks but a failure count; the
connections belong to `LiveConnections`. One query per tick, and none while
no websocket is open; each query is bounded by the gateway's acquire and
statement timeouts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime

import trio

from monitor.domain.credentials import Credential, Standing, ended, expired
from monitor.live_connections import POLICY_VIOLATION, LiveConnections
from monitor.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.5  # seconds; with a key cache TTL of 0 the query still only runs twice a second
# Expiry is checked this often, in memory (a scan of ~1,000 outboxes costs well under a ms).
EXPIRY_TICK = 0.5

# The standing of many credentials of one kind, by id, in one query.
Lookup = Callable[[Collection[int]], Awaitable[Mapping[int, Standing]]]


def close_expired(connections: LiveConnections, now: datetime) -> None:
    """Close the connections whose credential's known expiry has passed."""
    for outbox in connections.outboxes():
        credential = outbox.credential
        reason = expired(credential.kind, credential.expires_at, now)
        if reason is not None and outbox.closing is None:
            _close(outbox.number, credential, reason)
            outbox.close(POLICY_VIOLATION, reason)


async def check(connections: LiveConnections, lookups: Mapping[str, Lookup], now: datetime) -> None:
    """Ask storage about every credential in use; close the connections of those that ended.

    StorageUnavailable propagates, with nothing closed.
    """
    in_use: dict[str, set[int]] = {}
    for outbox in connections.outboxes():
        if outbox.closing is None:
            in_use.setdefault(outbox.credential.kind, set()).add(outbox.credential.id)
    found: dict[tuple[str, int], Standing] = {}
    for kind, ids in in_use.items():
        for credential_id, stored in (await lookups[kind](ids)).items():
            found[kind, credential_id] = stored
    # Connections opened during the query are judged too: they may have been
    # admitted from a cache that had not seen the revocation yet.
    for outbox in connections.outboxes():
        credential = outbox.credential
        if outbox.closing is not None or credential.id not in in_use.get(credential.kind, ()):
            continue
        standing = found.get(credential.identity)
        reason = ended(credential, standing, now)
        if reason is not None:
            _close(outbox.number, credential, reason)
            outbox.close(POLICY_VIOLATION, reason)
        elif standing is not None and standing.expires_at != credential.expires_at:
            # Storage is the truth: an expiry moved (a session extended) moves here too.
            outbox.renew(standing.expires_at)


def _close(connection: int, credential: Credential, reason: str) -> None:
    log.info(
        "closing a websocket: its credential ended",
        extra={
            "connection": connection,
            "credential": f"{credential.kind}:{credential.id}",
            "reason": reason,
        },
    )


async def run(
    connections: LiveConnections,
    lookups: Mapping[str, Lookup],
    *,
    interval: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    interval = max(interval, MIN_INTERVAL)
    next_check = trio.current_time() + interval
    failures = 0
    task_status.started()
    while True:
        await trio.sleep_until(min(next_check, trio.current_time() + EXPIRY_TICK))
        close_expired(connections, datetime.now(UTC))
        if trio.current_time() < next_check:
            continue
        next_check = trio.current_time() + interval
        if not len(connections):
            continue
        try:
            await check(connections, lookups, datetime.now(UTC))
        except StorageUnavailable as failure:
            failures += 1
            log.warning(
                "could not check the credentials of open websockets; none is closed for it",
                extra={"error": str(failure), "failures": failures, "retry_in_s": interval},
            )
            continue
        if failures:
            log.info("credentials of open websockets checked again", extra={"failures": failures})
            failures = 0
