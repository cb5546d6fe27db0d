"""API keys through HTTP: the 401/403 rules, management, and what is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from conftest import MakeKey, RunningService, StartService
from monitor.config import Settings


def auth(token: str) -> dict[str, str]:
    return {"X-API-Key": token}


async def test_both_header_styles_authenticate(
    client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    _, token = await make_key("read")
    assert (await client.get("/stats", headers={"X-API-Key": token})).status_code == 200
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/stats", headers=bearer)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "mon_abcdefgh_" + "A" * 40},  # well-formed, unknown prefix
    ],
)
async def test_missing_or_invalid_keys_get_401_problem(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/stats", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


async def test_a_wrong_secret_for_a_real_prefix_is_refused(
    client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    record, _token = await make_key("admin")
    forged = f"mon_{record.prefix}_" + "x" * 40
    response = await client.get("/stats", headers=auth(forged))
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid API key"


async def test_revoked_key_gets_401_saying_revoked(
    client: httpx.AsyncClient, make_key: MakeKey, admin_token: str
) -> None:
    record, token = await make_key("read")
    assert (await client.get("/stats", headers=auth(token))).status_code == 200
    revoked = await client.delete(f"/api/v1/keys/{record.id}", headers=auth(admin_token))
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    response = await client.get("/stats", headers=auth(token))
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    # It stays listed.
    listing = (await client.get("/api/v1/keys", headers=auth(admin_token))).json()["keys"]
    assert [k["status"] for k in listing if k["id"] == record.id] == ["revoked"]


async def test_expired_key_gets_401_saying_expired(
    start_service: StartService, settings: Settings, make_key: MakeKey, database_url: str
) -> None:
    # No lookup cache, so the expiry written behind the service's back is seen.
    service = await start_service(settings.replace(key_cache_ttl=0))
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        record, token = await make_key("read", expires_at=datetime.now(UTC) + timedelta(hours=1))
        assert (await client.get("/stats", headers=auth(token))).status_code == 200
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(
                "update api_keys set expires_at = now() - interval '1 second' where id = %s",
                (record.id,),
            )
        response = await client.get("/stats", headers=auth(token))
        assert response.status_code == 401
        assert "expired" in response.json()["detail"]


@pytest.mark.parametrize("role", ["ingest", "read", "write"])
async def test_key_management_needs_admin(
    client: httpx.AsyncClient, make_key: MakeKey, role: str
) -> None:
    _, token = await make_key(role)
    response = await client.get("/api/v1/keys", headers=auth(token))
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    created = await client.post(
        "/api/v1/keys", headers=auth(token), json={"name": "x", "role": "admin"}
    )
    assert created.status_code == 403


async def test_create_list_show_revoke(client: httpx.AsyncClient, admin_token: str) -> None:
    created = await client.post(
        "/api/v1/keys",
        headers=auth(admin_token),
        json={"name": "ingest box", "role": "write", "rate_limit": 600},
    )
    assert created.status_code == 201
    body = created.json()
    token = body["key"]
    assert token.startswith(f"mon_{body['prefix']}_")
    assert body["role"] == "write" and body["rate_limit"] == 600 and body["status"] == "active"

    # The new key works, with its role.
    assert (await client.get("/stats", headers=auth(token))).status_code == 200
    assert (await client.get("/api/v1/keys", headers=auth(token))).status_code == 403

    listing = await client.get("/api/v1/keys", headers=auth(admin_token))
    assert token not in listing.text
    assert body["prefix"] in listing.text
    shown = await client.get(f"/api/v1/keys/{body['id']}", headers=auth(admin_token))
    assert shown.json()["name"] == "ingest box"
    assert "key" not in shown.json()

    assert (
        await client.delete(f"/api/v1/keys/{body['id']}", headers=auth(admin_token))
    ).status_code == 200
    assert (await client.get("/stats", headers=auth(token))).status_code == 401


async def test_an_ingest_key_created_over_http_may_send_but_not_read(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    created = await client.post(
        "/api/v1/keys", headers=auth(admin_token), json={"name": "web-01 agent", "role": "ingest"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "ingest"
    token = created.json()["key"]
    sent = await client.post("/api/v1/events", headers=auth(token), json={"type": "boot"})
    assert sent.status_code == 201, sent.text
    refused = await client.get("/stats", headers=auth(token))
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "this operation needs the read role (held by read, write and admin keys); "
        "the key has ingest"
    )
    listing = (await client.get("/api/v1/keys", headers=auth(admin_token))).json()["keys"]
    assert [k["role"] for k in listing if k["id"] == created.json()["id"]] == ["ingest"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"role": "read"}, "name"),
        ({"name": "", "role": "read"}, "name"),
        ({"name": "bad\u0000name", "role": "read"}, "name"),
        ({"name": "x", "role": "root"}, "role"),
        ({"name": "x", "role": "Ingest"}, "role"),
        ({"name": "x", "role": ["ingest"]}, "role"),
        ({"name": "x", "role": 1}, "role"),
        ({"name": "x", "role": "read", "rate_limit": -1}, "rate_limit"),
        ({"name": "x", "role": "read", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "x", "role": "read", "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"name": "x", "role": "read", "surprise": 1}, "surprise"),
    ],
)
async def test_invalid_key_requests_get_field_errors_and_store_nothing(
    client: httpx.AsyncClient, admin_token: str, payload: dict[str, object], field: str
) -> None:
    before = len((await client.get("/api/v1/keys", headers=auth(admin_token))).json()["keys"])
    response = await client.post("/api/v1/keys", headers=auth(admin_token), json=payload)
    assert response.status_code == 400
    problem = response.json()
    assert problem["type"] == "urn:monitor:problem:validation-error"
    assert any(error["field"] == field for error in problem["errors"]), problem
    after = len((await client.get("/api/v1/keys", headers=auth(admin_token))).json()["keys"])
    assert after == before


async def test_unknown_key_ids_are_404(client: httpx.AsyncClient, admin_token: str) -> None:
    for key_id in (999_999_999, 2**70):
        response = await client.delete(f"/api/v1/keys/{key_id}", headers=auth(admin_token))
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


async def test_only_hashes_are_stored(
    client: httpx.AsyncClient, admin_token: str, database_url: str
) -> None:
    created = (
        await client.post(
            "/api/v1/keys", headers=auth(admin_token), json={"name": "h", "role": "read"}
        )
    ).json()
    secret = created["key"].rsplit("_", 1)[1]
    with psycopg.connect(database_url) as connection:
        dump = connection.execute("select row_to_json(k)::text from api_keys k").fetchall()
        audit = connection.execute("select row_to_json(a)::text from audit_log a").fetchall()
    text = " ".join(row[0] for row in dump + audit)
    assert secret not in text
    assert created["key"] not in text


async def test_last_used_is_written_in_batches_not_per_request(
    start_service: StartService, settings: Settings, make_key: MakeKey, database_url: str
) -> None:
    record, token = await make_key("read")
    service: RunningService = await start_service(settings)  # flush interval: 1 hour
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        for _ in range(20):
            assert (await client.get("/stats", headers=auth(token))).status_code == 200

    def last_used() -> datetime | None:
        with psycopg.connect(database_url) as connection:
            row = connection.execute(
                "select last_used_at from api_keys where id = %s", (record.id,)
            ).fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]

    assert last_used() is None  # 20 requests, no write yet
    await service.shutdown()  # the actor writes what it holds when it drains
    stamped = last_used()
    assert stamped is not None
    assert datetime.now(UTC) - stamped < timedelta(minutes=1)
