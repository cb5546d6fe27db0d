"""Where a request carries its API key: `X-API-Key`, or `Authorization: Bearer`."""

from __future__ import annotations

from collections.abc import Mapping

from werkzeug.datastructures import Headers


def presented_token(headers: Mapping[str, str] | Headers) -> str | None:
    key = headers.get("X-API-Key")
    if key:
        return key.strip()
    authorization = headers.get("Authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None
