"""An exception Quart has turned into a response lets go of its traceback.

A traceback keeps every frame it passed through alive, with all their local
variables (a request body, a decompression buffer), and each of those frames
its callers. When the exception is itself reachable from one of them, the
whole reference cycle waits for the garbage collector, which under the
serve-time GC settings (process_settings.py) runs seldom. Seen in practice:

- Quart keeps a routing failure (404, 405) on the request; its traceback
  reaches `RequestContext.match_request`'s caller, which holds the context,
  which holds the request.
- Quart's `Body` keeps the 413 it raises; the frame that caught it holds
  the request context too.
- An exception raised in `trio.to_thread.run_sync` is held by the outcome
  that the finished `to_thread_run_sync` frame still refers to.

Once a handler has made the response, nothing needs the traceback: dropping
it (and those of the exceptions it was raised from) breaks every such cycle,
and reference counting frees the frames at once. An exception no handler
took keeps its traceback until `handle_exception` has logged it.
"""

from __future__ import annotations

from typing import Any

from quart import Quart


def forget_tracebacks(error: BaseException) -> None:
    """Drop the traceback of `error`, of its causes and contexts, and of group members."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        failure = pending.pop()
        if id(failure) in seen:
            continue
        seen.add(id(failure))
        failure.__traceback__ = None
        pending.extend(e for e in (failure.__cause__, failure.__context__) if e is not None)
        if isinstance(failure, BaseExceptionGroup):
            pending.extend(failure.exceptions)


def forget_handled_tracebacks(app: Quart) -> None:
    """Wrap Quart's two exception entry points: what they answered forgets its traceback."""
    handle_user_exception = app.handle_user_exception
    handle_exception = app.handle_exception

    async def user_exception(error: Any) -> Any:
        answer = await handle_user_exception(error)  # raises if no handler takes it
        forget_tracebacks(error)
        return answer

    async def unhandled_exception(error: Exception) -> Any:
        answer = await handle_exception(error)  # logs the traceback first
        forget_tracebacks(error)
        return answer

    app.handle_user_exception = user_exception  # type: ignore[method-assign]
    app.handle_exception = unhandled_exception  # type: ignore[method-assign]
