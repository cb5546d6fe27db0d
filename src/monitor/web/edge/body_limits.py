"""Request bodies nobody will read are drained without being stored.

Quart's ASGI layer copies every body chunk into the request's `Body` as it
arrives, up to MAX_CONTENT_LENGTH, whether or not the route ever reads it. A
9 MB body sent to a missing path or to `POST /health` was therefore held in
full for each such request. The gate sits on the ASGI `receive` in front of
Quart and hands Quart empty chunks (same framing, so Quart still sees where
the body ends) when:

- the request matches no route, or a route by a method that carries no
  body (found in the app's own URL map, so a new route needs no list kept
  up to date): 404, 405 and GET-with-a-body are answered without storing it;
- the answer has been decided (`drain`, called after the view): what the
  view did not read is of no use any more, e.g. after a 401 or a 429.

Draining lets the client finish sending and read the answer on a connection
that stays usable. It is bounded in time (the caller's) and in bytes: 256 KiB
for a body nobody wanted, and twice the request size limit for the rest of a
body answered 413 (so that client can still read its 413). Past either bound
the answer closes the connection instead of receiving megabytes to discard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import trio
from quart import Quart, Request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RoutingException

GATE_KEY = "monitor.body_gate"
# A body sent to a route that takes none (404, 405, a GET with a body) is
# drained up to this, so a small one leaves the connection reusable; past it
# the answer closes the connection rather than receive megabytes nobody wants.
UNWANTED_BODY_DRAIN_BYTES = 256 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


@dataclass
class BodyGate:
    """One request's body: passed to Quart, or discarded."""

    discard_limit: int
    discarding: bool = False
    discarded: int = 0
    cut_short: bool = False  # gave up draining; the connection cannot be reused
    finished: trio.Event = field(default_factory=trio.Event)  # all received, or cut short

    def filter(self, message: dict[str, Any]) -> dict[str, Any]:
        if message["type"] != "http.request":
            return message
        if self.cut_short:  # what still comes only flows past until the connection closes
            return {**message, "body": b""}
        more = bool(message.get("more_body", False))
        if not more:
            self.finished.set()
        if not self.discarding:
            return message
        self.discarded += len(message.get("body", b""))
        if more and self.discarded > self.discard_limit:
            self.cut_short = True
            self.finished.set()
            # Quart stops waiting; Hypercorn closes the connection, whose
            # request was not read to its end.
            more = False
        return {"type": "http.request", "body": b"", "more_body": more}


def takes_body(app: Quart, method: str, path: str) -> bool:
    """Whether a route of `app` would read a body sent with this request."""
    if method not in BODY_METHODS:
        return False
    try:
        app.url_map.bind("localhost").match(path, method)
    except (HTTPException, RoutingException):  # no such route, another method, a redirect
        return False
    return True


def gate_request_bodies(app: Quart, discard_limit: int) -> None:
    """Put a BodyGate in front of Quart's `receive` for every HTTP request.

    At most `discard_limit` bytes of a request's body are drained once it is
    known nobody reads them; past that the connection is closed.
    """
    inner = app.asgi_app

    async def gated(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        path = scope["path"] if scope["path"].startswith("/") else urlparse(scope["path"]).path
        if takes_body(app, scope["method"], path):
            gate = BodyGate(discard_limit)
        else:
            gate = BodyGate(UNWANTED_BODY_DRAIN_BYTES, discarding=True)
        scope[GATE_KEY] = gate

        async def gated_receive() -> Any:
            return gate.filter(await receive())

        await inner(scope, gated_receive, send)

    app.asgi_app = gated  # type: ignore[method-assign]


async def drain(request: Request, *, limit: int | None = None) -> bool:
    """Discard the rest of the body; whether it was read to its end (bound the wait outside).

    `limit` lowers the bytes still drained from here on (the gate's own bound
    otherwise); past it the connection is closed instead.
    """
    gate = request.scope.get(GATE_KEY)
    if not isinstance(gate, BodyGate):
        raise RuntimeError("drain() needs gate_request_bodies() in front of the app")
    if limit is not None:
        gate.discard_limit = min(gate.discard_limit, gate.discarded + limit)
    gate.discarding = True
    request.body.clear()  # what Quart stored before the answer was decided
    await gate.finished.wait()
    return not gate.cut_short
