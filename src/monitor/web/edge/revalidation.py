"""Answers a browser may keep until their tick ends and then revalidate for a 304.

A shared dashboard result carries a strong `ETag` (a hash of its exact bytes)
and `Cache-Control: private, max-age=<whole seconds left in its tick>`:
private because only the viewer's own browser may keep it (it was read with
their key), and fresh only while no newer answer can exist. A re-poll that
sends `If-None-Match` with the current tag gets 304 and no body, so an
unchanged answer costs a few headers. HEAD is answered like GET (the server
drops the body).
"""

from __future__ import annotations

import base64
import hashlib
import math

from quart import Response, request
from werkzeug.http import parse_etags


def entity_tag(body: bytes) -> str:
    """A strong entity tag, quoted: 128 bits of BLAKE2b over `body`."""
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return '"' + base64.urlsafe_b64encode(digest).rstrip(b"=").decode() + '"'


def revalidated_response(
    body: bytes, fresh_for: float, *, content_type: str = "application/json"
) -> Response:
    """200 with `body`, or 304 without it when the request's If-None-Match names it.

    `fresh_for` is the seconds the answer stays current (the tick's
    `seconds_left`); browsers are told the whole seconds of it.
    """
    tag = entity_tag(body)
    cache_control = f"private, max-age={max(0, math.floor(fresh_for))}"
    if request.method in ("GET", "HEAD") and _names(request.headers.get("If-None-Match"), tag):
        not_modified = Response(b"", status=304)
        # Only what a 304 may update: a Content-Type or Content-Length here
        # would overwrite what the browser keeps for the 200.
        del not_modified.headers["Content-Type"]
        del not_modified.headers["Content-Length"]
        not_modified.headers["ETag"] = tag
        not_modified.headers["Cache-Control"] = cache_control
        return not_modified
    response = Response(body, status=200, content_type=content_type)
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = cache_control
    return response


def _names(if_none_match: str | None, tag: str) -> bool:
    """If-None-Match compares weakly (RFC 9110, 13.1.2): W/"x" names "x"; `*` names any."""
    if not if_none_match:
        return False
    return parse_etags(if_none_match).contains_weak(tag.strip('"'))
