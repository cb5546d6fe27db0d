"""Turn every failure into a problem document, so no route answers HTML or a bare 500.

Bad input → 4xx with a clear detail (and field errors for validation);
a database outage → 503 with Retry-After; anything unexpected is logged with
its traceback and answered 500 with the request id to quote.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from quart import Quart, Response, g, has_request_context, has_websocket_context, request, websocket
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

from monitor.storage.errors import QueryRefused, StorageUnavailable
from monitor.web.edge.problems import ProblemError, problem_response, response_for

log = logging.getLogger(__name__)


def field_errors(error: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as [{"field": "a.0.b", "message": ..., "code": ...}]."""
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]) or "(body)",
            "message": item["msg"],
            "code": item["type"],
        }
        for item in error.errors(include_url=False, include_input=False)
    ]


def _path() -> str:
    if has_request_context():
        return request.path
    if has_websocket_context():
        return websocket.path
    return "?"


def _body_is_json() -> bool:
    return has_request_context() and request.is_json


def _storage_unavailable(failure: StorageUnavailable) -> Response:
    log.warning("database unavailable", extra={"error": str(failure)})
    return problem_response(
        503,
        "the database is unavailable; retry shortly",
        kind="storage-unavailable",
        headers={"Retry-After": str(failure.retry_after_seconds)},
    )


def _leaf(failure: BaseException) -> BaseException:
    while isinstance(failure, BaseExceptionGroup) and len(failure.exceptions) == 1:
        failure = failure.exceptions[0]
    return failure


def register_error_handlers(app: Quart) -> None:
    max_bytes = app.config["MAX_CONTENT_LENGTH"]

    @app.errorhandler(ProblemError)
    async def on_problem(error: ProblemError) -> Response:
        return response_for(error)

    @app.errorhandler(RequestSchemaValidationError)
    async def on_invalid_request(error: RequestSchemaValidationError) -> Response:
        cause = error.validation_error
        if isinstance(cause, ValidationError):
            errors = field_errors(cause)
        else:
            errors = [{"field": "(body)", "message": str(cause), "code": "invalid"}]
        return problem_response(
            400, "the request is invalid", kind="validation-error", errors=errors
        )

    @app.errorhandler(HTTPException)
    async def on_http_exception(error: HTTPException) -> Response:
        status = error.code or 500
        headers: dict[str, str] = {}
        if status == 404:
            detail = f"no resource at {_path()}"
        elif status == 405:
            allowed = getattr(error, "valid_methods", None) or []
            headers["Allow"] = ", ".join(sorted(allowed))
            method = request.method if has_request_context() else "this method"
            detail = f"{method} is not allowed here; allowed: {headers['Allow']}"
        elif status == 413:
            detail = f"the request body is larger than the limit of {max_bytes} bytes"
        elif status == 400:
            detail = "the request body is not valid JSON" if _body_is_json() else "bad request"
            if (
                has_request_context()
                and request.mimetype
                and not request.is_json
                and request.method in {"POST", "PUT", "PATCH"}
            ):
                status = 415
                detail = "the request body must be JSON (Content-Type: application/json)"
        else:
            detail = error.description or "error"
        return problem_response(status, detail, headers=headers)

    @app.errorhandler(UnicodeDecodeError)
    async def on_undecodable(error: UnicodeDecodeError) -> Response:
        # Only client-supplied bytes are decoded while handling a request.
        return problem_response(400, "the request body is not valid UTF-8")

    @app.errorhandler(RecursionError)
    async def on_too_deep(error: RecursionError) -> Response:
        # Only parsing a client's deeply nested JSON recurses this far.
        return problem_response(400, "the request body is nested too deeply")

    @app.errorhandler(QueryRefused)
    async def on_query_refused(error: QueryRefused) -> Response:
        return problem_response(422, str(error), kind="query-refused")

    @app.errorhandler(StorageUnavailable)
    async def on_storage_unavailable(failure: StorageUnavailable) -> Response:
        return _storage_unavailable(failure)

    @app.errorhandler(Exception)
    async def on_unexpected(failure: Exception) -> Response:
        leaf = _leaf(failure)
        if isinstance(leaf, StorageUnavailable):
            return _storage_unavailable(leaf)
        if isinstance(leaf, ProblemError):
            return response_for(leaf)
        log.error("unhandled error", exc_info=failure)
        request_id = getattr(g, "request_id", "unknown")
        return problem_response(
            500, f"internal error; quote request id {request_id} when reporting it"
        )
