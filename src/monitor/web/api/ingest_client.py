"""Hand a write to an ingest actor and wait for its commit, or answer 503 quickly."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio

from monitor.messages import IngestOutcome
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.request_log import seconds_since_start

Message = TypeVar("Message")


async def submit(
    inbox: trio.MemorySendChannel[Message],
    message_for: Callable[[trio.MemorySendChannel[IngestOutcome]], Message],
    commit_within: float,
) -> IngestOutcome:
    """The committed outcome, or ProblemError (503 when full, down or slow; 4xx if refused).

    An acknowledged commit is timed from the request's start into the
    realtime figures' ingest latency.
    """
    send_reply, receive_reply = trio.open_memory_channel[IngestOutcome](1)
    try:
        inbox.send_nowait(message_for(send_reply))
    except trio.WouldBlock:
        raise ProblemError(
            503,
            "the ingest queue is full; retry shortly",
            kind="ingest-overloaded",
            headers={"Retry-After": "1"},
        ) from None
    except (trio.ClosedResourceError, trio.BrokenResourceError):
        raise ProblemError(
            503, "the service is shutting down", kind="unavailable", headers={"Retry-After": "5"}
        ) from None
    # Leaving this block (also when the client disconnects and we are
    # cancelled) closes our end: the actor still commits, its reply is dropped.
    with receive_reply:
        with trio.move_on_after(commit_within):
            outcome = await receive_reply.receive()
            if outcome.committed:
                current_deps().realtime.ingest_acknowledged(seconds_since_start())
                return outcome
            raise ProblemError(
                outcome.status,
                outcome.detail,
                kind="ingest-failed" if outcome.status >= 500 else "ingest-refused",
                headers={"Retry-After": "5"} if outcome.status == 503 else None,
            )
    raise ProblemError(
        503,
        f"the commit did not finish within {commit_within:g} s; the data may still be stored, "
        "so a retry may store it twice",
        kind="ingest-timeout",
        headers={"Retry-After": "5"},
    )
