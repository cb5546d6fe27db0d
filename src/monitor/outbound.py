"""The one way the service sends HTTP requests out: to notification receivers.

httpx on Trio, with every wait bounded: connecting (name resolution
included), each read and write, and the whole request (redirects and the
answer's body included). The answer is read as a stream and reading stops
at `max_response_bytes`, so a receiver cannot make the service hold a huge
body. At most `max_redirects` redirects are followed, here rather than by
httpx, so that a channel's secret headers are not carried to another origin.

With `refuse_private`, every address a receiver's name resolves to must be
public (`ipaddress`'s `is_global`): the check is made on the resolved
addresses, not on the name, at every connection (each redirect included),
and the connection is then made to the address that was checked, so a name
that resolves differently a moment later (DNS rebinding) cannot slip a
private address in. TLS still verifies the certificate for the name.

No proxy settings are read from the environment (`trust_env` off): a proxy
would make the address check meaningless.

Every outcome is an `OutboundResult`: the status, headers and the start of
the body when there was an answer, and a `failure` (kind and message) when
the request did not complete. Nothing raises for a receiver's behaviour.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx
import trio

from monitor.config import Settings

# The start of a receiver's answer kept for people to read (a channel's test).
SHOWN_BODY_BYTES = 4096
USER_AGENT = "monitor-notifier/1"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
AddressCheck = Callable[[IPAddress], bool]  # True: refused


@dataclass(frozen=True)
class OutboundLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    max_response_bytes: int = 256 * 1024
    max_redirects: int = 3
    refuse_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundLimits:
        return cls(
            connect_timeout=settings.outbound_connect_timeout.total_seconds(),
            read_timeout=settings.outbound_read_timeout.total_seconds(),
            total_timeout=settings.outbound_timeout.total_seconds(),
            max_response_bytes=settings.outbound_max_response_bytes,
            max_redirects=settings.outbound_max_redirects,
            refuse_private=settings.outbound_refuse_private,
        )


@dataclass(frozen=True)
class Failure:
    """Why a request did not complete. `kind` is one of: timeout, refused_address,
    too_large, too_many_redirects, connect_error, tls_error, invalid_url,
    protocol_error, secret_unreadable, smtp_error."""

    kind: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class OutboundResult:
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""  # the first SHOWN_BODY_BYTES of the answer, decoded leniently
    body_truncated: bool = False
    failure: Failure | None = None

    @property
    def delivered(self) -> bool:
        """The receiver took it: an answer 2xx, read whole."""
        return self.failure is None and self.status is not None and 200 <= self.status < 300


def failed(kind: str, message: str) -> OutboundResult:
    return OutboundResult(failure=Failure(kind, message))


def address_refused(address: IPAddress) -> bool:
    """Whether a receiver at `address` is refused when private addresses are: anything not
    publicly routable (private, loopback, link-local, shared, multicast, reserved,
    unspecified), an IPv4 address written as IPv6 judged as the IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


