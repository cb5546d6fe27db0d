"""The admin pages over HTTP: API keys (list, create, revoke), System and the Audit log.

What a signed-in browser sees and may do, by role; the CSRF and Origin
rules on every form; hostile form fields and filters answered with a 4xx
page and nothing stored. The browser tests (test_ui_admin_browser.py) see
the same pages as a user does.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from conftest import MakeKey, RunningService, StartService, make_settings, set_connections_allowed
from monitor.domain.audit import Actor, Attribution
from monitor.domain.keys import Role
from monitor.storage import keys as key_store
from monitor.storage.gateway import open_gateway
from monitor.storage.migrate import apply_migrations
from monitor.web.api.audit.query import parse_audit_query
from monitor.web.edge.problems import ProblemError
from monitor.web.ui.audit_page import PAGE_SIZE, as_utc, changes
from processes import TEST_SECRET_KEY

SITE = "http://monitor.test"
FOREIGN = "http://evil.test"


@pytest.fixture
async def site(start_service: StartService, database_url: str, tmp_path: Path) -> RunningService:
    return await start_service(make_settings(database_url, tmp_path, public_url=SITE))


@pytest.fixture
async def http(site: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site.base_url, timeout=10) as client:
        yield client


@pytest.fixture
async def admin(make_key: MakeKey) -> tuple[str, str, str]:
    """(name, prefix, token) of a fresh admin key."""
    name = f"ui admin {uuid.uuid4().hex[:6]}"
    record, token = await make_key("admin", name=name)
    return name, record.prefix, token


async def signed_in(http: httpx.AsyncClient, token: str) -> str:
    """Sign in with `token`; the session's CSRF token, as its pages carry it."""
    response = await http.post("/ui/sign-in", data={"key": token}, headers={"Origin": SITE})
    assert response.status_code == 303, response.text
    page = await http.get("/ui/keys" if await _is_admin(http) else "/ui/system")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found[1]


async def _is_admin(http: httpx.AsyncClient) -> bool:
    return bool((await http.get("/ui/session")).json()["role"] == "admin")


def key_rows(database_url: str, where: str = "true", params: tuple[Any, ...] = ()) -> list[Any]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            f"select id, name, role, expires_at, revoked_at, rate_limit from api_keys "
            f"where {where} order by id",
            params,
        ).fetchall()


def audit_rows(database_url: str, resource_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            "select row_to_json(a)::text from audit_log a "
            "where resource = 'api_key' and resource_id = %s order by id",
            (resource_id,),
        ).fetchall()
    return [{**json.loads(text), "_text": text} for (text,) in found]


def new_key_on(page: str) -> str:
    found = re.search(r'id="new-key"[^>]*value="(mon_[a-z0-9]{8}_[A-Za-z0-9]{40})"', page)
    assert found, page[:2000]
    return found[1]


async def create_through_form(http: httpx.AsyncClient, csrf: str, **fields: str) -> httpx.Response:
    return await http.post(
        "/ui/keys", data={"csrf_token": csrf, **fields}, headers={"Origin": SITE}
    )


# API keys.


async def test_the_keys_page_lists_every_key_newest_first_with_a_create_form(
    http: httpx.AsyncClient, admin: tuple[str, str, str], make_key: MakeKey
) -> None:
    name, prefix, token = admin
    older, _ = await make_key("ingest", name="old agent <b>")
    await signed_in(http, token)
    page = await http.get("/ui/keys")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert f"<code>{prefix}</code>" in page.text and f"<code>{older.prefix}</code>" in page.text
    assert "old agent &lt;b&gt;" in page.text and "<b>" not in page.text
    assert page.text.index(name) < page.text.index("old agent")  # newest first
    assert "(this session)" in page.text
    for header in ("Name", "Prefix", "Role", "Created", "Last used", "Revoked"):
        assert f'<th scope="col">{header}</th>' in page.text
    for role in ("ingest", "read", "write", "admin"):
        assert f'<option value="{role}"' in page.text
    assert f'href="/ui/keys/{older.id}/revoke"' in page.text


