"""Hypercorn's Trio server with rules applied below HTTP, where hostile clients wait.

- **Connections per client address**: a listener wrapper closes a connection
  at accept, before anything is read, when its address (IPv6: its /64)
  already holds `MONITOR_MAX_CONNECTIONS_PER_IP`. Such clients never reach
  ASGI, so nothing above the socket could count them.
- **A deadline for each request head**: `MONITOR_HEADER_TIMEOUT` from
  connecting, or from the first byte after an idle keep-alive wait, to a
  complete head. Hypercorn's own `read_timeout` restarts with every byte (a
  drip of one byte a second never trips it); its keep-alive timer
  (`keep_alive_timeout`) closes idle connections and is left to do that.
- **A bound on each write**: `MONITOR_SEND_TIMEOUT` for a write to make
  progress; a client that reads nothing is disconnected, and a graceful stop
  is not held by it (Hypercorn's writes cannot be cancelled).

Relies on Hypercorn 0.18's internals, as `web/ws/direct.py` does: `serve`
mirrors `hypercorn.trio.run.worker_serve` for plain TCP listeners (no TLS, no
QUIC, one worker) so that the listener and the per-connection class are ours;
`HeadDeadlineServer` subclasses `hypercorn.trio.tcp_server.TCPServer`,
watches the `Updated` events its protocol sends (idle=False: a request head is
complete; idle=True: its response is done) and replaces its `_read_data` loop
its writes (`protocol_send` of `RawData`) and its `_close` (see each).
tests/test_hostile_connections.py fails if any of this stops holding.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.events import Closed, Event, RawData, Updated
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import MAX_RECV, TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import AppWrapper, ConnectionState, Framework
from hypercorn.utils import repr_socket_addr, wrap_app

from monitor.domain.client_ip import TrustedProxies, limit_identity

log = logging.getLogger(__name__)


@dataclass
class ConnectionCounts:
    """Open TCP connections per client address (touched only on the Trio thread)."""

    max_per_address: int = 0  # 0: unlimited
    trusted: TrustedProxies = field(default_factory=TrustedProxies)
    open: int = 0
    refused: int = 0  # closed at accept: their address held the maximum already
    head_timeouts: int = 0  # closed without a complete request head in time
    send_timeouts: int = 0  # closed because the client read nothing of a response
    by_address: dict[str, int] = field(default_factory=dict)
    _held: dict[trio.SocketStream, str] = field(default_factory=dict)

    def admit(self, stream: trio.SocketStream, peer: str) -> bool:
        """Count `stream` against its address, or refuse it (False) when that is full."""
        identity = limit_identity(peer)
        held = self.by_address.get(identity, 0)
        if self.max_per_address and held >= self.max_per_address and not self._trusted(peer):
            self.refused += 1
            return False
        self.by_address[identity] = held + 1
        self._held[stream] = identity
        self.open += 1
        return True

    def release(self, stream: trio.SocketStream) -> None:
        identity = self._held.pop(stream)
        self.open -= 1
        left = self.by_address[identity] - 1
        if left:
            self.by_address[identity] = left
        else:
            del self.by_address[identity]

    def _trusted(self, peer: str) -> bool:
        # A reverse proxy carries many clients; they cannot be told apart
        # before a request (and its X-Forwarded-For) has been read.
        try:
            return ipaddress.ip_address(peer) in self.trusted
        except ValueError:
            return False

    def figures(self) -> dict[str, int]:
        return {
            "open": self.open,
            "addresses": len(self.by_address),
            "max_per_address": self.max_per_address,
            "refused_over_limit": self.refused,
            "header_timeouts": self.head_timeouts,
            "send_timeouts": self.send_timeouts,
        }


class LimitedListener(trio.abc.Listener[trio.SocketStream]):
    """Accepts only connections whose address is under the limit; closes the others unread."""

    def __init__(self, inner: trio.SocketListener, counts: ConnectionCounts) -> None:
        self._inner = inner
        self._counts = counts

    async def accept(self) -> trio.SocketStream:
        while True:
            stream = await self._inner.accept()
            try:
                peer = stream.socket.getpeername()[0]
            except OSError:  # reset before it was looked at: nothing to serve
                await stream.aclose()
                continue
            if self._counts.admit(stream, peer):
                return stream
            await stream.aclose()

    async def aclose(self) -> None:
        await self._inner.aclose()


class HeadDeadlineServer(TCPServer):
    """One HTTP connection, closed when a request head is not complete in time."""

    def __init__(
        self,
        app: AppWrapper,
        config: Config,
        context: WorkerContext,
        state: ConnectionState,
        stream: trio.SocketStream,
        *,
        header_timeout: float,
        send_timeout: float,
        counts: ConnectionCounts,
    ) -> None:
        # Hypercorn annotates the stream as SSLStream but serves plain SocketStreams too.
        super().__init__(app, config, context, state, stream)  # type: ignore[arg-type]
        self._header_timeout = header_timeout
        self._send_timeout = send_timeout
        self._counts = counts
        self._idle = False  # after a response, until the next request's first byte
        self._head_deadline = trio.current_time() + header_timeout
        self._reading: trio.CancelScope | None = None

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, RawData):
            await self._write(event.data)
            return
        if isinstance(event, Updated):
            # Either a head is complete (the request runs without this
            # deadline) or a response is done and the connection waits
            # under Hypercorn's keep-alive timer until the next byte.
            self._idle = event.idle
            self._set_head_deadline(math.inf)
        await super().protocol_send(event)

    async def _write(self, data: bytes) -> None:
        # Hypercorn shields its writes from cancellation (half a message
        # would corrupt the stream), so a client that reads nothing held
        # its connection, and a graceful stop, for ever. Here a write that
        # times out or is cancelled ends the connection instead: nothing can
        # follow half a message.
        async with self.send_lock:
            try:
                with trio.fail_after(self._send_timeout):
                    await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self.protocol.handle(Closed())
            except trio.TooSlowError:
                self._counts.send_timeouts += 1
                await self._abandon()
                await self.protocol.handle(Closed())
            except BaseException:
                await self._abandon()  # the reader sees the close and ends the rest
                raise

    async def _abandon(self) -> None:
        with trio.CancelScope(shield=True):
            await self.stream.aclose()

    async def _close(self) -> None:
        # Hypercorn half-closes first (`send_eof`, a checkpoint inside the
        # stream's send guard). Both the reader and the app's task close a
        # `Connection: close` connection when the client sends again right
        # after its response, so the app's last `send_all` met that guard and
        # raised BusyResourceError into the app. Closing the socket alone
        # sends the same FIN after what was written and wakes a pending
        # `send_all` with ClosedResourceError, which Hypercorn handles.
        await self.stream.aclose()

    def _set_head_deadline(self, deadline: float) -> None:
        self._head_deadline = deadline
        if self._reading is not None:
            self._reading.deadline = deadline

    async def _read_data(self) -> None:
        # Hypercorn's loop, with the head deadline instead of `read_timeout`,
        # and the connection's end when reading ends.
        while True:
            reading = self._reading = trio.CancelScope(deadline=self._head_deadline)
            try:
                with reading:
                    data = await self.stream.receive_some(MAX_RECV)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                break
            finally:
                self._reading = None
            if reading.cancelled_caught:
                self._counts.head_timeouts += 1
                break
            if self._idle and data:
                self._idle = False
                self._set_head_deadline(trio.current_time() + self._header_timeout)
            await self.protocol.handle(RawData(bytes(data)))
            if data == b"":
                break
        await self.protocol.handle(Closed())
        # Nothing more will be read: without this, Hypercorn's keep-alive
        # timer would hold the socket (and its place in the per-address
        # count) until it fired, also after the client had closed.
        await self.idle_task.stop()


async def serve(
    app: Framework,
    config: Config,
    counts: ConnectionCounts,
    *,
    header_timeout: float,
    send_timeout: float,
    shutdown_trigger: Callable[[], Awaitable[None]],
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """`hypercorn.trio.serve` for plain TCP, with `LimitedListener` and `HeadDeadlineServer`.

    Reports the bound addresses through `task_status`; stops accepting when
    `shutdown_trigger` returns, then waits up to `config.graceful_timeout`
    for open connections (the caller cancels what it does not want to wait for).
    """
    wrapped = wrap_app(app, config.wsgi_max_body_size, "asgi")
    lifespan_state: dict[str, Any] = {}
    lifespan = Lifespan(wrapped, config, lifespan_state)
    context = WorkerContext(None)
    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        async with trio.open_nursery() as connections:
            listeners: list[trio.abc.Listener[trio.SocketStream]] = []
            binds = []
            for sock in config.create_sockets().insecure_sockets:
                sock.listen(config.backlog)
                inner = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
                listeners.append(LimitedListener(inner, counts))
                binds.append(f"http://{repr_socket_addr(sock.family, sock.getsockname())}")
            state = ConnectionState(lifespan_state.copy())

            async def handle(stream: trio.SocketStream) -> None:
                try:
                    server = HeadDeadlineServer(
                        wrapped,
                        config,
                        context,
                        state,
                        stream,
                        header_timeout=header_timeout,
                        send_timeout=send_timeout,
                        counts=counts,
                    )
                    await server.run()
                except Exception:
                    # One connection's failure must not end the server (and
                    # with it every other connection).
                    log.exception("HTTP connection failed")
                finally:
                    counts.release(stream)

            task_status.started(binds)
            try:
                async with trio.open_nursery() as accepting:
                    accepting.start_soon(
                        functools.partial(
                            trio.serve_listeners, handle, listeners, handler_nursery=connections
                        )
                    )
                    await shutdown_trigger()
                    accepting.cancel_scope.cancel()  # closes the listeners
            finally:
                await context.terminated.set()  # idle keep-alive connections close now
                connections.cancel_scope.deadline = trio.current_time() + config.graceful_timeout
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()
