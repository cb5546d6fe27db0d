"""Hostile or outlived websocket clients: revoked or expiring keys, oversized or nested messages."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, WebSocketConnection
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Event, Request, TextMessage

from conftest import MakeKey, StartService, Transport, set_connections_allowed
from monitor.config import Settings
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.live_connections import CLOSE_GRACE
from monitor.service import WEBSOCKET_MAX_MESSAGE_BYTES
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from monitor.web.ws.routes import MAX_MESSAGE_DEPTH, Unparsable, parse_message
from ws_helpers import connect, receive, send, subscribe

TTL = 1.0  # MONITOR_KEY_CACHE_TTL for these tests
SLACK = 1.0  # seconds allowed beyond a bound: a loaded machine, a query's round trip


async def closed_with(connection: WebSocketConnection, timeout: float) -> tuple[int, str]:
    with trio.fail_after(timeout), pytest.raises(ConnectionClosed) as closed:
        while True:
            await connection.get_message()
    return closed.value.reason.code, str(closed.value.reason.reason)


async def still_open(connection: WebSocketConnection, tag: str) -> None:
    await send(connection, {"type": "ping", "id": tag})
    assert await receive(connection) == {"type": "pong", "id": tag}


class Counting(logging.Handler):
    """Counts records whose message starts with `text`; `reached(n)` waits for the n-th."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.count = 0
        self._changed = trio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.text):
            self.count += 1
            self._changed.set()  # the service logs on this test's Trio thread

    async def reached(self, count: int) -> None:
        while self.count < count:
            self._changed = trio.Event()
            await self._changed.wait()


@contextmanager
def counting(logger: str, text: str) -> Iterator[Counting]:
    handler = Counting(text)
    target = logging.getLogger(logger)
    previous = target.level
    target.addHandler(handler)
    target.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        target.removeHandler(handler)
        target.setLevel(previous)


@pytest.mark.parametrize("where", ["through this instance's API", "in the database"])
async def test_a_revoked_key_closes_its_websockets_within_the_key_cache_ttl(
    start_service: StartService,
    settings: Settings,
    make_key: MakeKey,
    gateway: Any,
    where: str,
    transport: Transport,
) -> None:
    record, token = await make_key("read")
    other_token = (await make_key("read"))[1]
    admin_token = (await make_key("admin"))[1]
    service = await start_service(settings.replace(key_cache_ttl=timedelta(seconds=TTL)))
    async with (
        connect(service.base_url, token) as ws,
        connect(service.base_url, other_token) as other,
        httpx.AsyncClient(base_url=service.base_url, timeout=10) as http,
    ):
        await subscribe(ws, "events:realtime")
        await subscribe(other, "events:realtime")
        revoked_at = trio.current_time()
        if where == "in the database":  # as another instance would: this one's cache knows nothing
            assert (
                await key_store.revoke_key(
                    gateway, record.id, by=Attribution(Actor.system("tests"))
                )
                is not None
            )
        else:
            response = await http.delete(
                f"/api/v1/keys/{record.id}", headers={"X-API-Key": admin_token}
            )
            assert response.status_code == 200
        assert await closed_with(ws, TTL + SLACK + 5) == (1008, "key revoked")
        assert trio.current_time() - revoked_at <= TTL + SLACK
        await still_open(other, "other key")
        stats = await http.get("/stats", headers={"X-API-Key": admin_token})
    assert stats.json()["realtime"]["connections"] == 1


# One transport is enough here and in the next test: they are about when the
# credential watch closes a connection, and that close (1008, through Quart)
# is the same on both; the revoked-key test above runs on both.
async def test_an_expiring_key_closes_its_websockets_when_it_expires(
    start_service: StartService, settings: Settings, make_key: MakeKey
) -> None:
    # Expiry needs no query.
    service = await start_service(settings.replace(key_cache_ttl=timedelta(seconds=30)))
    expires_at = datetime.now(UTC) + timedelta(seconds=2)
    token = (await make_key("read", expires_at=expires_at))[1]
    async with connect(service.base_url, token) as ws:
        await subscribe(ws, "events:realtime")
        assert await closed_with(ws, 10) == (1008, "key expired")
    late = datetime.now(UTC) - expires_at
    assert timedelta(0) <= late <= timedelta(seconds=SLACK)


