"""Conventions every route follows: problem documents, size limit, request ids, logs."""

from __future__ import annotations

import logging
import secrets

import httpx
import pytest
import trio

from conftest import RunningService, StartService
from monitor.config import Settings

PROBLEM = "application/problem+json"


async def test_unknown_routes_are_404_problems(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no resource at /api/v1/nothing-here",
    }


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/health")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert "GET" in response.headers["allow"]


async def test_malformed_json_is_a_400_problem(client: httpx.AsyncClient, admin_token: str) -> None:
    response = await client.post(
        "/api/v1/keys",
        headers={"X-API-Key": admin_token, "Content-Type": "application/json"},
        content=b'{"name": "x", ',
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert "JSON" in response.json()["detail"]


async def test_non_json_body_is_refused(client: httpx.AsyncClient, admin_token: str) -> None:
    response = await client.post(
        "/api/v1/keys",
        headers={"X-API-Key": admin_token, "Content-Type": "text/plain"},
        content=b"name=x",
    )
    assert response.status_code in (400, 415)
    assert response.headers["content-type"] == PROBLEM


async def test_auth_is_checked_before_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/keys", content=b"not json")
    assert response.status_code == 401


async def test_oversized_bodies_get_413(
    start_service: StartService, settings: Settings, admin_token: str
) -> None:
    service = await start_service(settings.replace(max_request_bytes=2048))
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        response = await client.post(
            "/api/v1/keys",
            headers={"X-API-Key": admin_token},
            json={"name": "x" * 4096, "role": "read"},
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert "2048" in response.json()["detail"]


async def test_request_id_is_echoed_when_sane_and_generated_otherwise(
    client: httpx.AsyncClient,
) -> None:
    echoed = await client.get("/health", headers={"X-Request-ID": "abc-123.def"})
    assert echoed.headers["x-request-id"] == "abc-123.def"
    for offered in ("", "has spaces", "x" * 500, "<script>"):
        response = await client.get("/health", headers={"X-Request-ID": offered})
        generated = response.headers["x-request-id"]
        assert generated != offered and len(generated) == 32


async def test_one_access_log_line_per_request_without_secrets(
    client: httpx.AsyncClient, admin_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="monitor.access")
    await client.get(
        f"/stats?apiKey={admin_token}&x=1",
        headers={"X-API-Key": admin_token, "X-Request-ID": "trace-me"},
    )
    lines = [r for r in caplog.records if r.name == "monitor.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line.__dict__["request_id"] == "trace-me"
    assert line.__dict__["status"] == 200
    assert line.__dict__["method"] == "GET"
    assert "duration_ms" in line.__dict__
    assert admin_token not in caplog.text
    assert admin_token not in str(line.__dict__)
    assert "apiKey=%5Bredacted%5D" in line.__dict__["path"]


async def test_responses_are_json_with_iso_times(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    response = await client.get("/api/v1/keys", headers={"X-API-Key": admin_token})
    assert response.headers["content-type"] == "application/json"
    created_at = response.json()["keys"][0]["created_at"]
    assert created_at[4] == "-" and "T" in created_at


async def test_a_body_that_is_not_utf8_is_a_400(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    response = await client.post(
        "/api/v1/keys",
        headers={"X-API-Key": admin_token, "Content-Type": "application/json"},
        content=b"\r\xae\x18\xff",
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


async def test_an_error_before_the_body_is_read_does_not_stall_the_connection(
    client: httpx.AsyncClient,
) -> None:
    # Refused (401) before its body is read, then another request on the same
    # keep-alive connection: it must be answered, every time.
    for _ in range(30):
        with trio.fail_after(3):
            refused = await client.post(
                "/api/v1/events", headers={"Content-Type": "application/json"}, content=b"null"
            )
            assert refused.status_code == 401
            assert (await client.get("/health")).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/nope", "/api/v1/keys"])
async def test_a_websocket_handshake_on_a_plain_route_is_refused_not_a_500(
    running: RunningService, path: str
) -> None:
    port = running.running.port
    handshake = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with trio.fail_after(5):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(handshake.encode())
            status_line = (await stream.receive_some(4096)).split(b"\r\n", 1)[0]
    status = int(status_line.split()[1])
    assert status != 101 and status < 500, status_line


async def test_deeply_nested_json_is_a_400(client: httpx.AsyncClient, admin_token: str) -> None:
    response = await client.post(
        "/api/v1/keys",
        headers={"X-API-Key": admin_token, "Content-Type": "application/json"},
        content=b"[" * 5000 + b"]" * 5000,
    )
    assert response.status_code == 400


async def test_an_expiry_near_the_end_of_time_is_refused_not_a_500(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    response = await client.post(
        "/api/v1/keys",
        headers={"X-API-Key": admin_token},
        json={"name": "far", "role": "read", "expires_at": "9999-12-31T23:59:59-14:00"},
    )
    assert response.status_code == 400


async def test_blank_key_names_are_refused(client: httpx.AsyncClient, admin_token: str) -> None:
    response = await client.post(
        "/api/v1/keys", headers={"X-API-Key": admin_token}, json={"name": "   ", "role": "read"}
    )
    assert response.status_code == 400


async def test_keys_are_scrubbed_from_any_log_line(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from monitor.domain.keys import mint_key
    from monitor.logs import JsonFormatter

    token = mint_key(secrets.choice).token
    record = logging.LogRecord("x", logging.INFO, "f", 1, f"odd place {token}", None, None)
    record.path = f"/stats?x={token}"
    line = JsonFormatter().format(record)
    assert token not in line
    assert "mon_[redacted]" in line