async def test_a_key_created_with_the_form_works_is_shown_once_and_audited(
    http: httpx.AsyncClient, admin: tuple[str, str, str], database_url: str
) -> None:
    name, prefix, token = admin
    csrf = await signed_in(http, token)
    created = await create_through_form(
        http, csrf, name="ci reader", role="read", expires_in_days="30", rate_limit="500"
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    new_key = new_key_on(created.text)
    assert created.text.count(new_key) == 1
    assert "not shown again" in created.text
    assert 'data-copy-from="new-key"' in created.text
    # It works against the API, with the role, expiry and limit asked for.
    listed = await http.get("/api/v1/events", headers={"X-API-Key": new_key})
    assert listed.status_code == 200
    [(key_id, _, role, expires_at, revoked_at, rate_limit)] = key_rows(
        database_url, "name = 'ci reader' and prefix = %s", (new_key.split("_")[1],)
    )
    assert (role, revoked_at, rate_limit) == ("read", None, 500)
    assert expires_at is not None
    # The audit row is the API's: the admin's key, the client, no secret.
    [row] = audit_rows(database_url, str(key_id))
    assert (row["actor_kind"], row["actor_name"], row["actor_prefix"]) == ("key", name, prefix)
    assert row["action"] == "create" and row["before"] is None
    assert row["client_address"] == "127.0.0.1"
    assert row["after"]["name"] == "ci reader"
    assert new_key.rsplit("_", 1)[1] not in row["_text"]
    # Never again: the list shows its prefix only.
    again = await http.get("/ui/keys")
    assert new_key not in again.text and new_key.split("_")[1] in again.text


async def test_htmx_gets_the_created_key_as_a_fragment(
    http: httpx.AsyncClient, admin: tuple[str, str, str]
) -> None:
    csrf = await signed_in(http, admin[2])
    created = await http.post(
        "/ui/keys",
        data={"name": "by htmx", "role": "ingest"},
        headers={"Origin": SITE, "HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert created.status_code == 201
    assert not created.text.lstrip().lower().startswith("<!doctype")
    new_key_on(created.text)


async def test_revoking_asks_first_then_revokes_and_audits(
    http: httpx.AsyncClient, admin: tuple[str, str, str], make_key: MakeKey, database_url: str
) -> None:
    name, prefix, token = admin
    victim, victim_token = await make_key("write", name="to revoke")
    csrf = await signed_in(http, token)
    confirm = await http.get(f"/ui/keys/{victim.id}/revoke")
    assert confirm.status_code == 200
    assert "Revoke “to revoke”?" in confirm.text
    assert f'action="/ui/keys/{victim.id}/revoke"' in confirm.text
    assert key_rows(database_url, "id = %s", (victim.id,))[0][4] is None  # asking changes nothing
    revoked = await http.post(
        f"/ui/keys/{victim.id}/revoke", data={"csrf_token": csrf}, headers={"Origin": SITE}
    )
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"/ui/keys?revoked={victim.id}"
    listing = await http.get(revoked.headers["location"])
    assert "Key “to revoke”" in listing.text and "is revoked" in listing.text
    refused = await http.get("/api/v1/events", headers={"X-API-Key": victim_token})
    assert refused.status_code == 401
    create_row, revoke_row = audit_rows(database_url, str(victim.id))
    assert create_row["actor_kind"] == "system"
    assert (revoke_row["actor_kind"], revoke_row["actor_name"]) == ("key", name)
    assert revoke_row["actor_prefix"] == prefix
    assert revoke_row["action"] == "revoke"
    assert revoke_row["before"]["revoked_at"] is None
    assert revoke_row["after"]["revoked_at"] is not None
    # Revoked keys have nothing to revoke: no link, and the confirm page says so.
    assert f'href="/ui/keys/{victim.id}/revoke"' not in listing.text
    assert "already revoked" in (await http.get(f"/ui/keys/{victim.id}/revoke")).text


async def test_revoking_the_sessions_own_key_signs_the_browser_out(
    http: httpx.AsyncClient, admin: tuple[str, str, str], database_url: str
) -> None:
    _, prefix, token = admin
    csrf = await signed_in(http, token)
    [(own_id, *_)] = key_rows(database_url, "prefix = %s", (prefix,))
    confirm = await http.get(f"/ui/keys/{own_id}/revoke")
    assert "revoking it signs you out" in confirm.text
    revoked = await http.post(
        f"/ui/keys/{own_id}/revoke", data={"csrf_token": csrf}, headers={"Origin": SITE}
    )
    assert revoked.status_code == 303
    assert revoked.headers["location"] == "/ui/sign-in?ended=key-revoked"
    assert "monitor_session=; Expires=Thu, 01 Jan 1970" in revoked.headers["set-cookie"]
    notice = await http.get(revoked.headers["location"])
    assert notice.status_code == 200
    assert "has been revoked" in notice.text
    assert (await http.get("/ui/keys")).status_code == 303


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "x" * 201, "role": "read"}, "at most 200 characters"),
        ({"name": "   ", "role": "read"}, "printable"),
        ({"name": "bell\x07", "role": "read"}, "printable"),
        ({"name": "", "role": "read"}, "printable"),
        ({"role": "read"}, "printable"),
        ({"name": "ok", "role": "root"}, "must be one of"),
        ({"name": "ok"}, "must be one of"),
        ({"name": "ok", "role": "read", "expires_in_days": "0"}, "whole number"),
        ({"name": "ok", "role": "read", "expires_in_days": "-1"}, "whole number"),
        ({"name": "ok", "role": "read", "expires_in_days": "99999999999"}, "whole number"),
        ({"name": "ok", "role": "read", "expires_in_days": "tomorrow"}, "whole number"),
        ({"name": "ok", "role": "read", "rate_limit": "-5"}, "whole number"),
        ({"name": "ok", "role": "read", "rate_limit": "1e9"}, "whole number"),
    ],
)
async def test_a_bad_form_is_a_400_page_and_stores_nothing(
    http: httpx.AsyncClient,
    admin: tuple[str, str, str],
    database_url: str,
    fields: dict[str, str],
    message: str,
) -> None:
    csrf = await signed_in(http, admin[2])
    before = key_rows(database_url)
    refused = await create_through_form(http, csrf, **fields)
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("text/html")
    assert "The key was not created" in refused.text
    assert message in html.unescape(refused.text)
    assert 'aria-invalid="true"' in refused.text
    assert 'id="new-key"' not in refused.text
    assert key_rows(database_url) == before


