"""Errors as RFC 9457 problem documents (`application/problem+json`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from quart import Response

# Problems that the HTTP status alone explains use "about:blank" (RFC 9457 §4.2.1);
# specific kinds get a stable URN that clients can match on.
PROBLEM_TYPE_BASE = "urn:monitor:problem:"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemError(Exception):
    """Raise anywhere in a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.title = title
        self.errors = errors
        self.headers = dict(headers or {})


def problem_body(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + kind if kind else "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    title: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = problem_body(status, detail, kind=kind, title=title, errors=errors)
    response = Response(
        json.dumps(body),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
        headers=dict(headers or {}),
    )
    return response


def response_for(error: ProblemError) -> Response:
    return problem_response(
        error.status,
        error.detail,
        kind=error.kind,
        title=error.title,
        errors=error.errors,
        headers=error.headers,
    )
