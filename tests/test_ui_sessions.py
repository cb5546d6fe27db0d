"""Dashboard sign-in and sessions, as a browser meets them: cookie, CSRF, Origin, expiry.

The real service runs with MONITOR_PUBLIC_URL set (the Origin a page of the
site sends); tests that change rows behind the service's back run with a key
cache TTL of 0, so what they change is seen at the next request.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from conftest import MakeKey, RunningService, StartService, make_settings
from monitor import wiring
from monitor.actors import maintenance
from monitor.domain.signing import SecretKeys, sign
from monitor.storage.gateway import Connection, Gateway
from monitor.web.deps import WebDeps
from ws_helpers import receive, send, ws_url

SITE = "http://monitor.test"
FOREIGN = "http://evil.test"
COOKIE = "monitor_session"


def deps_of(running: RunningService) -> WebDeps:
    deps: WebDeps = running.running.app.extensions["monitor"]
    return deps


@pytest.fixture
async def site(start_service: StartService, database_url: str, tmp_path: Path) -> RunningService:
    settings = make_settings(database_url, tmp_path, public_url=SITE, key_cache_ttl=timedelta(0))
    return await start_service(settings)


def client_for(running: RunningService) -> httpx.AsyncClient:
    """A client that keeps no cookies: each test says which cookie a request carries."""
    client = httpx.AsyncClient(base_url=running.base_url, timeout=10)

    async def forget_cookies(response: httpx.Response) -> None:
        client.cookies.clear()

    client.event_hooks["response"] = [forget_cookies]
    return client


@pytest.fixture
async def http(site: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(site) as client:
        yield client


def set_cookie_of(response: httpx.Response) -> tuple[str, str, dict[str, str]]:
    """Name, value and attributes (lower-case names) of the one Set-Cookie."""
    [header] = response.headers.get_list("set-cookie")
    first, *attributes = [part.strip() for part in header.split(";")]
    name, _, value = first.partition("=")
    parsed = {}
    for attribute in attributes:
        key, _, val = attribute.partition("=")
        parsed[key.lower()] = val
    return name, value, parsed


async def sign_in(
    http: httpx.AsyncClient,
    token: str,
    *,
    origin: str | None = SITE,
    next_path: str | None = None,
) -> httpx.Response:
    data = {"key": token}
    if next_path is not None:
        data["next"] = next_path
    headers = {} if origin is None else {"Origin": origin}
    return await http.post("/ui/sign-in", data=data, headers=headers)


async def signed_in(http: httpx.AsyncClient, token: str) -> str:
    """Sign in; the cookie's value."""
    response = await sign_in(http, token)
    assert response.status_code == 303, response.text
    return set_cookie_of(response)[1]


def cookie(value: str, name: str = COOKIE) -> dict[str, str]:
    return {"Cookie": f"{name}={value}"}


async def session_of(http: httpx.AsyncClient, value: str) -> httpx.Response:
    return await http.get("/ui/session", headers=cookie(value))


async def session_rows(gateway: Gateway, key_id: int) -> list[tuple[int, bytes]]:
    def work(connection: Connection) -> list[tuple[int, bytes]]:
        return connection.execute(
            "select id, token_sha256 from ui_sessions where key_id = %s order by id", (key_id,)
        ).fetchall()

    return await gateway.run(work)


async def execute(gateway: Gateway, statement: str, *params: object) -> None:
    await gateway.run(lambda connection: connection.execute(statement, params))


