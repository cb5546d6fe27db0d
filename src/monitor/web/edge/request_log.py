"""Per-request bookkeeping: X-Request-ID, the access log line, request counters."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

import trio
from quart import Quart, Response, g, request
from werkzeug.datastructures import Headers

from monitor.logs import request_id as request_id_var
from monitor.web.deps import RequestCounters, current_deps
from monitor.web.edge.body_limits import UNWANTED_BODY_DRAIN_BYTES, drain

access_log = logging.getLogger("monitor.access")

BODY_DRAIN_TIMEOUT = 2.0
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Query parameters that may carry a credential and are never logged.
_SECRET_PARAMETERS = frozenset({"apikey", "api_key", "key", "token", "access_token"})


def loggable_query(query_string: bytes) -> str:
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    shown = [(k, "[redacted]" if k.lower() in _SECRET_PARAMETERS else v) for k, v in pairs]
    return urlencode(shown)


def _has_body(headers: Headers) -> bool:
    return headers.get("Content-Length", "0") not in ("", "0") or "Transfer-Encoding" in headers


def seconds_since_start() -> float:
    """How long the current request has been handled (0 if its start was not seen)."""
    started = getattr(g, "started", None)
    return 0.0 if started is None else time.perf_counter() - started


def _log_line(status: int) -> None:
    duration_ms = seconds_since_start() * 1000
    query = loggable_query(request.query_string)
    access_log.info(
        "request",
        extra={
            "method": request.method,
            "path": request.path + (f"?{query}" if query else ""),
            "status": status,
            "duration_ms": round(duration_ms, 2),
            "remote": request.remote_addr,
            "request_id": getattr(g, "request_id", None),
        },
    )
    g.logged = True


def count_in_flight(app: Quart, counters: RequestCounters) -> None:
    """Count HTTP requests from arrival until their response is fully sent.

    Counted at the ASGI level: Quart tears the request context down before it
    sends the body, and a graceful stop must wait for the body too.
    """
    inner = app.asgi_app

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        counters.started()
        try:
            await inner(scope, receive, send)
        finally:
            counters.ended()

    app.asgi_app = counted  # type: ignore[method-assign]


def register_request_log(app: Quart) -> None:
    @app.before_request
    async def start() -> None:
        offered = request.headers.get("X-Request-ID", "")
        g.request_id = offered if _SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        g.started = time.perf_counter()
        request_id_var.set(g.request_id)

    @app.after_request
    async def finish(response: Response) -> Response:
        if getattr(g, "request_id", None) is None:
            g.request_id = uuid.uuid4().hex
        response.headers["X-Request-ID"] = g.request_id
        if _has_body(request.headers):
            drained = False
            # A client told 413 should still read it, so the rest of a body
            # over the limit is drained (up to the gate's bound); any other
            # answer given before the body was read needs none of it.
            limit = None if response.status_code == 413 else UNWANTED_BODY_DRAIN_BYTES
            with trio.move_on_after(BODY_DRAIN_TIMEOUT):
                drained = await drain(request, limit=limit)
            if not drained:
                # A body not read to its end (answered before it came, too
                # large, or too slow) leaves the connection unusable.
                response.headers["Connection"] = "close"
        deps = current_deps()
        deps.counters.finished(response.status_code)
        deps.realtime.request_answered(response.status_code)
        _log_line(response.status_code)
        return response

    @app.teardown_request
    async def end(error: BaseException | None) -> None:
        # Runs for every request, also one cancelled because its client left.
        if not getattr(g, "logged", False):
            _log_line(499)  # the client closed the connection before an answer