@pytest.mark.parametrize("key_id", ["999999", str(2**63), str(10**30)])
async def test_an_unknown_key_is_a_404_page(
    http: httpx.AsyncClient, admin: tuple[str, str, str], key_id: str
) -> None:
    csrf = await signed_in(http, admin[2])
    confirm = await http.get(f"/ui/keys/{key_id}/revoke")
    assert confirm.status_code == 404
    assert confirm.headers["content-type"].startswith("text/html")
    revoked = await http.post(
        f"/ui/keys/{key_id}/revoke", data={"csrf_token": csrf}, headers={"Origin": SITE}
    )
    assert revoked.status_code == 404


@pytest.mark.parametrize(
    ("csrf", "origin"),
    [(None, SITE), ("wrong", SITE), ("session", FOREIGN), ("session", None)],
    ids=["no-token", "wrong-token", "foreign-origin", "no-origin"],
)
async def test_a_form_without_the_token_or_from_elsewhere_is_refused_and_changes_nothing(
    http: httpx.AsyncClient,
    admin: tuple[str, str, str],
    make_key: MakeKey,
    database_url: str,
    csrf: str | None,
    origin: str | None,
) -> None:
    victim, _ = await make_key("read")
    token = await signed_in(http, admin[2])
    data = {} if csrf is None else {"csrf_token": token if csrf == "session" else csrf}
    headers = {} if origin is None else {"Origin": origin}
    before = key_rows(database_url)
    created = await http.post(
        "/ui/keys", data={**data, "name": "x", "role": "admin"}, headers=headers
    )
    revoked = await http.post(f"/ui/keys/{victim.id}/revoke", data=data, headers=headers)
    for refused in (created, revoked):
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
    assert key_rows(database_url) == before


