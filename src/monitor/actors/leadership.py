"""The leadership actor: campaigns to lead alert evaluation, and keeps or loses it.

Every instance runs one. On a connection of its own it asks for the leader's
lock every `poll` seconds; once it holds it, it refreshes the heartbeat every
`poll` seconds for as long as the epoch it took stays the leader's
(storage/leadership.py). So a dead leader is replaced within about one
`poll` after PostgreSQL ends its session, which happens at once when the
process dies (`kill -9` closes its socket) and after the TCP keepalive and
user timeouts when its host vanishes.

`Leadership` (monitor/leadership.py) is this instance's view, read by the
evaluator before each cycle (it writes under the epoch, fenced by
`check_epoch`) and by `/stats`.

Error handling: a failure of the leader connection (the database is down,
a statement timed out, the session was terminated) is logged, leadership is
given up at once, and after `poll` seconds a new connection campaigns again.
Anything else crashes the actor; the supervisor restarts it (leadership was
given up in the `finally`). Resource handling: one connection, closed on
every exit path, which also releases the lock; no inbox; cancelled at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from monitor.leadership import Leadership
from monitor.storage.errors import StorageUnavailable
from monitor.storage.leadership import LeaderConnection

log = logging.getLogger(__name__)

OpenLeaderConnection = Callable[[], LeaderConnection]


async def run(
    open_connection: OpenLeaderConnection,
    leadership: Leadership,
    *,
    holder: str,
    poll: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    while True:
        try:
            connection = await trio.to_thread.run_sync(open_connection)
        except StorageUnavailable as failure:
            log.warning(
                "cannot campaign to lead alerts: database unavailable",
                extra={"error": str(failure)},
            )
        else:
            try:
                await _campaign(connection, leadership, holder, poll)
            except StorageUnavailable as failure:
                log.warning("leader connection failed", extra={"error": str(failure)})
            finally:
                _step_down(leadership)
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(connection.close)
        await trio.sleep(poll)


async def _campaign(
    connection: LeaderConnection, leadership: Leadership, holder: str, poll: float
) -> None:
    """Ask for the lock every `poll` seconds; hold it while the epoch stays ours."""
    while True:
        epoch = await trio.to_thread.run_sync(connection.try_lead, holder)
        if epoch is not None:
            leadership.take(epoch)
            log.info("leading alert evaluation", extra={"epoch": epoch})
            try:
                await _hold(connection, epoch, poll)
                # Only an operator can bump the epoch under our lock; yield to it.
                log.warning("alert leadership taken over", extra={"epoch": epoch})
                await trio.to_thread.run_sync(connection.resign)
            finally:
                _step_down(leadership)
        await trio.sleep(poll)


async def _hold(connection: LeaderConnection, epoch: int, poll: float) -> None:
    """Refresh the heartbeat every `poll` seconds until the epoch is no longer ours."""
    while True:
        if not await trio.to_thread.run_sync(connection.heartbeat, epoch):
            return
        await trio.sleep(poll)


def _step_down(leadership: Leadership) -> None:
    if leadership.leading:
        log.info("no longer leading alert evaluation", extra={"epoch": leadership.epoch})
    leadership.give_up()
