"""The websocket watchdog: heartbeats, and the end of clients that stop reading.

One task for every open connection, not one per connection: with a thousand
connections, a thousand timers expiring several times a second cost more of
the event loop than the frames did. Each tick it pushes a heartbeat to every
connection when one is due, closes (1013) a connection whose outbox has been
overflowing for `stall_timeout` seconds, and aborts the TCP connection of one
whose close has waited `close_grace` seconds on a write that does not return
(a client that stopped reading with full kernel buffers: nothing else frees it).
It also ends the handler of a websocket that the server's websocket layer has
been closing on its own for `close_grace` seconds (Hypercorn's 1009 for a
message too big, which the application is never told of, waits forever for
a close from the client): the socket is closed once the handler returns, so
after any close frame the TCP connection ends within a bound.

Error handling: nothing here waits on the network; an error propagates and
the supervisor restarts the actor. Resource handling: holds nothing between
ticks; connections are owned by `LiveConnections`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import trio

from monitor.live_connections import LiveConnections, reply

log = logging.getLogger(__name__)


def patrol(
    connections: LiveConnections, now: float, *, stall_timeout: float, close_grace: float
) -> None:
    """Close the connections that stay behind; abort those stuck closing."""
    for outbox in connections.outboxes():
        beneath = outbox.closing_beneath(now)
        if outbox.closing is None and outbox.behind_for(now) >= stall_timeout:
            connections.close_slow(outbox)
        elif beneath is not None and beneath[1] >= close_grace:
            # The websocket layer has already sent a close (or is answering
            # the client's), so this sends nothing more: it records the close
            # for the connection's log line and lets the handler return.
            outbox.close(*beneath[0])
        elif outbox.stuck_closing(close_grace) and not outbox.aborted:
            found = outbox.abort()
            log.warning(
                "aborted a websocket whose client stopped reading",
                extra={"connection": outbox.number, "found": found},
            )


async def run(
    connections: LiveConnections,
    *,
    heartbeat_interval: float,
    stall_timeout: float,
    close_grace: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    tick = min(heartbeat_interval, stall_timeout / 4, close_grace / 4)
    next_heartbeat = trio.current_time() + heartbeat_interval
    task_status.started()
    while True:
        await trio.sleep(tick)
        now = trio.current_time()
        patrol(connections, now, stall_timeout=stall_timeout, close_grace=close_grace)
        if now >= next_heartbeat:
            next_heartbeat = now + heartbeat_interval
            beat = reply("heartbeat", time=datetime.now(UTC).isoformat())
            for outbox in connections.outboxes():
                if outbox.closing is None:
                    outbox.push(beat)
