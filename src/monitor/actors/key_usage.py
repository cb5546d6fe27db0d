"""The key-usage actor: batches API keys' `last_used_at` writes.

Authentication sends a KeyUsed per request (without waiting); this actor keeps
only the latest time per key and writes them all in one statement every
`flush_interval` seconds, so a busy key costs one UPDATE per interval, not one
per request.

Error handling: when the write fails because the database is unavailable, the
times are kept and retried at the next interval (merged with newer ones).
Any other error propagates and the supervisor restarts the actor; the times
it held are lost, which only makes last_used_at lag.

Resource handling: holds one entry per distinct key seen since the last
successful write. The inbox is bounded; senders drop on a full inbox.
On shutdown (inbox closed) it writes what it holds, then returns.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

import trio

from monitor.messages import KeyUsed
from monitor.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)

StoreLastUsed = Callable[[Mapping[int, datetime]], Awaitable[object]]


def merge_latest(pending: dict[int, datetime], key_id: int, at: datetime) -> None:
    current = pending.get(key_id)
    if current is None or at > current:
        pending[key_id] = at


async def run(
    inbox: trio.MemoryReceiveChannel[KeyUsed],
    store: StoreLastUsed,
    *,
    flush_interval: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    pending: dict[int, datetime] = {}
    task_status.started()
    inbox_open = True
    while inbox_open:
        with trio.move_on_after(flush_interval):
            try:
                while True:
                    used = await inbox.receive()
                    merge_latest(pending, used.key_id, used.at)
            except trio.EndOfChannel:
                inbox_open = False
        if not pending:
            continue
        batch, pending = pending, {}
        try:
            await store(batch)
        except StorageUnavailable as failure:
            log.warning(
                "could not record API key usage; will retry",
                extra={"keys": len(batch), "error": str(failure)},
            )
            for key_id, at in batch.items():
                merge_latest(pending, key_id, at)
    if pending:
        log.warning("API key usage not recorded at shutdown", extra={"keys": len(pending)})