@pytest.mark.parametrize("role", ["read", "write", "admin"])
async def test_a_read_write_or_admin_key_signs_in_and_gets_a_locked_down_cookie(
    http: httpx.AsyncClient, make_key: MakeKey, role: str
) -> None:
    record, token = await make_key(role)
    response = await sign_in(http, token)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert response.headers["cache-control"] == "no-store"
    name, value, attributes = set_cookie_of(response)
    assert name == COOKIE
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "lax"
    assert attributes["path"] == "/"
    assert "secure" not in attributes  # the public URL is http
    assert "domain" not in attributes
    assert attributes["max-age"] == str(7 * 24 * 3600)
    # The key is never shown again: not in the answer, not in the cookie.
    assert token not in response.text
    assert token.split("_")[-1] not in value

    about = await session_of(http, value)
    assert about.status_code == 200
    body = about.json()
    assert body["role"] == role
    assert body["key"] == {"id": record.id, "name": record.name, "prefix": record.prefix}
    assert body["csrf_token"]
    assert token not in about.text
    assert about.headers["cache-control"] == "no-store"
    created = datetime.fromisoformat(body["created_at"])
    assert datetime.fromisoformat(body["expires_at"]) - created == timedelta(days=7)
    assert datetime.fromisoformat(body["ends_at"]) <= created + timedelta(hours=12, minutes=1)


async def test_with_an_https_public_url_the_cookie_is_secure_and_host_prefixed(
    start_service: StartService, database_url: str, tmp_path: Path, make_key: MakeKey
) -> None:
    site = "https://monitor.example"
    running = await start_service(make_settings(database_url, tmp_path, public_url=site))
    _, token = await make_key("read")
    async with client_for(running) as http:
        response = await sign_in(http, token, origin=site)
        assert response.status_code == 303
        name, value, attributes = set_cookie_of(response)
        assert name == "__Host-monitor_session"
        assert "secure" in attributes and attributes["path"] == "/"
        assert "domain" not in attributes
        assert (await session_of(http, value)).status_code == 401  # the plain name is not read
        answer = await http.get("/ui/session", headers=cookie(value, name))
        assert answer.status_code == 200


async def test_an_ingest_key_cannot_sign_in(
    http: httpx.AsyncClient, make_key: MakeKey, gateway: Gateway
) -> None:
    record, token = await make_key("ingest")
    response = await sign_in(http, token)
    assert response.status_code == 403
    assert "cannot sign in" in response.json()["detail"]
    assert "set-cookie" not in response.headers
    assert await session_rows(gateway, record.id) == []


async def test_wrong_keys_are_refused_and_spend_the_failed_authentication_budget(
    start_service: StartService, database_url: str, tmp_path: Path, make_key: MakeKey
) -> None:
    settings = make_settings(database_url, tmp_path, public_url=SITE, auth_failures_per_ip=3)
    running = await start_service(settings)
    _, token = await make_key("read")
    wrong_secret = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    async with client_for(running) as http:
        codes = []
        for attempt in ("mon_nothing", wrong_secret, "x" * 5000, wrong_secret):
            response = await sign_in(http, attempt)
            assert "set-cookie" not in response.headers
            codes.append(response.status_code)
        assert codes == [401, 401, 401, 429]
        # An empty form is not a guess: a 400 that costs nothing.
        assert (
            await http.post("/ui/sign-in", data={}, headers={"Origin": SITE})
        ).status_code == 400


async def test_the_stored_session_is_a_hash_and_cannot_be_turned_into_a_cookie(
    http: httpx.AsyncClient, site: RunningService, make_key: MakeKey, gateway: Gateway
) -> None:
    record, token = await make_key("admin")
    value = await signed_in(http, token)
    session_token = value.rpartition(".")[0]
    [(_, stored)] = await session_rows(gateway, record.id)
    assert bytes(stored) == hashlib.sha256(session_token.encode()).digest()
    # Even with the secret key, what the table holds signs into a cookie that
    # opens nothing.
    keys = deps_of(site).secret_keys
    for guess in (bytes(stored).hex(), base64.urlsafe_b64encode(bytes(stored)).decode()):
        assert (await session_of(http, sign(keys, "session", guess))).status_code == 401


