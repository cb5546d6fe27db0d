"""The outbound HTTP client (monitor/outbound.py) against local receivers: what it
answers when the receiver is slow, answers too much, redirects too often, or lives
at an address that is not public."""

from __future__ import annotations

import ipaddress

import trio
from hypothesis import given
from hypothesis import strategies as st

from monitor.outbound import SHOWN_BODY_BYTES, OutboundLimits, address_refused, send
from receivers import Received, Reply, start_receiver

FAST = OutboundLimits(connect_timeout=2, read_timeout=2, total_timeout=5)


async def test_a_post_answers_the_status_headers_and_body(nursery: trio.Nursery) -> None:
    async def created(request: Received) -> Reply:
        return Reply(201, b'{"id": 7}', (("x-receiver", "yes"),))

    receiver = await start_receiver(nursery, created)
    result = await send(
        FAST, "POST", receiver.url + "/hook", content=b'{"a": 1}', headers={"X-Test": "1"}
    )
    assert result.delivered
    assert (result.status, result.body, result.failure) == (201, '{"id": 7}', None)
    assert result.headers["x-receiver"] == "yes"
    [arrived] = receiver.requests
    assert (arrived.method, arrived.path, arrived.body) == ("POST", "/hook", b'{"a": 1}')
    assert arrived.headers["x-test"] == "1"
    assert arrived.headers["user-agent"].startswith("monitor-notifier/")


async def test_an_error_status_is_an_answer_not_a_failure_but_not_delivered(
    nursery: trio.Nursery,
) -> None:
    async def broken(_: Received) -> Reply:
        return Reply(500, b"x" * (SHOWN_BODY_BYTES + 10))

    receiver = await start_receiver(nursery, broken)
    result = await send(FAST, "POST", receiver.url)
    assert not result.delivered and result.failure is None
    assert result.status == 500
    assert len(result.body) == SHOWN_BODY_BYTES and result.body_truncated


async def test_a_receiver_that_does_not_answer_times_out_on_the_read_timeout(
    nursery: trio.Nursery,
) -> None:
    async def stalls(_: Received) -> Reply:
        return Reply(delay=30)

    receiver = await start_receiver(nursery, stalls)
    limits = OutboundLimits(connect_timeout=1, read_timeout=0.3, total_timeout=10)
    started = trio.current_time()
    result = await send(limits, "POST", receiver.url)
    assert result.failure is not None and result.failure.kind == "timeout"
    assert "waiting for the answer" in result.failure.message
    assert trio.current_time() - started < 5


async def test_the_total_timeout_bounds_a_body_that_trickles(nursery: trio.Nursery) -> None:
    async def endless(_: Received) -> Reply:
        return Reply(endless=True)

    receiver = await start_receiver(nursery, endless)
    # A cap far above what can arrive in the time: only the total timeout can stop it.
    limits = OutboundLimits(
        connect_timeout=1, read_timeout=5, total_timeout=0.5, max_response_bytes=2**40
    )
    result = await send(limits, "GET", receiver.url)
    assert result.failure is not None and result.failure.kind == "timeout"
    assert "0.5 s" in result.failure.message


async def test_reading_stops_at_the_size_cap(nursery: trio.Nursery) -> None:
    async def endless(_: Received) -> Reply:
        return Reply(endless=True)

    receiver = await start_receiver(nursery, endless)
    limits = OutboundLimits(total_timeout=10, max_response_bytes=100_000)
    result = await send(limits, "POST", receiver.url)
    assert result.failure is not None and result.failure.kind == "too_large"
    assert "100000 bytes" in result.failure.message
    assert result.status == 200 and not result.delivered
    assert result.body_truncated and len(result.body) == SHOWN_BODY_BYTES


async def test_redirects_are_followed_up_to_the_limit(nursery: trio.Nursery) -> None:
    async def hops(request: Received) -> Reply:
        step = int(request.path.strip("/") or "0")
        if step < 3:
            return Reply(307, b"", (("location", f"/{step + 1}"),))
        return Reply(200, b"arrived")

    receiver = await start_receiver(nursery, hops)
    three = await send(OutboundLimits(max_redirects=3), "POST", receiver.url + "/0", content=b"b")
    assert three.delivered and three.body == "arrived"
    assert [request.path for request in receiver.requests] == ["/0", "/1", "/2", "/3"]
    assert receiver.requests[-1].body == b"b"  # 307 keeps the method and body

    two = await send(OutboundLimits(max_redirects=2), "POST", receiver.url + "/0")
    assert two.failure is not None and two.failure.kind == "too_many_redirects"
    none = await send(OutboundLimits(max_redirects=0), "POST", receiver.url + "/0")
    assert none.status == 307 and not none.delivered  # not followed: the redirect is the answer


async def test_private_addresses_are_refused_only_when_asked(nursery: trio.Nursery) -> None:
    receiver = await start_receiver(nursery)
    refusing = OutboundLimits(refuse_private=True)
    for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
        result = await send(refusing, "POST", f"http://{host}:{receiver.port}/")
        assert result.failure is not None and result.failure.kind == "refused_address", host
        assert "not a public address" in result.failure.message
    assert receiver.requests == []  # nothing was sent
    assert (await send(OutboundLimits(), "POST", f"http://localhost:{receiver.port}/")).delivered


