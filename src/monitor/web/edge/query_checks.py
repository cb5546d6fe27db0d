"""Checks every request passes before its route runs, so no route can forget them.

- The query string: every parameter, of every route, against the rules of
  `domain/query_values.py` (UTF-8, no NUL, bounded lengths and counts); a
  400 problem naming each bad parameter. Routes then parse typed values
  through the same module.
- `Content-Encoding`: only routes marked `@decodes_body_encoding` (those that
  read their body with `read_json_body`, which gunzips) take an encoded
  body; anywhere else it would be read as plain bytes and misreported, so it
  is a 415 naming the encoding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from quart import Quart, request, websocket
from werkzeug.datastructures import MultiDict

from monitor.domain.query_times import parse_query_time
from monitor.domain.query_values import MAX_REPORTED, query_string_problems
from monitor.web.edge.problems import ProblemError

View = TypeVar("View", bound=Callable[..., Any])
# A query string's parameters: the request's, or a stored query's (a widget's).
QueryArgs = MultiDict[str, str]
_DECODES_ENCODING = "monitor_decodes_body_encoding"


def invalid_query(errors: Sequence[Mapping[str, Any]]) -> ProblemError:
    """The 400 for a bad query: field-level errors, one per parameter. Nothing is stored by
    a query, so the detail says nothing about storing."""
    return ProblemError(
        400, "the query is invalid", kind="validation-error", errors=list(errors)[:MAX_REPORTED]
    )


def query_time(args: QueryArgs, name: str, errors: list[dict[str, Any]]) -> datetime | None:
    """The time parameter `name` in UTC, None when absent or empty; when it is not a time,
    None and its problem appended to `errors` (each route gathers them into one 400)."""
    raw = args.get(name)
    if not raw:
        return None
    try:
        return parse_query_time(raw)
    except ValueError as problem:
        errors.append({"field": name, "message": str(problem)})
        return None


def decodes_body_encoding(view: View) -> View:
    """Mark a route that reads its body through `read_json_body` (gzip understood)."""
    setattr(view, _DECODES_ENCODING, True)
    return view


def _check_query(query_string: bytes) -> None:
    problems = query_string_problems(query_string)
    if problems:
        raise invalid_query([problem.as_dict() for problem in problems])


def register_request_checks(app: Quart) -> None:
    @app.before_request
    async def check_request() -> None:
        _check_query(request.query_string)
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        has_body = (
            request.headers.get("Content-Length", "0") not in ("", "0")
            or "Transfer-Encoding" in request.headers
        )
        if encoding in ("", "identity") or not has_body:
            return
        view = app.view_functions.get(request.endpoint or "")
        if not getattr(view, _DECODES_ENCODING, False):
            raise ProblemError(
                415,
                f"Content-Encoding {encoding!r} is not accepted by this route; "
                "send the body uncompressed (only the ingest routes take gzip)",
            )

    @app.before_websocket
    async def check_websocket() -> None:
        _check_query(websocket.query_string)