async def test_a_read_key_sees_no_admin_page_or_action_and_forging_one_is_refused(
    http: httpx.AsyncClient, make_key: MakeKey, database_url: str
) -> None:
    victim, _ = await make_key("read")
    _, reader = await make_key("read", name="plain reader")
    csrf = await signed_in(http, reader)
    system = await http.get("/ui/system")
    assert system.status_code == 200
    for hidden in ('href="/ui/keys"', 'href="/ui/audit"', "Settings in force", "Revoke"):
        assert hidden not in system.text
    before = key_rows(database_url)
    for method, path in (
        ("GET", "/ui/keys"),
        ("GET", "/ui/audit"),
        ("GET", f"/ui/keys/{victim.id}/revoke"),
        ("POST", "/ui/keys"),
        ("POST", f"/ui/keys/{victim.id}/revoke"),
    ):
        response = await http.request(
            method,
            path,
            data={"csrf_token": csrf, "name": "forged", "role": "admin"}
            if method == "POST"
            else None,
            headers={"Origin": SITE},
        )
        assert response.status_code == 403, (method, path)
        assert "admin role" in response.text
    assert key_rows(database_url) == before


# System.


async def test_the_system_page_shows_readiness_actors_counters_and_for_admins_settings(
    http: httpx.AsyncClient, admin: tuple[str, str, str], site: RunningService
) -> None:
    await signed_in(http, admin[2])
    page = await http.get("/ui/system")
    assert page.status_code == 200
    text = page.text
    assert re.search(r'<th scope="row">database</th>\s*<td><span class="state state-ok">ok', text)
    ready = (await http.get("/health/ready")).json()
    for name in ready["components"]:
        assert f'<th scope="row">{name}</th>' in text
    stats = (await http.get("/stats", headers={"X-API-Key": admin[2]})).json()
    for actor in stats["actors"]:
        assert f'<th scope="row">{actor}</th>' in text
    assert "Rows stored" in text and "Answered" in text
    assert "Settings in force" in text
    assert "<code>MONITOR_SECRET_KEY</code>" in text
    assert TEST_SECRET_KEY not in text
    assert f"<code>{SITE}</code>" in text  # MONITOR_PUBLIC_URL, not a secret


# Audit log.


async def test_the_audit_page_shows_changes_filters_them_and_pages(
    http: httpx.AsyncClient, admin: tuple[str, str, str]
) -> None:
    name, prefix, token = admin
    csrf = await signed_in(http, token)
    marker = f"audited-{uuid.uuid4().hex[:6]}"
    for n in range(3):
        created = await create_through_form(http, csrf, name=f"{marker}-{n}", role="read")
        assert created.status_code == 201
    page = await http.get("/ui/audit", params={"actor": name, "resource": "api_key"})
    assert page.status_code == 200
    assert page.text.count(f"{name} <code>{prefix}</code>") == 3
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[^"]+\+00:00">', page.text)
    newest = page.text.index(f"{marker}-2")
    assert newest < page.text.index(f"{marker}-0")
    assert 'value="' + name + '"' in page.text  # the filter stays in the form
    # One row a page: a next link that keeps the filters, and a different row behind it.
    first = await http.get("/ui/audit", params={"actor": name, "limit": "1"})
    link = re.search(
        r'<a href="([^"]+)" hx-get="[^"]+" hx-target="#main" hx-push-url="true" rel="next"',
        first.text,
    )
    assert link, first.text[-1500:]
    target = html.unescape(link[1])
    assert "actor=" in target and "cursor=" in target
    second = await http.get(target)
    assert f"{marker}-2" in first.text and f"{marker}-2" not in second.text
    assert f"{marker}-1" in second.text
    nothing = await http.get("/ui/audit", params={"action": "delete", "actor": name})
    assert "No changes match these filters" in nothing.text


async def test_the_audit_pages_times_are_readas_utc(
    http: httpx.AsyncClient, admin: tuple[str, str, str]
) -> None:
    name, _, token = admin
    csrf = await signed_in(http, token)
    await create_through_form(http, csrf, name="timed", role="read")
    now = await http.get("/ui/audit", params={"actor": name, "from": "2000-01-01T00:00"})
    assert now.status_code == 200 and "timed" in now.text
    assert 'value="2000-01-01T00:00"' in now.text
    past = await http.get(
        "/ui/audit", params={"actor": name, "from": "2000-01-01T00:00", "to": "2000-01-02T00:00:00"}
    )
    assert past.status_code == 200 and "No changes match" in past.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00"}, "to"),
        ({"from": "2026-02-01T00:00", "to": "2026-01-01T00:00"}, "to"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"sort": "time"}, "sort"),
        ({"resource": ",".join(f"r{n}" for n in range(150))}, "resource"),
    ],
)
async def test_a_bad_audit_filter_is_a_400_page(
    http: httpx.AsyncClient, admin: tuple[str, str, str], params: dict[str, str], field: str
) -> None:
    await signed_in(http, admin[2])
    refused = await http.get("/ui/audit", params=params)
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("text/html")
    assert f"<li>{field}: " in refused.text
    assert "<table" not in refused.text