async def test_the_check_is_made_on_the_resolved_addresses(nursery: trio.Nursery) -> None:
    """A public-looking name that resolves to a private address is refused; one whose
    every address passes is connected to at the address checked."""
    receiver = await start_receiver(nursery)
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.216.34", "10.1.2.3"]  # one public, one private: refused

    refusing = OutboundLimits(refuse_private=True)
    result = await send(
        refusing, "POST", f"http://hooks.example.com:{receiver.port}/", resolver=rebinding
    )
    assert result.failure is not None and result.failure.kind == "refused_address"
    assert "10.1.2.3" in result.failure.message and asked == ["hooks.example.com"]


async def test_every_redirect_hop_is_checked(nursery: trio.Nursery) -> None:
    """Here 127.0.0.2 stands for the private network and 127.0.0.1 for the internet:
    the first hop passes the check, the redirect's target is refused before any byte
    reaches it."""
    inside = await start_receiver(nursery, host="127.0.0.2")

    async def to_inside(_: Received) -> Reply:
        return Reply(307, b"", (("location", f"{inside.url}/secret"),))

    outside = await start_receiver(nursery, to_inside)
    result = await send(
        OutboundLimits(refuse_private=True),
        "POST",
        outside.url,
        refused=lambda address: str(address) == "127.0.0.2",
    )
    assert result.failure is not None and result.failure.kind == "refused_address"
    assert "127.0.0.2" in result.failure.message
    assert len(outside.requests) == 1 and inside.requests == []


async def test_urls_that_cannot_be_sent_to_are_failures() -> None:
    for url in ("ftp://example.com/x", "not a url", "http://"):
        result = await send(FAST, "POST", url)
        assert result.failure is not None and result.failure.kind == "invalid_url", url


async def test_a_closed_port_is_a_connect_error(nursery: trio.Nursery) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()
    result = await send(FAST, "POST", f"http://127.0.0.1:{port}/")
    assert result.failure is not None and result.failure.kind == "connect_error"


@given(st.ip_addresses())
def test_only_global_unicast_addresses_pass(address: ipaddress.IPv4Address) -> None:
    expected = not address.is_global or address.is_multicast
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        mapped = address.ipv4_mapped
        expected = not mapped.is_global or mapped.is_multicast
    assert address_refused(address) is expected


def test_well_known_addresses() -> None:
    for refused in (
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "224.0.0.1",
    ):
        assert address_refused(ipaddress.ip_address(refused)), refused
    for allowed in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:8.8.8.8"):
        assert not address_refused(ipaddress.ip_address(allowed)), allowed


async def test_a_slow_name_resolution_is_a_connect_timeout() -> None:
    async def stalls(host: str, port: int) -> list[str]:
        await trio.sleep(30)
        return ["93.184.216.34"]

    limits = OutboundLimits(
        connect_timeout=0.2, read_timeout=5, total_timeout=10, refuse_private=True
    )
    started = trio.current_time()
    result = await send(limits, "POST", "http://hooks.example.com/", resolver=stalls)
    assert result.failure is not None and result.failure.kind == "timeout"
    assert result.failure.message == "timed out connecting"
    assert trio.current_time() - started < 5


async def test_a_redirect_to_another_origin_does_not_carry_private_headers(
    nursery: trio.Nursery,
) -> None:
    elsewhere = await start_receiver(nursery)

    async def away(request: Received) -> Reply:
        if request.path == "/same":
            return Reply(307, b"", (("location", f"{elsewhere.url}/other"),))
        return Reply(307, b"", (("location", "/same"),))

    origin = await start_receiver(nursery, away)
    headers = {"X-Api-Key": "private", "Authorization": "Bearer t", "X-Team": "ops"}
    result = await send(
        FAST,
        "POST",
        origin.url + "/first",
        content=b"{}",
        headers=headers,
        private_headers=frozenset({"x-api-key"}),
    )
    assert result.delivered
    _, same = origin.requests
    assert same.path == "/same" and same.headers["x-api-key"] == "private"  # same origin
    [other] = elsewhere.requests
    assert other.body == b"{}" and other.headers["x-team"] == "ops"
    assert "x-api-key" not in other.headers and "authorization" not in other.headers


async def test_a_303_becomes_a_get_without_body(nursery: trio.Nursery) -> None:
    async def see_other(request: Received) -> Reply:
        if request.path == "/done":
            return Reply(200, request.method.encode())
        return Reply(303, b"", (("location", "/done"),))

    receiver = await start_receiver(nursery, see_other)
    result = await send(FAST, "POST", receiver.url, content=b'{"a": 1}')
    assert result.delivered and result.body == "GET"
    assert receiver.requests[-1].body == b""
    assert "content-type" not in receiver.requests[-1].headers


async def test_a_redirect_to_another_scheme_is_a_failure(nursery: trio.Nursery) -> None:
    async def to_ftp(_: Received) -> Reply:
        return Reply(302, b"", (("location", "ftp://example.com/x"),))

    receiver = await start_receiver(nursery, to_ftp)
    result = await send(FAST, "POST", receiver.url)
    assert result.failure is not None and result.failure.kind == "invalid_url"
