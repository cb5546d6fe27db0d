"""The group-commit loop shared by the ingest actors.

A worker takes one request, then every request already waiting (up to a
size limit), and hands the group to a commit function that answers each
request. Requests arriving while a commit runs wait in the inbox and form
the next group, so a busy service commits many requests per transaction
without ever delaying an idle one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sized
from typing import Protocol, TypeVar

import trio

from monitor.messages import IngestOutcome


class Request(Protocol):
    @property
    def reply(self) -> trio.MemorySendChannel[IngestOutcome]: ...


R = TypeVar("R", bound=Request)


def reply(request: Request, outcome: IngestOutcome) -> bool:
    """Answer a request; False when its requester has gone (its work stands)."""
    try:
        request.reply.send_nowait(outcome)
    except (trio.BrokenResourceError, trio.ClosedResourceError, trio.WouldBlock):
        return False
    return True


async def worker(
    inbox: trio.MemoryReceiveChannel[R],
    size_of: Callable[[R], int],
    commit_group: Callable[[list[R]], Awaitable[None]],
    group_limit: int,
) -> None:
    """Commit groups until the inbox is closed and empty."""
    while True:
        try:
            first = await inbox.receive()
        except trio.EndOfChannel:
            return
        group = [first]
        size = size_of(first)
        while size < group_limit:
            try:
                waiting = inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            group.append(waiting)
            size += size_of(waiting)
        await commit_group(group)


def length(items: Sized) -> int:
    return len(items)