async def test_forged_and_tampered_cookies_are_signed_out(
    http: httpx.AsyncClient, make_key: MakeKey
) -> None:
    _, token = await make_key("admin")
    value = await signed_in(http, token)
    session_token, _, signature = value.rpartition(".")
    other_keys = SecretKeys(b"another-secret-key-entirely-0123456789")
    forged = [
        session_token,  # unsigned
        f"{session_token}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        f"{session_token[:-1]}x.{signature}",
        sign(other_keys, "session", session_token),
        sign(other_keys, "csrf", session_token),
        "." * 10,
        "z" * 4000,
    ]
    for candidate in forged:
        response = await session_of(http, candidate)
        assert response.status_code == 401, candidate
        assert response.json()["detail"].startswith("sign in first")
    assert (await session_of(http, value)).status_code == 200


async def test_an_api_key_alone_does_not_open_the_session_routes(
    http: httpx.AsyncClient, admin_token: str
) -> None:
    response = await http.get("/ui/session", headers={"X-API-Key": admin_token})
    assert response.status_code == 401


async def test_idle_and_absolute_expiry_end_a_session(
    http: httpx.AsyncClient, make_key: MakeKey, gateway: Gateway
) -> None:
    record, token = await make_key("read")
    idle = await signed_in(http, token)
    old = await signed_in(http, token)
    fresh = await signed_in(http, token)
    (idle_id, _), (old_id, _), (fresh_id, _) = await session_rows(gateway, record.id)

    await execute(
        gateway,
        "update ui_sessions set last_seen_at = now() - interval '12 hours 1 second' where id = %s",
        idle_id,
    )
    await execute(
        gateway,
        "update ui_sessions set expires_at = now() - interval '1 second' where id = %s",
        old_id,
    )
    # A session used 11 h ago is still alive, and its use is recorded.
    await execute(
        gateway,
        "update ui_sessions set last_seen_at = now() - interval '11 hours' where id = %s",
        fresh_id,
    )
    assert (await session_of(http, idle)).status_code == 401
    assert (await session_of(http, old)).status_code == 401
    assert (await session_of(http, fresh)).status_code == 200

    def last_seen(connection: Connection) -> datetime:
        row = connection.execute(
            "select last_seen_at from ui_sessions where id = %s", (fresh_id,)
        ).fetchone()
        assert row is not None
        return row[0]

    assert datetime.now(UTC) - await gateway.run(last_seen) < timedelta(minutes=1)


async def test_the_key_expiring_ends_its_sessions(
    http: httpx.AsyncClient, make_key: MakeKey, gateway: Gateway
) -> None:
    record, token = await make_key("write")
    value = await signed_in(http, token)
    await execute(
        gateway,
        "update api_keys set expires_at = now() - interval '1 second' where id = %s",
        record.id,
    )
    assert (await session_of(http, value)).status_code == 401


