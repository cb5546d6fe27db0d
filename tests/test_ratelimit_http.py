"""Rate limits as a client sees them: 429s, Retry-After and RateLimit headers.

Limits are small and periods long (an hour, a minute), so nothing refills
noticeably while a test runs. Different client addresses come through
X-Forwarded-For with 127.0.0.1 as a trusted proxy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    open_websocket_url,
)

from conftest import MakeKey, StartService, make_settings
from monitor.domain.client_ip import TrustedProxies
from ws_helpers import ws_url

EVENTS = "/api/v1/events"


def limited_settings(database_url: str, tmp_path: Path, **limits: Any) -> Any:
    return make_settings(
        database_url, tmp_path, trusted_proxies=TrustedProxies.parse("127.0.0.1"), **limits
    )


def key_headers(token: str, address: str = "198.51.100.1") -> dict[str, str]:
    return {"X-API-Key": token, "X-Forwarded-For": address}


def limit_headers(response: httpx.Response) -> tuple[int, int, int]:
    return (
        int(response.headers["RateLimit-Limit"]),
        int(response.headers["RateLimit-Remaining"]),
        int(response.headers["RateLimit-Reset"]),
    )


async def test_a_key_over_its_limit_gets_429_at_the_right_request_and_does_no_work(
    start_service: StartService, database_url: str, tmp_path: Path, make_key: MakeKey
) -> None:
    service = await start_service(limited_settings(database_url, tmp_path))
    _, small = await make_key("write", rate_limit=3)
    _, other = await make_key("write", rate_limit=3)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:
        seen = []
        for _ in range(3):
            response = await http.get(EVENTS, headers=key_headers(small))
            assert response.status_code == 200
            seen.append(limit_headers(response))
        # 3 per hour: one request back every 20 minutes, the whole burst after an hour.
        assert [(limit, remaining) for limit, remaining, _ in seen] == [(3, 2), (3, 1), (3, 0)]
        assert [reset for _, _, reset in seen] == [1200, 2400, 3600]

        refused = await http.post(
            EVENTS,
            headers=key_headers(small),
            json={"type": "deploy", "message": "must not be stored"},
        )
        assert refused.status_code == 429
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.json()["type"] == "urn:monitor:problem:rate-limited"
        assert refused.headers["Retry-After"] == "1200"
        assert limit_headers(refused) == (3, 0, 3600)

        # Another key, from the same address, is unaffected.
        assert (await http.get(EVENTS, headers=key_headers(other))).status_code == 200
        stored = await http.get(EVENTS, headers=key_headers(other), params={"q": "must not"})
        assert stored.json()["events"] == []


async def test_null_means_the_server_default_and_zero_means_unlimited(
    start_service: StartService, database_url: str, tmp_path: Path, make_key: MakeKey
) -> None:
    settings = limited_settings(database_url, tmp_path, rate_limit_per_key=2)
    service = await start_service(settings)
    _, default = await make_key("read")
    _, unlimited = await make_key("read", rate_limit=0)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:
        codes = [
            (await http.get(EVENTS, headers=key_headers(default))).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        for _ in range(5):
            response = await http.get(EVENTS, headers=key_headers(unlimited))
            assert response.status_code == 200
            # The address's limit is the one that binds for an unlimited key.
            assert limit_headers(response)[0] == settings.rate_limit_per_ip


async def test_an_address_over_its_limit_gets_429_and_other_addresses_do_not(
    start_service: StartService, database_url: str, tmp_path: Path, make_key: MakeKey
) -> None:
    settings = limited_settings(database_url, tmp_path, rate_limit_per_ip=4, rate_limit_per_key=0)
    service = await start_service(settings)
    _, token = await make_key("read")
    busy = {"X-Forwarded-For": "203.0.113.5"}
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:
        # Every request counts: unauthenticated, unknown routes and invalid bodies too,
        # and each error carries the headers.
        answers = [
            await http.get(EVENTS, headers=busy),
            await http.get("/api/v1/nowhere", headers=busy),
            await http.post(EVENTS, headers={**busy, "X-API-Key": token}, json={"type": 1}),
            await http.get(EVENTS, headers={**busy, "X-API-Key": token}),
        ]
        assert [a.status_code for a in answers] == [401, 404, 403, 200]
        assert [limit_headers(a)[:2] for a in answers] == [(4, 3), (4, 2), (4, 1), (4, 0)]

        refused = await http.get(EVENTS, headers={**busy, "X-API-Key": token})
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "15"  # 4 per minute
        assert (await http.get(EVENTS, headers=busy)).status_code == 429

        # Operational routes are exempt and say nothing about limits.
        for path in ("/health", "/health/ready", "/openapi.json", "/docs"):
            exempt = await http.get(path, headers=busy)
            assert exempt.status_code == 200, path
            assert "RateLimit-Limit" not in exempt.headers

        elsewhere = await http.get(
            EVENTS, headers={"X-Forwarded-For": "203.0.113.6", "X-API-Key": token}
        )
        assert elsewhere.status_code == 200
        assert limit_headers(elsewhere)[:2] == (4, 3)


async def test_the_forwarded_address_is_ignored_unless_the_peer_is_a_trusted_proxy(
    start_service: StartService, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, rate_limit_per_ip=2)
    service = await start_service(settings)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:
        codes = [
            (await http.get("/stats", headers={"X-Forwarded-For": f"198.51.100.{n}"})).status_code
            for n in range(3)
        ]
    assert codes == [401, 401, 429]


async def test_failed_authentications_are_throttled_per_address_but_valid_keys_still_work(
    start_service: StartService, database_url: str, tmp_path: Path, make_key: MakeKey
) -> None:
    settings = limited_settings(database_url, tmp_path, auth_failures_per_ip=2)
    service = await start_service(settings)
    _, token = await make_key("read")
    guesser = "192.0.2.66"
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:
        wrong = f"{token[:-4]}AAAA"
        first = await http.get(EVENTS, headers=key_headers(wrong, guesser))
        second = await http.get(EVENTS, headers={"X-Forwarded-For": guesser})
        assert [first.status_code, second.status_code] == [401, 401]

        for headers in (
            key_headers(wrong, guesser),
            key_headers("mon_garbage", guesser),
            {"X-Forwarded-For": guesser},
        ):
            refused = await http.get(EVENTS, headers=headers)
            assert refused.status_code == 429
            assert refused.headers["Retry-After"] == "30"  # 2 failures per minute
            assert "failed authentications" in refused.json()["detail"]

        assert (await http.get(EVENTS, headers=key_headers(token, guesser))).status_code == 200
        innocent = await http.get(EVENTS, headers=key_headers(wrong, "192.0.2.67"))
        assert innocent.status_code == 401


async def test_a_websocket_upgrade_counts_as_a_request(
    start_service: StartService, database_url: str, tmp_path: Path, make_key: MakeKey
) -> None:
    service = await start_service(limited_settings(database_url, tmp_path, rate_limit_per_ip=2))
    _, small = await make_key("read", rate_limit=1)
    _, other = await make_key("read")
    url = ws_url(service.base_url)

    @asynccontextmanager
    async def upgrade(token: str, address: str) -> AsyncIterator[WebSocketConnection]:
        headers = [(b"X-API-Key", token.encode()), (b"X-Forwarded-For", address.encode())]
        async with open_websocket_url(
            url, extra_headers=headers, connect_timeout=10, disconnect_timeout=5
        ) as ws:
            try:
                yield ws
            finally:
                await trio.aclose_forcefully(ws._stream)

    async with upgrade(small, "198.51.100.7") as ws:
        await ws.send_message('{"type":"ping"}')
        assert '"pong"' in await ws.get_message()
    # The key's one request is spent: its next upgrade is closed with 1013.
    async with upgrade(small, "198.51.100.7") as ws:
        with trio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.get_message()
    assert closed.value.reason.code == 1013
    assert "over its rate limit" in (closed.value.reason.reason or "")

    # The address has made its 2 requests this minute: the third upgrade, even
    # with a fresh key, is refused in plain HTTP before it starts.
    handshake = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as http:
        rejected = await http.get(
            "/ws", headers={**handshake, **key_headers(other, "198.51.100.7")}
        )
    assert rejected.status_code == 429
    assert rejected.headers["Retry-After"] == "30"
    assert rejected.headers["RateLimit-Limit"] == "2"
    assert rejected.headers["Content-Type"] == "application/problem+json"
    # Another address is not held back.
    async with upgrade(other, "198.51.100.8") as ws:
        await ws.send_message('{"type":"ping"}')
        assert '"pong"' in await ws.get_message()
