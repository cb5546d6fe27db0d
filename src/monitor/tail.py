"""`monitor tail`: follow one live channel over a websocket, one JSON line per item.

A plain client of the public protocol (docs/websockets.md): it authenticates
with the X-API-Key header (a URL carrying the key would end up in proxies'
logs), subscribes, and writes each item of each `data` message to stdout.
Everything a person must act on (a refused key, a server that is not there, a
stop) ends the command with one line on stderr.
"""

from __future__ import annotations

import json
import math
import os
import signal
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    ConnectionTimeout,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

CLOSE_MEANINGS = {
    1001: "the server is stopping",
    1008: "the server refused the connection",
    1009: "a message was too large",
    1011: "the server failed",
    1013: "the server asks to try again later",
}
DISCONNECT_TIMEOUT = 2.0


class TailFailed(Exception):
    """Why following the stream stopped, in one line for a person."""


@dataclass(frozen=True)
class Subscription:
    channel: str
    filter: dict[str, Any] | None = None

    def message(self) -> str:
        body: dict[str, Any] = {"type": "subscribe", "channel": self.channel}
        if self.filter is not None:
            body["filter"] = self.filter
        return json.dumps(body)


def websocket_url(url: str) -> str:
    """`http://host:8080` or `ws://host:8080/ws` → the `/ws` websocket URL."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ValueError(f"{url!r} is not an http://, https://, ws:// or wss:// URL")
    path = parts.path if parts.path not in ("", "/") else "/ws"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


async def tail(
    url: str,
    key: str,
    subscription: Subscription,
    *,
    connect_timeout: float,
    out: TextIO,
    note: TextIO,
) -> None:
    """Print items until SIGINT or SIGTERM (returns), a failure (raises TailFailed)
    or the reader of `out` leaving (raises BrokenPipeError)."""
    follower = _Follower(url, key, subscription, connect_timeout, out, note)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def follow() -> None:
                await follower.run()
                nursery.cancel_scope.cancel()

            nursery.start_soon(follow)
            async for _ in signals:
                if follower.connection is None or follower.stopping:
                    nursery.cancel_scope.cancel()  # still connecting, or a second Ctrl-C
                    break
                follower.stopping = True
                nursery.start_soon(follower.close)
    if follower.failure is not None:
        raise follower.failure
    if follower.reader_left:
        raise BrokenPipeError("stdout was closed")  # raised here, outside the nursery's group


@dataclass
class _Follower:
    url: str
    key: str
    subscription: Subscription
    connect_timeout: float
    out: TextIO
    note: TextIO
    connection: WebSocketConnection | None = None
    stopping: bool = False
    failure: TailFailed | None = None
    reader_left: bool = False

    async def close(self) -> None:
        """A close handshake (1000), so the server logs a normal end."""
        assert self.connection is not None
        with trio.move_on_after(DISCONNECT_TIMEOUT):
            await self.connection.aclose()

    async def run(self) -> None:
        try:
            await self._follow()
        except TailFailed as failed:
            self.failure = failed
        except BrokenPipeError:  # stdout was closed (`| head`): the reader is done
            self.reader_left = True

    async def _follow(self) -> None:
        url = self.url
        # trio-websocket 0.12's own connect timeout leaves its reader waiting on
        # a server that accepted the connection but never answers the upgrade,
        # so the connect is bounded here as well, and the bound lifted once open.
        with trio.CancelScope(deadline=trio.current_time() + self.connect_timeout) as connecting:
            try:
                async with open_websocket_url(
                    url,
                    extra_headers=[(b"X-API-Key", self.key.encode())],
                    connect_timeout=self.connect_timeout,
                    disconnect_timeout=DISCONNECT_TIMEOUT,
                ) as connection:
                    connecting.deadline = math.inf
                    self.connection = connection
                    await connection.send_message(self.subscription.message())
                    await _print_items(connection, self.subscription, url, self.out, self.note)
            except ConnectionRejected as rejected:
                raise TailFailed(_rejection(url, rejected)) from None
            except ConnectionTimeout:
                raise TailFailed(self._no_answer()) from None
            except HandshakeError as failed:
                if isinstance(failed.__cause__, OSError):  # trio-websocket wraps a failed connect
                    reason = _os_reason(failed.__cause__)
                    raise TailFailed(f"cannot connect to {url}: {reason}") from None
                raise TailFailed(f"cannot open a websocket at {url}: {failed!r}") from None
            except ConnectionClosed as closed:
                if not self.stopping:
                    raise TailFailed(_closed(closed)) from None
            except BrokenPipeError:
                raise  # stdout, not the network: see run()
            except OSError as problem:
                raise TailFailed(f"cannot connect to {url}: {_os_reason(problem)}") from None
        if connecting.cancelled_caught:
            raise TailFailed(self._no_answer())

    def _no_answer(self) -> str:
        return f"no answer from {self.url} within {self.connect_timeout:g} s"


async def _print_items(
    connection: WebSocketConnection, subscription: Subscription, url: str, out: TextIO, note: TextIO
) -> None:
    while True:
        message = json.loads(await connection.get_message())
        kind = message.get("type")
        if kind == "data":
            for item in message.get("items", ()):
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
            out.flush()
        elif kind == "subscribed":
            note.write(f"monitor: following {subscription.channel} at {url} (Ctrl-C stops)\n")
            note.flush()
        elif kind == "error":
            raise TailFailed(f"the server refused the subscription: {message.get('reason')}")


def _rejection(url: str, rejected: ConnectionRejected) -> str:
    headers = {name.decode().lower(): value.decode() for name, value in rejected.headers}
    detail = ""
    if rejected.body and headers.get("content-type", "").endswith("json"):
        try:
            detail = json.loads(rejected.body).get("detail") or ""
        except (ValueError, AttributeError):
            detail = ""
    text = f"{url} answered HTTP {rejected.status_code} instead of opening a websocket"
    if "retry-after" in headers:
        text += f"; retry in {headers['retry-after']} s"
    return text + (f" ({detail})" if detail else "")


def _closed(closed: ConnectionClosed) -> str:
    if closed.reason is None:
        return "the connection was lost"
    code, reason = closed.reason.code, closed.reason.reason
    meaning = CLOSE_MEANINGS.get(code, "the server closed the connection")
    return f"{meaning} (close code {code}" + (f": {reason})" if reason else ")")


def _os_reason(problem: OSError) -> str:
    """The operating system's reason; trio wraps one per address tried in a group."""
    cause = problem.__cause__
    while isinstance(cause, BaseExceptionGroup) and cause.exceptions:
        cause = cause.exceptions[0]
    for error in (cause, problem):
        if isinstance(error, OSError) and error.errno is not None:
            return os.strerror(error.errno).lower()
    return str(problem)