class AddressRefused(Exception):
    """A receiver's name resolved to an address that is not public."""


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order."""
    found = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for *_, sockaddr in found:
        text = str(sockaddr[0])
        if text not in addresses:
            addresses.append(text)
    return addresses


async def checked_addresses(
    host: str, port: int, resolver: Resolver = resolve, refused: AddressCheck = address_refused
) -> list[str]:
    """The addresses of `host` when each one is public; AddressRefused otherwise.

    Every address is checked, not only the first: a name with one public and
    one private address is refused, since a later connection could pick either.
    """
    try:
        addresses = await resolver(host, port)
    except OSError as problem:
        raise httpcore.ConnectError(f"cannot resolve {host}: {problem}") from None
    for text in addresses:
        if refused(ipaddress.ip_address(text.split("%", 1)[0])):
            raise AddressRefused(
                f"{host} resolves to {text}, which is not a public address "
                "(MONITOR_OUTBOUND_REFUSE_PRIVATE is on)"
            )
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve {host}: no address")
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's Trio backend, connecting only to addresses that pass the check."""

    def __init__(
        self,
        *,
        refuse_private: bool,
        resolver: Resolver = resolve,
        refused: AddressCheck = address_refused,
    ) -> None:
        self._inner = httpcore.TrioBackend()
        self._refuse_private = refuse_private
        self._resolver = resolver
        self._refused = refused

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if not self._refuse_private:
            return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            with trio.fail_after(float("inf") if timeout is None else timeout):
                addresses = await checked_addresses(host, port, self._resolver, self._refused)
        except trio.TooSlowError:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
        last: Exception | None = None
        for address in addresses:  # the ones checked, so the name is not resolved again
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as problem:
                last = problem
        assert last is not None
        raise last

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The system's trusted authorities, loaded once: loading them takes ~40 ms, more
    than a whole exchange with a nearby receiver."""
    return ssl.create_default_context()


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, backend: GuardedBackend) -> None:
        super().__init__(verify=tls_context(), trust_env=False)
        # httpx 0.28 does not take a network backend; its pool does.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls_context(),
            network_backend=backend,
            max_connections=10,
            keepalive_expiry=5.0,
        )


def _client(limits: OutboundLimits, resolver: Resolver, refused: AddressCheck) -> httpx.AsyncClient:
    backend = GuardedBackend(
        refuse_private=limits.refuse_private, resolver=resolver, refused=refused
    )
    return httpx.AsyncClient(
        transport=_GuardedTransport(backend),
        timeout=httpx.Timeout(
            connect=limits.connect_timeout,
            read=limits.read_timeout,
            write=limits.read_timeout,
            pool=limits.connect_timeout,
        ),
        follow_redirects=False,  # followed by _exchange, which knows which headers are private
        trust_env=False,
    )


def _shown(body: bytes, total: int) -> tuple[str, bool]:
    return body[:SHOWN_BODY_BYTES].decode("utf-8", "replace"), total > SHOWN_BODY_BYTES


async def _read(response: httpx.Response, limits: OutboundLimits) -> OutboundResult:
    """The answer's status, headers and the start of its body, reading at most the cap."""
    kept = bytearray()  # only what is shown; the rest is counted, not held
    total = 0
    too_large = False
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if len(kept) <= SHOWN_BODY_BYTES:
            kept.extend(chunk[: SHOWN_BODY_BYTES + 1 - len(kept)])
        if total > limits.max_response_bytes:
            too_large = True  # stop reading: the rest is never fetched
            break
    body, truncated = _shown(bytes(kept), total)
    failure = (
        Failure(
            "too_large",
            f"the answer's body passed {limits.max_response_bytes} bytes; reading stopped there",
        )
        if too_large
        else None
    )
    headers = dict(response.headers.items())
    return OutboundResult(response.status_code, headers, body, truncated or too_large, failure)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def redirected(
    request: httpx.Request, response: httpx.Response, private_headers: frozenset[str]
) -> httpx.Request:
    """The request a redirect asks for, as browsers (and httpx) make it: 303, and 301/302
    after a POST, become a GET without body; 307/308 repeat the method and body. To
    another origin, `Authorization`, `Cookie` and the caller's `private_headers` (a
    channel's secret headers) are not sent."""
    url = request.url.join(response.headers["location"])
    if url.scheme not in {"http", "https"} or not url.host:
        raise httpx.UnsupportedProtocol(f"redirected to {url.scheme or 'a relative'} URL")
    method = request.method
    if response.status_code == 303 and method != "HEAD":
        method = "GET"
    if response.status_code in (301, 302) and method == "POST":
        method = "GET"
    headers = httpx.Headers(request.headers)
    headers.pop("Host", None)
    content = request.content if method == request.method else b""
    if method != request.method:
        for name in ("Content-Length", "Content-Type", "Transfer-Encoding"):
            headers.pop(name, None)
    if _origin(url) != _origin(request.url):
        dropped = {"authorization", "cookie", *(name.lower() for name in private_headers)}
        headers = httpx.Headers([(k, v) for k, v in headers.items() if k.lower() not in dropped])
    return httpx.Request(method, url, headers=headers, content=content)


async def _exchange(
    client: httpx.AsyncClient,
    limits: OutboundLimits,
    request: httpx.Request,
    private_headers: frozenset[str],
) -> OutboundResult:
    """Send `request`, following at most `max_redirects` redirects (each hop's connection
    checked by the backend like the first)."""
    for hop in range(limits.max_redirects + 1):
        response = await client.send(request, stream=True)
        try:
            if not response.has_redirect_location or limits.max_redirects == 0:
                return await _read(response, limits)
            if hop == limits.max_redirects:
                raise httpx.TooManyRedirects("too many redirects", request=request)
            request = redirected(request, response, private_headers)
        finally:
            await response.aclose()
    raise AssertionError("unreachable: the last hop returns or raises")


async def send(
    limits: OutboundLimits,
    method: str,
    url: str,
    *,
    content: bytes = b"",
    headers: Mapping[str, str] | None = None,
    private_headers: frozenset[str] = frozenset(),
    resolver: Resolver = resolve,
    refused: AddressCheck = address_refused,
) -> OutboundResult:
    """Send one request and read its answer, within `limits`; never raises for the
    receiver's doing (timeouts, refusals, bad answers are `failure`s). `private_headers`
    are not sent on to a redirect's other origin."""
    try:
        request = httpx.Request(
            method, url, content=content, headers={"User-Agent": USER_AGENT, **(headers or {})}
        )
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as problem:
        return failed("invalid_url", f"cannot send to this URL: {problem}")
    if request.url.scheme not in {"http", "https"} or not request.url.host:
        return failed("invalid_url", "only http and https URLs are sent to")
    try:
        async with _client(limits, resolver, refused) as client:
            with trio.fail_after(limits.total_timeout):
                return await _exchange(client, limits, request, private_headers)
    except trio.TooSlowError:
        return failed("timeout", f"no complete answer within {limits.total_timeout:g} s")
    except AddressRefused as refusal:
        return failed("refused_address", str(refusal))
    except httpx.TooManyRedirects:
        return failed("too_many_redirects", f"more than {limits.max_redirects} redirects")
    except httpx.TimeoutException as problem:
        which = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for the answer",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a connection",
        }.get(type(problem), "waiting")
        return failed("timeout", f"timed out {which}")
    except httpx.UnsupportedProtocol as problem:
        return failed("invalid_url", f"redirected to a URL that is not sent to: {problem}")
    except httpx.ConnectError as problem:
        text = str(problem) or type(problem).__name__
        kind = "tls_error" if "SSL" in text or "certificate" in text else "connect_error"
        return failed(kind, f"cannot connect: {text}"[:500])
    except (httpx.TransportError, httpx.DecodingError) as problem:
        return failed("protocol_error", f"{type(problem).__name__}: {problem}"[:500])