async def test_every_admin_page_is_whole_or_a_fragment(
    http: httpx.AsyncClient, admin: tuple[str, str, str]
) -> None:
    await signed_in(http, admin[2])
    for path, title in (
        ("/ui/keys", "API keys"),
        ("/ui/system", "System"),
        ("/ui/audit", "Audit log"),
    ):
        full = await http.get(path)
        assert full.text.lstrip().lower().startswith("<!doctype html>")
        assert f'aria-current="page">{title}</a>' in full.text
        fragment = await http.get(path, headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert not fragment.text.lstrip().lower().startswith("<!doctype")
        assert f"<title>{title} · monitor</title>" in fragment.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", full.text)
        assert not re.search(r"\son[a-z]+=", full.text)


# How a change is shown.

_values = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans())
_records = st.dictionaries(st.sampled_from("abcdef"), _values, max_size=6)


@given(_records, _records)
def test_a_change_shows_exactly_the_fields_that_differ(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    shown = {change.field for change in changes(before, after)}
    differing = {f for f in set(before) | set(after) if before.get(f, ...) != after.get(f, ...)}
    assert shown == differing


@given(_records)
def test_a_creation_or_deletion_shows_every_field_that_is_set(record: dict[str, Any]) -> None:
    set_fields = [field for field, value in record.items() if value is not None]
    assert [c.field for c in changes(None, record)] == set_fields
    assert all(c.before is None for c in changes(None, record))
    assert [c.field for c in changes(record, None)] == set_fields
    assert all(c.after is None for c in changes(record, None))


# The audit form's times: a datetime-local value is a UTC time; anything else a 400.


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(8999, 12, 30)),
    st.sampled_from(["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
)
def test_a_datetime_local_value_is_readas_utc(moment: datetime, shape: str) -> None:
    written = moment.strftime(shape)
    audit_filter, limit, before = parse_audit_query(as_utc(MultiDict({"from": written})))
    assert audit_filter.time_from == datetime.strptime(written, shape).replace(tzinfo=UTC)
    assert (limit, before) == (PAGE_SIZE, None)


@given(st.text(max_size=40), st.text(max_size=40))
def test_any_form_time_is_a_filter_or_a_400(start: str, end: str) -> None:
    try:
        parse_audit_query(as_utc(MultiDict({"from": start, "to": end})))
    except ProblemError as refused:
        assert refused.status == 400
        assert {error["field"] for error in refused.errors or []} <= {"from", "to"}


# An outage.


async def bootstrap_admin(database_url: str) -> str:
    async with open_gateway(
        database_url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        _, token = await key_store.create_key(
            gateway,
            name="outage admin",
            role=Role.ADMIN,
            rate_limit=None,
            expires_at=None,
            by=Attribution(Actor.system("tests")),
        )
    return token


async def test_a_database_outage_is_a_503_with_retry_after_and_the_system_page_says_so(
    start_service: StartService, empty_database_url: str, tmp_path: Path
) -> None:
    apply_migrations(empty_database_url)
    service = await start_service(make_settings(empty_database_url, tmp_path, public_url=SITE))
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        csrf = await signed_in(client, await bootstrap_admin(empty_database_url))
        set_connections_allowed(empty_database_url, allowed=False)
        try:
            system = await client.get("/ui/system")
            keys = await client.get("/ui/keys")
            audit = await client.get("/ui/audit")
            created = await create_through_form(client, csrf, name="in the outage", role="read")
        finally:
            set_connections_allowed(empty_database_url, allowed=True)
        # The System page needs no database: it is how an operator sees this one.
        assert system.status_code == 200
        assert re.search(
            r'<th scope="row">database</th>\s*<td><span class="state state-down">', system.text
        )
        assert 'Overall: <strong class="state state-down">down</strong>' in system.text
        for refused in (keys, audit, created):
            assert refused.status_code == 503
            assert int(refused.headers["retry-after"]) > 0
        assert key_rows(empty_database_url, "name = 'in the outage'") == []