async def test_sign_out_deletes_the_session_and_clears_the_cookie(
    http: httpx.AsyncClient, make_key: MakeKey, gateway: Gateway
) -> None:
    record, token = await make_key("write")
    value = await signed_in(http, token)
    csrf = (await session_of(http, value)).json()["csrf_token"]
    response = await http.post(
        "/ui/sign-out", data={"csrf_token": csrf}, headers={**cookie(value), "Origin": SITE}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/sign-in"
    name, cleared, attributes = set_cookie_of(response)
    assert (name, cleared, attributes["max-age"]) == (COOKIE, "", "0")
    assert await session_rows(gateway, record.id) == []
    assert (await session_of(http, value)).status_code == 401
    # Signing out again (or without any session) just clears the cookie.
    again = await http.post("/ui/sign-out", headers={**cookie(value), "Origin": SITE})
    assert again.status_code == 303


async def test_revoking_the_key_ends_its_sessions_at_once_even_with_a_long_cache(
    start_service: StartService,
    database_url: str,
    tmp_path: Path,
    make_key: MakeKey,
    admin_token: str,
    gateway: Gateway,
) -> None:
    settings = make_settings(
        database_url, tmp_path, public_url=SITE, key_cache_ttl=timedelta(hours=1)
    )
    running = await start_service(settings)
    record, token = await make_key("read")
    async with client_for(running) as http:
        value = await signed_in(http, token)
        assert (await session_of(http, value)).status_code == 200  # now cached for an hour
        revoked = await http.delete(f"/api/v1/keys/{record.id}", headers={"X-API-Key": admin_token})
        assert revoked.status_code == 200
        assert (await session_of(http, value)).status_code == 401
    assert await session_rows(gateway, record.id) == []


async def test_a_revocation_made_elsewhere_deletes_the_rows(
    http: httpx.AsyncClient, make_key: MakeKey, gateway: Gateway
) -> None:
    from monitor.domain.audit import Actor, Attribution
    from monitor.storage import keys as key_store

    record, token = await make_key("admin")
    value = await signed_in(http, token)
    await key_store.revoke_key(gateway, record.id, by=Attribution(Actor.system("tests")))
    assert await session_rows(gateway, record.id) == []
    # This service caches nothing (TTL 0): another instance's revocation shows at once.
    assert (await session_of(http, value)).status_code == 401


async def test_sign_out_needs_the_csrf_token_and_this_sites_origin(
    http: httpx.AsyncClient, make_key: MakeKey, gateway: Gateway
) -> None:
    record, token = await make_key("admin")
    value = await signed_in(http, token)
    other = await signed_in(http, token)
    csrf = (await session_of(http, value)).json()["csrf_token"]
    other_csrf = (await session_of(http, other)).json()["csrf_token"]
    assert csrf != other_csrf

    refused = {
        "no token": ({"Origin": SITE}, {}),
        "wrong token": ({"Origin": SITE}, {"csrf_token": csrf[:-1] + "x"}),
        "another session's token": ({"Origin": SITE}, {"csrf_token": other_csrf}),
        "foreign origin": ({"Origin": FOREIGN}, {"csrf_token": csrf}),
        "no origin": ({}, {"csrf_token": csrf}),
        "null origin": ({"Origin": "null"}, {"csrf_token": csrf}),
        "site with a path": ({"Origin": SITE + "/"}, {"csrf_token": csrf}),
        "https": ({"Origin": "https://monitor.test"}, {"csrf_token": csrf}),
    }
    for case, (headers, data) in refused.items():
        response = await http.post("/ui/sign-out", data=data, headers={**cookie(value), **headers})
        assert response.status_code == 403, case
        assert response.json()["type"] == "urn:monitor:problem:forbidden", case
    assert len(await session_rows(gateway, record.id)) == 2

    # htmx sends it as a header; a form as a field.
    by_header = await http.post(
        "/ui/sign-out", headers={**cookie(value), "Origin": SITE, "X-CSRF-Token": csrf}
    )
    assert by_header.status_code == 303
    by_field = await http.post(
        "/ui/sign-out", data={"csrf_token": other_csrf}, headers={**cookie(other), "Origin": SITE}
    )
    assert by_field.status_code == 303
    assert await session_rows(gateway, record.id) == []


async def test_sign_in_needs_this_sites_origin(
    http: httpx.AsyncClient, make_key: MakeKey, gateway: Gateway
) -> None:
    record, token = await make_key("admin")
    for origin in (None, FOREIGN, "null"):
        response = await sign_in(http, token, origin=origin)
        assert response.status_code == 403, origin
        assert "set-cookie" not in response.headers
    assert await session_rows(gateway, record.id) == []


@pytest.mark.parametrize(
    "hostile",
    [
        "//evil.com",
        "///evil.com",
        "https://evil.com",
        "http:evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "/%2F/evil.com",
        "/%2f%2fevil.com",
        "%2F%2Fevil.com",
        "/%5Cevil.com",
        "/\t/evil.com",
        "/%09/evil.com",
        "/\n/evil.com",
        "javascript:alert(1)",
        "evil.com",
        "",
        "/" + "a" * 5000,
    ],
)
async def test_next_never_leads_off_the_site(
    http: httpx.AsyncClient, admin_token: str, hostile: str
) -> None:
    response = await sign_in(http, admin_token, next_path=hostile)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_next_keeps_a_path_of_the_site(http: httpx.AsyncClient, admin_token: str) -> None:
    response = await sign_in(http, admin_token, next_path="/events?source=web%20a&x=1")
    assert response.headers["location"] == "/events?source=web%20a&x=1"


async def test_the_websocket_takes_the_session_cookie_only_from_this_sites_pages(
    site: RunningService, http: httpx.AsyncClient, make_key: MakeKey
) -> None:
    _, token = await make_key("read")
    value = await signed_in(http, token)

    async def attempt(headers: list[tuple[bytes, bytes]]) -> str:
        async with open_websocket_url(
            ws_url(site.base_url), extra_headers=headers, connect_timeout=10, disconnect_timeout=5
        ) as ws:
            try:
                await send(ws, {"type": "ping", "id": "s"})
                answer = await receive(ws)
            except ConnectionClosed as closed:
                return f"{closed.reason.code} {closed.reason.reason}"
            finally:
                await trio.aclose_forcefully(ws._stream)
        return str(answer)

    jar = (b"Cookie", f"{COOKIE}={value}".encode())
    assert await attempt([jar, (b"Origin", SITE.encode())]) == str({"type": "pong", "id": "s"})
    assert await attempt([jar, (b"Origin", FOREIGN.encode())]) == (
        f"1008 a session cookie is accepted only from pages of {SITE}"
    )
    assert await attempt([jar]) == f"1008 a session cookie is accepted only from pages of {SITE}"
    forged = (b"Cookie", f"{COOKIE}={value[:-2]}xx".encode())
    assert await attempt([forged, (b"Origin", SITE.encode())]) == (
        "1008 the session has ended; sign in again"
    )


async def test_a_websocket_of_a_session_ends_when_the_session_does(
    site: RunningService, http: httpx.AsyncClient, make_key: MakeKey
) -> None:
    _, token = await make_key("read")
    value = await signed_in(http, token)
    csrf = (await session_of(http, value)).json()["csrf_token"]
    headers = [(b"Cookie", f"{COOKIE}={value}".encode()), (b"Origin", SITE.encode())]
    async with open_websocket_url(
        ws_url(site.base_url), extra_headers=headers, connect_timeout=10, disconnect_timeout=5
    ) as ws:
        await send(ws, {"type": "ping", "id": "before"})
        assert await receive(ws) == {"type": "pong", "id": "before"}
        signed_out = await http.post(
            "/ui/sign-out", headers={**cookie(value), "Origin": SITE, "X-CSRF-Token": csrf}
        )
        assert signed_out.status_code == 303
        # The credential watch looks every 0.5 s (the TTL is 0 here).
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws, timeout=10)
        await trio.aclose_forcefully(ws._stream)
    assert (closed.value.reason.code, closed.value.reason.reason) == (1008, "session revoked")


async def test_maintenance_prunes_sessions_that_ended(
    http: httpx.AsyncClient, make_key: MakeKey, gateway: Gateway, site: RunningService
) -> None:
    record, token = await make_key("read")
    for _ in range(3):
        await signed_in(http, token)
    idle, old, alive = (row[0] for row in await session_rows(gateway, record.id))
    await execute(
        gateway,
        "update ui_sessions set last_seen_at = now() - interval '13 hours' where id = %s",
        idle,
    )
    await execute(
        gateway,
        "update ui_sessions set expires_at = now() - interval '1 second' where id = %s",
        old,
    )
    # The table exactly as the service wires it.
    settings = deps_of(site).settings
    area = wiring.maintenance_area(settings, gateway)
    [spec] = area.actors
    assert isinstance(spec.main, functools.partial)
    [sessions] = [table for table in spec.main.keywords["pruned"] if table.name == "ui_sessions"]
    await maintenance.prune_once(sessions, datetime.now(UTC))
    assert [row[0] for row in await session_rows(gateway, record.id)] == [alive]