async def test_a_database_outage_closes_nothing_and_a_revocation_is_noticed_after_it(
    start_service: StartService, settings: Settings, empty_database_url: str
) -> None:
    service = await start_service(
        settings.replace(
            database_url=empty_database_url,
            key_cache_ttl=timedelta(seconds=TTL),
            # Each check during the outage waits this long for a connection: at the 5 s
            # default, three failed checks could outlast the wait below on a busy machine.
            db_acquire_timeout=timedelta(seconds=1),
        )
    )
    async with open_gateway(
        empty_database_url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as own_gateway:
        record, token = await key_store.create_key(
            own_gateway,
            name="outage",
            role=Role.READ,
            rate_limit=None,
            expires_at=None,
            by=Attribution(Actor.system("t")),
        )
    with counting("monitor.actors.live.credential_watch", "could not check") as failed:
        async with connect(service.base_url, token) as ws:
            await subscribe(ws, "events:realtime")
            set_connections_allowed(empty_database_url, allowed=False)
            try:
                with trio.fail_after(10 * TTL + 10):
                    await failed.reached(3)
                await still_open(ws, "during the outage")
            finally:
                set_connections_allowed(empty_database_url, allowed=True)
            # Revoked by another instance once the database is back: noticed.
            async with open_gateway(
                empty_database_url,
                pool_size=1,
                statement_timeout=10,
                acquire_timeout=5,
                connect_timeout=5,
            ) as own_gateway:
                await key_store.revoke_key(
                    own_gateway, record.id, by=Attribution(Actor.system("another instance"))
                )
            assert await closed_with(ws, 15) == (1008, "key revoked")


@asynccontextmanager
async def raw_connect(base_url: str, token: str) -> AsyncIterator[RawClient]:
    host, port = base_url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        client = RawClient(stream)
        await client.send(
            Request(host=host, target="/ws", extra_headers=[(b"x-api-key", token.encode())])
        )
        with trio.fail_after(10):
            assert isinstance(await client.next_event(), AcceptConnection)
        yield client


class RawClient:
    """A websocket client on a plain socket that answers nothing by itself (not even a close)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending: list[Event] = []

    async def send(self, event: Event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def next_event(self) -> Event | None:
        """The next event, or None once the server has closed the TCP connection."""
        while not self.pending:
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.ws.receive_data(data)
            self.pending.extend(self.ws.events())
        return self.pending.pop(0)


# Direct transport only: Hypercorn closes with 1009 without telling the
# application, and only the direct transport can see that close beneath
# (`closed_beneath`); through Quart the connection waits for the client.
async def test_a_message_too_big_ends_the_tcp_connection_even_if_the_client_never_answers(
    start_service: StartService,
    settings: Settings,
    make_key: MakeKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.access")
    token = (await make_key("read"))[1]
    service = await start_service(settings)
    async with (
        raw_connect(service.base_url, token) as client,
        httpx.AsyncClient(base_url=service.base_url, timeout=10) as http,
    ):
        big = "x" * (WEBSOCKET_MAX_MESSAGE_BYTES + 1)
        await client.send(TextMessage(data=json.dumps({"type": "ping", "id": big})))
        with trio.fail_after(10):
            event = await client.next_event()
            while not isinstance(event, CloseConnection):
                event = await client.next_event()
        assert event.code == 1009
        closed_at = trio.current_time()
        # The client never answers the close; the server ends the connection anyway.
        with trio.fail_after(CLOSE_GRACE + SLACK + 5):
            while await client.next_event() is not None:
                pass
        assert trio.current_time() - closed_at <= CLOSE_GRACE + SLACK
        stats = await http.get("/stats", headers={"X-API-Key": token})
    assert stats.json()["realtime"]["connections"] == 0
    lines = [r for r in caplog.records if r.name == "monitor.access" and r.msg == "websocket"]
    assert [(r.close_code, r.close_reason) for r in lines] == [(1009, "message too big")]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [MAX_MESSAGE_DEPTH + 1, 1000, 20_000])
async def test_a_deeply_nested_message_gets_an_error_and_the_connection_stays(
    start_service: StartService,
    settings: Settings,
    make_key: MakeKey,
    depth: int,
    transport: Transport,
) -> None:
    token = (await make_key("read"))[1]
    service = await start_service(settings)
    with counting("monitor.web.ws.routes", "websocket message not parsed") as logged:
        async with connect(service.base_url, token) as ws:
            await ws.send_message('{"type":"ping","id":' + nested(depth) + "}")
            answer = await receive(ws)
            assert answer == {
                "type": "error",
                "reason": f"a message may nest at most {MAX_MESSAGE_DEPTH} levels",
            }
            assert logged.count == 1
            await still_open(ws, "after the nested ping")


async def test_a_deeply_nested_first_message_is_refused_with_1008(
    start_service: StartService, settings: Settings
) -> None:
    service = await start_service(settings)
    async with connect(service.base_url) as ws:
        await ws.send_message('{"type":"auth","apiKey":' + nested(5000) + "}")
        code, reason = await closed_with(ws, 10)
    assert code == 1008 and reason.startswith("the first message must be")


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)  # JSON has neither
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


@given(value=json_values, wrap=st.integers(min_value=0, max_value=MAX_MESSAGE_DEPTH + 3))
def test_parse_message_accepts_exactly_the_values_within_the_depth_limit(
    value: Any, wrap: int
) -> None:
    for _ in range(wrap):
        value = [value]
    text = json.dumps(value)
    if depth_of(value) <= MAX_MESSAGE_DEPTH:
        assert parse_message(text) == value
    else:
        with pytest.raises(Unparsable, match="nest at most"):
            parse_message(text)
