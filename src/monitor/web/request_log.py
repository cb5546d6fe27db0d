"""Per-request bookkeeping: X-Request-ID, the access log line, request counters."""

from __future__ import annotations

import logging
import re
import time
import uuid
from urllib.parse import parse_qsl, urlencode

from quart import Quart, Response, g, request
from werkzeug.datastructures import Headers

from monitor.logs import request_id as request_id_var
from monitor.web.deps import current_deps

access_log = logging.getLogger("monitor.access")

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# Query parameters that may carry a credential and are never logged.
_SECRET_PARAMETERS = frozenset({"apikey", "api_key", "key", "token", "access_token"})


def loggable_query(query_string: bytes) -> str:
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    shown = [(k, "[redacted]" if k.lower() in _SECRET_PARAMETERS else v) for k, v in pairs]
    return urlencode(shown)


def _has_body(headers: Headers) -> bool:
    return headers.get("Content-Length", "0") not in ("", "0") or "Transfer-Encoding" in headers


def register_request_log(app: Quart) -> None:
    @app.before_request
    async def start() -> None:
        offered = request.headers.get("X-Request-ID", "")
        g.request_id = offered if _SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        g.started = time.perf_counter()
        request_id_var.set(g.request_id)
        current_deps().counters.in_flight += 1

    @app.after_request
    async def finish(response: Response) -> Response:
        request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        if response.status_code >= 400 and _has_body(request.headers):
            # An error answered before the body was read leaves it unread on
            # the connection, and Hypercorn's keep-alive can then stall the
            # next request; closing the connection keeps clients safe.
            response.headers["Connection"] = "close"
        started = getattr(g, "started", None)
        duration_ms = 0.0 if started is None else (time.perf_counter() - started) * 1000
        counters = current_deps().counters
        if started is not None:
            counters.in_flight -= 1
        counters.finished(response.status_code)
        query = loggable_query(request.query_string)
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path + (f"?{query}" if query else ""),
                "status": response.status_code,
                "duration_ms": round(duration_ms, 2),
                "remote": request.remote_addr,
                "request_id": request_id,
            },
        )
        return response
