"""Websocket streaming: `/ws` and `/ws/authenticated`, the JSON protocol, each connection's loops.

A connection runs two tasks: the reader parses client messages (subscription
changes go to the fan-out actor, which answers on the outbox), and the writer
sends what the outbox holds, merging queued data of one subscription into one
frame, through `DirectTransport` when it can reach the socket. Heartbeats and
the close of clients that stay behind are the `live_watchdog` actor's.

Websockets are not counted as in-flight HTTP requests: on stop the service
closes them all with 1001 through `LiveConnections` before Hypercorn stops.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import msgspec
import trio
from quart import Blueprint, Response, websocket

from monitor.domain.credentials import Credential
from monitor.domain.keys import Role
from monitor.domain.live_filters import CHANNELS, parse_filter
from monitor.live_connections import (
    CLOSE_GRACE,
    MAX_FRAME_BYTES,
    POLICY_VIOLATION,
    TRY_AGAIN_LATER,
    Close,
    DataChunk,
    Entry,
    Outbox,
    data_frame,
    reply,
)
from monitor.messages import Disconnect, SubscriptionsChanged
from monitor.storage.errors import StorageUnavailable
from monitor.web.deps import LiveDeps, current_deps
from monitor.web.edge.auth import declare_role
from monitor.web.edge.authenticator import Principal
from monitor.web.edge.credentials import presented_token
from monitor.web.edge.problems import ProblemError, response_for
from monitor.web.edge.rate_limits import rate_limit_headers, too_many
from monitor.web.edge.request_log import loggable_query
from monitor.web.edge.session_keeper import Session
from monitor.web.edge.sessions import (
    ForgedCookie,
    cookie_name,
    origin_matches,
    public_origin,
    session_from_cookies,
)
from monitor.web.ws.direct import DirectTransport, FrameTransport
from monitor.web.ws.fallback import abort_connection

log = logging.getLogger("monitor.access")
service_log = logging.getLogger(__name__)
blueprint = Blueprint("live", __name__)

AUTH_TIMEOUT = 10.0  # for the first message, when the key is not in the upgrade request
HAND_OFF_TIMEOUT = 5.0  # waiting for room in the fan-out actor's inbox
MAX_SUBSCRIPTION_NAME = 64
# Protocol messages nest three levels at most; the limit keeps decoding and
# echoing (a ping's id) well away from Python's recursion limit.
MAX_MESSAGE_DEPTH = 16
_decode = msgspec.json.Decoder().decode


class Unparsable(ValueError):
    """A client message that is not JSON, or nests deeper than MAX_MESSAGE_DEPTH."""


def parse_message(raw: str | bytes) -> Any:
    """The decoded client message, or Unparsable saying what is wrong with it."""
    too_deep = f"a message may nest at most {MAX_MESSAGE_DEPTH} levels"
    try:
        message = _decode(raw)
    except msgspec.DecodeError:
        raise Unparsable("a message must be a JSON object") from None
    except RecursionError:  # msgspec's own limit, reached sooner the deeper the caller's stack
        raise Unparsable(too_deep) from None
    if _depth_over(message, MAX_MESSAGE_DEPTH):
        raise Unparsable(too_deep)
    return message


def _depth_over(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit`; iterative, so any depth is safe."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.close = Close(code, reason)


# Streaming shows every event and sample: reading, which an ingest key may not.
STREAM_ROLE = Role.READ


@blueprint.websocket("/ws")
@declare_role(STREAM_ROLE)
async def stream() -> Response | None:
    """Authenticate with `X-API-Key` / `Authorization` or a first `auth` message."""
    return await serve_connection(key_in_url=False)


@blueprint.websocket("/ws/authenticated")
@declare_role(STREAM_ROLE)
async def stream_with_key_in_url() -> Response | None:
    """For clients that can only use the URL: `?apiKey=<key>` (never logged)."""
    return await serve_connection(key_in_url=True)


async def admit(*, key_in_url: bool, client: str) -> tuple[Principal, Credential]:
    """Who is connecting, with a key that may read, and the credential to keep checking;
    or Refused with the close to send.

    The single gate of every websocket after its upgrade: a check that applies
    to the connection as a whole (the key's rate limit, the dashboard's
    session cookie with its Origin check) belongs here. An API key (header,
    URL, first message) wins over a session cookie sent alongside it.
    """
    deps = current_deps()
    token = presented_token(websocket.headers)
    if token is None and key_in_url:
        token = websocket.args.get("apiKey") or None
    if token is None and cookie_name(deps) in websocket.cookies:
        session = await _session(client)
        return await _admitted(session.principal, client), session.credential
    if token is None:
        token = await _first_message_key()
    try:
        principal = await deps.authenticator.authenticate(token)
    except ProblemError as problem:
        await _charge_failure(client)
        raise Refused(POLICY_VIOLATION, problem.detail) from None
    except StorageUnavailable:
        raise Refused(TRY_AGAIN_LATER, "the database is unavailable; retry shortly") from None
    return await _admitted(principal, client), principal.credential


async def _charge_failure(client: str) -> None:
    """Count a failed authentication; Refused (1013) once the address has failed too often."""
    failures = await current_deps().limits.limiter.check_auth_failure(client)
    if failures is not None and not failures.allowed:
        raise Refused(
            TRY_AGAIN_LATER,
            "too many failed authentications from this address; "
            f"retry in {failures.retry_after_s} s",
        )


async def _session(client: str) -> Session:
    """The dashboard session of the cookie, accepted only from a page of this site.

    Browsers send cookies with a websocket upgrade whatever page opens it;
    the Origin check is what stops another site's page from streaming with
    a signed-in operator's session (cross-site websocket hijacking).
    """
    deps = current_deps()
    if not origin_matches(websocket.headers, deps):
        raise Refused(
            POLICY_VIOLATION,
            f"a session cookie is accepted only from pages of {public_origin(deps)}",
        )
    try:
        session = await session_from_cookies(websocket.cookies, deps)
    except ForgedCookie:
        await _charge_failure(client)
        session = None
    except StorageUnavailable:
        raise Refused(TRY_AGAIN_LATER, "the database is unavailable; retry shortly") from None
    if session is None:
        raise Refused(POLICY_VIOLATION, "the session has ended; sign in again")
    return session


async def _admitted(principal: Principal, client: str) -> Principal:
    """`principal` if its key may stream and is within its rate limit; else Refused."""
    deps = current_deps()
    if not principal.role.may(STREAM_ROLE):
        raise Refused(
            POLICY_VIOLATION,
            f"streaming needs the {STREAM_ROLE.label} role; the key has {principal.role.label}",
        )
    by_key = await deps.limits.limiter.check_key(principal.key_id, principal.rate_limit)
    if by_key is not None and not by_key.allowed:
        raise Refused(
            TRY_AGAIN_LATER,
            f"this API key is over its rate limit; retry in {by_key.retry_after_s} s",
        )
    return principal


async def _refuse_upgrade(client: str) -> Response | None:
    """The upgrade counts as one request from its address: 429 (plain HTTP) when over."""
    decision = await current_deps().limits.limiter.check_address(client)
    if decision is None or decision.allowed:
        return None
    problem = too_many(decision, "too many requests from this address")
    response = response_for(problem)
    response.headers.update(rate_limit_headers(decision))
    return response


async def _first_message_key() -> str:
    expected = 'the first message must be {"type":"auth","apiKey":"..."}'
    with trio.move_on_after(AUTH_TIMEOUT):
        raw = await websocket.receive()
        try:
            message = parse_message(raw)
        except Unparsable:
            raise Refused(POLICY_VIOLATION, expected) from None
        if not isinstance(message, dict) or message.get("type") != "auth":
            raise Refused(POLICY_VIOLATION, expected)
        key = message.get("apiKey")
        if not isinstance(key, str) or not key:
            raise Refused(POLICY_VIOLATION, expected)
        return key
    raise Refused(POLICY_VIOLATION, f"no authentication within {AUTH_TIMEOUT:g} s")


async def serve_connection(*, key_in_url: bool) -> Response | None:
    deps = current_deps()
    live = deps.live
    started = trio.current_time()
    client = deps.limits.limiter.client_of(
        websocket.remote_addr, websocket.headers.getlist("X-Forwarded-For")
    )
    refusal = await _refuse_upgrade(client)
    if refusal is not None:
        live.connections.refuse()
        _log_connection(started, None, Close(TRY_AGAIN_LATER, "rate limited"))
        return refusal
    outbox: Outbox | None = None
    principal: Principal | None = None
    logged = False
    await websocket.accept()
    try:
        try:
            principal, credential = await admit(key_in_url=key_in_url, client=client)
        except Refused as refused:
            live.connections.refuse()
            outcome = refused.close
        else:
            opened = live.connections.open(credential)
            if isinstance(opened, Close):
                outcome = opened
            else:
                outbox = opened
                outcome = await _run(live, outbox)  # closes the websocket itself
        _log_connection(started, principal, outcome)
        logged = True
        if outbox is None:  # refused: nothing was sent yet, so the close cannot block
            with trio.move_on_after(CLOSE_GRACE):
                await websocket.close(outcome.code, outcome.reason)
    finally:
        # Runs when the client leaves, too (Quart cancels the handler then).
        if outbox is not None:
            live.connections.release(outbox)
            # When the inbox is full or closed the message is lost, which is
            # harmless: the actor forgets closed connections at its next tick.
            with contextlib.suppress(
                trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError
            ):
                live.fanout.send_nowait(Disconnect(outbox))
        if not logged:
            _log_connection(started, principal, None)
    return None


def _log_connection(started: float, principal: Principal | None, outcome: Close | None) -> None:
    query = loggable_query(websocket.query_string)
    log.info(
        "websocket",
        extra={
            "path": websocket.path + (f"?{query}" if query else ""),
            "key": None if principal is None else principal.audit_name,
            "close_code": None if outcome is None else outcome.code,
            "close_reason": "closed by the client" if outcome is None else outcome.reason,
            "duration_ms": round((trio.current_time() - started) * 1000, 2),
            "remote": websocket.remote_addr,
        },
    )


class QuartTransport:
    """The fallback when the socket is out of reach: frames through Quart, abort through /proc."""

    def __init__(self) -> None:
        self._client = websocket.scope.get("client")
        self._server = websocket.scope.get("server")

    async def send_text(self, payload: bytes) -> bool:
        await websocket.send(payload.decode())
        return True

    def abort(self) -> bool:
        return abort_connection(self._client, self._server)

    def closed_beneath(self) -> Close | None:
        return None  # out of sight through ASGI: a close only reaches us from the client


def _transport(live: LiveDeps) -> FrameTransport:
    direct = DirectTransport.of(websocket.scope)
    if direct is not None:
        return direct
    if live.connections.fell_back_to_asgi() == 1:
        service_log.warning("websocket frames go through Quart: the direct transport was not found")
    return QuartTransport()


async def _run(live: LiveDeps, outbox: Outbox) -> Close:
    transport = _transport(live)
    outbox.abort_connection = transport.abort
    outbox.closed_beneath = transport.closed_beneath
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_read, live, outbox)
        close = await _write(live, outbox, transport)
        nursery.cancel_scope.cancel()
    return close


async def _write(live: LiveDeps, outbox: Outbox, transport: FrameTransport) -> Close:
    """Send what the outbox holds until a close is asked for; then send the close."""
    while True:
        taken = await outbox.take()
        if isinstance(taken, Close):
            break
        for payload, items in frames(taken):
            outbox.sending_since = trio.current_time()
            sent = await transport.send_text(payload)
            outbox.sending_since = None
            if sent:
                outbox.sent(items)
    outbox.sending_since = trio.current_time()
    await websocket.close(taken.code, taken.reason)
    outbox.sending_since = None
    return taken


def frames(entries: list[Entry]) -> Iterator[tuple[bytes, int]]:
    """Text frame payloads for what an outbox held: queued data of one subscription merged."""
    merged: dict[tuple[str, str], list[DataChunk]] = {}
    for entry in entries:
        if isinstance(entry, DataChunk):
            merged.setdefault((entry.channel, entry.subscription), []).append(entry)
    done: set[tuple[str, str]] = set()
    for entry in entries:
        if isinstance(entry, bytes):
            yield entry, 0
            continue
        key = (entry.channel, entry.subscription)
        if key in done:
            continue
        done.add(key)
        yield from _data_frames(merged[key])


def _data_frames(chunks: list[DataChunk]) -> Iterator[tuple[bytes, int]]:
    if len(chunks) == 1:  # the common case: a frame shared with every other subscriber
        yield chunks[0].frame(), chunks[0].items_count
        return
    channel, name = chunks[0].channel, chunks[0].subscription
    parts: list[bytes] = []
    size = count = 0
    for chunk in chunks:
        if parts and size + len(chunk.items) > MAX_FRAME_BYTES:
            yield data_frame(channel, name, parts), count
            parts, size, count = [], 0, 0
        parts.append(chunk.items)
        size += len(chunk.items) + 1
        count += chunk.items_count
    if parts:
        yield data_frame(channel, name, parts), count


async def _read(live: LiveDeps, outbox: Outbox) -> None:
    while True:
        raw = await websocket.receive()
        try:
            message = parse_message(raw)
        except Unparsable as unparsable:
            # Answered like any other protocol error (the connection stays);
            # logged because a client sending these is broken or probing.
            service_log.info(
                "websocket message not parsed",
                extra={
                    "connection": outbox.number,
                    "credential": f"{outbox.credential.kind}:{outbox.credential.id}",
                    "problem": str(unparsable),
                    "length": len(raw),
                },
            )
            outbox.push(reply("error", reason=str(unparsable)))
            continue
        problem = await _handle(live, outbox, message)
        if problem is not None:
            outbox.push(reply("error", reason=problem))


async def _handle(live: LiveDeps, outbox: Outbox, message: Any) -> str | None:
    """Act on one client message; what was wrong with it, or None."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return 'a message must be a JSON object with a "type"'
    kind = message["type"]
    if kind == "ping":
        outbox.push(reply("pong", **({"id": message["id"]} if "id" in message else {})))
        return None
    if kind == "auth":
        return "already authenticated"
    if kind not in ("subscribe", "unsubscribe"):
        return f"unknown message type {kind[:40]!r}; expected subscribe, unsubscribe or ping"
    channel = message.get("channel")
    name = message.get("subscription", channel if kind == "subscribe" else None)
    if name is not None and (
        not isinstance(name, str) or not 0 < len(name) <= MAX_SUBSCRIPTION_NAME
    ):
        return f"subscription must be a string of 1 to {MAX_SUBSCRIPTION_NAME} characters"
    if channel is not None and channel not in CHANNELS:
        return f"unknown channel {str(channel)[:60]!r}; one of {', '.join(CHANNELS)}"
    # The connection's subscriptions change first (they are the truth a
    # restarted fan-out rebuilds from), then the fan-out is told to route by
    # them and answers once it does; refusals go the same way, so that the
    # answers keep the order of the requests. If it cannot be told, the
    # change is undone.
    held = outbox.subscriptions
    answers: list[bytes] = []
    if kind == "subscribe":
        if channel is None or name is None:
            return f"subscribe needs a channel: one of {', '.join(CHANNELS)}"
        try:
            stream_filter = parse_filter(channel, message.get("filter"))
        except ValueError as problem:
            return str(problem)
        refused = live.connections.subscribe(outbox, name, channel, stream_filter)
        if refused is None:
            answers.append(reply("subscribed", channel=channel, subscription=name))
        else:
            answers.append(reply("error", reason=refused, subscription=name))
    else:
        if name is None and channel is None:
            return "unsubscribe needs a subscription or a channel"
        dropped = live.connections.unsubscribe(outbox, name, channel)
        answers.extend(reply("unsubscribed", subscription=each) for each in dropped)
        if not dropped:
            answers.append(reply("error", reason="no such subscription", subscription=name))
    stopping = False
    with trio.move_on_after(HAND_OFF_TIMEOUT):
        try:
            await live.fanout.send(SubscriptionsChanged(outbox, tuple(answers)))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            stopping = True
        else:
            return None
    if outbox.subscriptions is not held:
        live.connections.hold(outbox, held)
    return "the service is stopping" if stopping else "the service is busy; try again"
