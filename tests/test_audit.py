"""The audit log: every change writes one row in its own transaction; GET /api/v1/audit.

Rows are read straight from the database where what is stored matters (no
secret anywhere in a row), and through the API where what an operator sees
matters (filters, paging, hostile queries).
"""

from __future__ import annotations

import getpass
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from alert_helpers import add_instance
from conftest import MakeKey, StartService, make_settings
from monitor.config import Settings
from monitor.domain.audit import Actor, Attribution, AuditEntry, Origin
from monitor.domain.client_ip import TrustedProxies
from monitor.domain.cursors import encode_cursor, encode_numbered_cursor
from monitor.storage import audit as audit_store
from monitor.storage import keys as key_store
from monitor.storage.gateway import Gateway
from monitor.storage.migrate import apply_migrations, available_migrations
from processes import clean_environment, run_monitor

AUDIT = "/api/v1/audit"

# Ingest is data, not configuration: these mutating routes write no audit row.
INGEST_ROUTES = frozenset(
    {
        ("POST", "/api/v1/events"),
        ("POST", "/api/v1/events/bulk"),
        ("POST", "/api/v1/metrics"),
        ("POST", "/api/v1/metrics/bulk"),
        ("POST", "/api/v1/metrics/increment/{name}"),
    }
)


def auth(token: str) -> dict[str, str]:
    return {"X-API-Key": token}


def rows_where(database_url: str, condition: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Audit rows as JSON objects (oldest first), and each row's JSON text under "_text"."""
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            f"select row_to_json(a)::text from audit_log a where {condition} order by id",
            params,
        ).fetchall()
    return [{**json.loads(text), "_text": text} for (text,) in found]


def last_audit_id(database_url: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute("select coalesce(max(id), 0) from audit_log").fetchone()
    assert row is not None
    return int(row[0])


def tag() -> str:
    return f"audit-{uuid.uuid4().hex[:10]}"


async def ingest_event(client: httpx.AsyncClient, token: str, **fields: Any) -> dict[str, Any]:
    body = {"type": "audit.test", "source": tag(), "message": "boom", **fields}
    response = await client.post("/api/v1/events", headers=auth(token), json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def ingest_series(client: httpx.AsyncClient, token: str, samples: int = 3) -> dict[str, Any]:
    name = f"audit_test_{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    body = [
        {
            "name": name,
            "value": float(n),
            "labels": {"env": "test"},
            "source": "box-1",
            "time": (now - timedelta(seconds=n)).isoformat(),
        }
        for n in range(samples)
    ]
    response = await client.post("/api/v1/metrics/bulk", headers=auth(token), json=body)
    assert response.status_code == 201, response.text
    latest = await client.get("/api/v1/metrics/latest", headers=auth(token), params={"name": name})
    (series,) = latest.json()["series"]
    found: dict[str, Any] = series
    return found


@pytest.fixture
def own_database_url(empty_database_url: str) -> str:
    """A migrated database for this test alone (its audit log may be made to refuse rows)."""
    apply_migrations(empty_database_url)
    return empty_database_url


# Keys: who, from where, and never the secret.


async def test_creating_and_revoking_a_key_through_the_api_are_recorded_without_the_secret(
    client: httpx.AsyncClient, make_key: MakeKey, database_url: str
) -> None:
    admin, admin_token = await make_key("admin", name="audit admin")
    created = await client.post(
        "/api/v1/keys",
        headers={**auth(admin_token), "X-Request-ID": "create-req-1"},
        json={"name": "ingest box", "role": "write"},
    )
    assert created.status_code == 201
    key = created.json()
    revoked = await client.delete(
        f"/api/v1/keys/{key['id']}", headers={**auth(admin_token), "X-Request-ID": "revoke-req-1"}
    )
    assert revoked.status_code == 200

    create_row, revoke_row = rows_where(
        database_url, "resource = 'api_key' and resource_id = %s", (str(key["id"]),)
    )
    for row, request_id in ((create_row, "create-req-1"), (revoke_row, "revoke-req-1")):
        assert row["actor_kind"] == "key"
        assert row["actor_name"] == "audit admin"
        assert row["actor_prefix"] == admin.prefix
        assert row["client_address"] == "127.0.0.1"
        assert row["request_id"] == request_id
        assert key["key"] not in row["_text"]
        assert key["key"].rsplit("_", 1)[1] not in row["_text"]
    assert create_row["action"] == "create"
    assert create_row["before"] is None
    assert create_row["after"]["prefix"] == key["prefix"]
    assert create_row["after"]["name"] == "ingest box"
    assert create_row["after"]["role"] == "write"
    assert revoke_row["action"] == "revoke"
    assert revoke_row["before"]["revoked_at"] is None
    assert revoke_row["after"]["revoked_at"] is not None

    # Revoking it again changes nothing, so nothing more is recorded.
    again = await client.delete(f"/api/v1/keys/{key['id']}", headers=auth(admin_token))
    assert again.status_code == 200
    assert len(rows_where(database_url, "resource_id = %s", (str(key["id"]),))) == 2


async def test_the_client_address_is_read_through_trusted_proxies_only(
    start_service: StartService, settings: Settings, make_key: MakeKey, database_url: str
) -> None:
    service = await start_service(
        settings.replace(trusted_proxies=TrustedProxies.parse("127.0.0.1"))
    )
    _, admin_token = await make_key("admin")
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        created = await client.post(
            "/api/v1/keys",
            headers={**auth(admin_token), "X-Forwarded-For": "198.51.100.1, 203.0.113.7"},
            json={"name": "behind a proxy", "role": "read"},
        )
    assert created.status_code == 201
    (row,) = rows_where(
        database_url, "action = 'create' and resource_id = %s", (str(created.json()["id"]),)
    )
    assert row["client_address"] == "203.0.113.7"  # the hop the proxy saw, not the client's claim
    assert re.fullmatch(r"[0-9a-f]{32}", row["request_id"])  # one was made up when none was sent


@pytest.mark.slow
async def test_creating_and_revoking_a_key_with_the_cli_are_recorded_as_cli(
    database_url: str,
) -> None:
    env = clean_environment(DATABASE_URL=database_url)
    created = await run_monitor("keys", "create", "--name", "cli key", "--role", "read", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.decode().strip().splitlines()[-1]
    prefix = token.split("_")[1]
    (create_row,) = rows_where(
        database_url, "action = 'create' and after->>'prefix' = %s", (prefix,)
    )
    key_id = create_row["resource_id"]
    revoked = await run_monitor("keys", "revoke", key_id, env=env)
    assert revoked.returncode == 0, revoked.stderr
    rows = rows_where(database_url, "resource = 'api_key' and resource_id = %s", (key_id,))
    assert [row["action"] for row in rows] == ["create", "revoke"]
    for row in rows:
        assert row["actor_kind"] == "cli"
        assert row["actor_name"] == getpass.getuser()
        assert row["actor_prefix"] is None
        assert row["client_address"] is None and row["request_id"] is None
        assert token.rsplit("_", 1)[1] not in row["_text"]


async def test_the_first_admin_key_is_recorded_as_made_by_the_system(
    own_database_url: str,
) -> None:
    from monitor.storage.gateway import open_gateway

    async with open_gateway(
        own_database_url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        made = await key_store.create_bootstrap_key(gateway)
    assert made is not None
    record, token = made
    (row,) = rows_where(own_database_url, "true")
    assert (row["actor_kind"], row["actor_name"], row["action"]) == ("system", None, "create")
    assert row["after"]["prefix"] == record.prefix
    assert token.rsplit("_", 1)[1] not in row["_text"]


# Deletes and group status.


async def test_deleting_an_event_records_what_it_was(
    client: httpx.AsyncClient, admin_token: str, database_url: str
) -> None:
    event = await ingest_event(client, admin_token, level="warning")
    response = await client.delete(f"/api/v1/events/{event['id']}", headers=auth(admin_token))
    assert response.status_code == 204
    (row,) = rows_where(database_url, "resource = 'event' and resource_id = %s", (event["id"],))
    assert row["action"] == "delete"
    assert row["after"] is None
    before = row["before"]
    assert (before["id"], before["type"], before["source"], before["level"]) == (
        event["id"],
        "audit.test",
        event["source"],
        "warning",
    )
    assert datetime.fromisoformat(before["time"]) == datetime.fromisoformat(event["time"])
    # Deleting what is not there is a 404 and records nothing.
    again = await client.delete(f"/api/v1/events/{event['id']}", headers=auth(admin_token))
    assert again.status_code == 404
    assert len(rows_where(database_url, "resource_id = %s", (event["id"],))) == 1


async def test_deleting_a_series_records_its_name_labels_and_sample_count(
    client: httpx.AsyncClient, admin_token: str, database_url: str
) -> None:
    series = await ingest_series(client, admin_token, samples=3)
    series_id = series["series_id"]
    response = await client.delete(f"/api/v1/metrics/{series_id}", headers=auth(admin_token))
    assert response.status_code == 204
    (row,) = rows_where(database_url, "resource = 'series' and resource_id = %s", (str(series_id),))
    assert row["action"] == "delete"
    assert row["before"] == {
        "id": series_id,
        "name": series["name"],
        "type": "gauge",
        "source": "box-1",
        "labels": {"env": "test"},
        "samples": 3,
    }


async def test_changing_a_group_status_records_before_and_after(
    client: httpx.AsyncClient, admin_token: str, database_url: str
) -> None:
    event = await ingest_event(client, admin_token, level="error")
    group_id = event["group_id"]
    path = f"/api/v1/events/groups/{group_id}"
    assert (
        await client.patch(path, headers=auth(admin_token), json={"status": "resolved"})
    ).status_code == 200
    # The same status again changes nothing and records nothing.
    assert (
        await client.patch(path, headers=auth(admin_token), json={"status": "resolved"})
    ).status_code == 200
    (row,) = rows_where(
        database_url, "resource = 'event_group' and resource_id = %s", (str(group_id),)
    )
    assert row["action"] == "update"
    assert (row["before"]["status"], row["after"]["status"]) == ("open", "resolved")


# One transaction: a change whose audit row cannot be written does not happen.


def refuse_audit_rows(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            """
            create function refuse_audit_row() returns trigger language plpgsql as $$
            begin raise exception 'the audit log refuses this row'; end $$;
            create trigger refuse_audit_row before insert on audit_log
                for each row execute function refuse_audit_row();
            """
        )


async def admin_token_for(database_url: str) -> str:
    from monitor.domain.keys import Role
    from monitor.storage.gateway import open_gateway

    async with open_gateway(
        database_url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        _, token = await key_store.create_key(
            gateway,
            name="admin",
            role=Role.ADMIN,
            rate_limit=None,
            expires_at=None,
            by=Attribution(Actor.system("tests")),
        )
    return token


async def test_a_change_whose_audit_row_fails_is_rolled_back(
    start_service: StartService, own_database_url: str, tmp_path: Path
) -> None:
    url = own_database_url
    admin_token = await admin_token_for(url)
    service = await start_service(make_settings(url, tmp_path))
    headers = auth(admin_token)
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        victim = (
            await client.post(
                "/api/v1/keys", headers=headers, json={"name": "victim", "role": "read"}
            )
        ).json()
        event = await ingest_event(client, admin_token, level="error")
        series = await ingest_series(client, admin_token)
        refuse_audit_rows(url)

        changes: list[tuple[str, str, dict[str, Any] | None]] = [
            ("POST", "/api/v1/keys", {"name": "never stored", "role": "read"}),
            ("DELETE", f"/api/v1/keys/{victim['id']}", None),
            ("DELETE", f"/api/v1/events/{event['id']}", None),
            ("DELETE", f"/api/v1/metrics/{series['series_id']}", None),
            ("PATCH", f"/api/v1/events/groups/{event['group_id']}", {"status": "ignored"}),
        ]
        for method, path, body in changes:
            response = await client.request(method, path, headers=headers, json=body)
            assert response.status_code == 500, (method, path, response.text)

        keys = (await client.get("/api/v1/keys", headers=headers)).json()["keys"]
        assert "never stored" not in [k["name"] for k in keys]
        assert [k["status"] for k in keys if k["id"] == victim["id"]] == ["active"]
        shown = await client.get(f"/api/v1/events/{event['id']}", headers=headers)
        assert shown.status_code == 200
        latest = await client.get(
            "/api/v1/metrics/latest", headers=headers, params={"name": series["name"]}
        )
        assert [s["series_id"] for s in latest.json()["series"]] == [series["series_id"]]
        groups = await client.get(
            "/api/v1/events/groups", headers=headers, params={"source": event["source"]}
        )
        assert [g["status"] for g in groups.json()["groups"]] == ["open"]


# Ingest is not audited; every other mutating route is, exactly once.


async def test_ingest_routes_write_no_audit_row(
    client: httpx.AsyncClient, admin_token: str, database_url: str
) -> None:
    before = last_audit_id(database_url)
    await ingest_event(client, admin_token)
    bulk = await client.post(
        "/api/v1/events/bulk", headers=auth(admin_token), json=[{"type": "audit.bulk"}]
    )
    assert bulk.status_code == 201
    await ingest_series(client, admin_token)
    one = await client.post(
        "/api/v1/metrics", headers=auth(admin_token), json={"name": "audit_one", "value": 1}
    )
    assert one.status_code == 201
    counted = await client.post(
        "/api/v1/metrics/increment/audit_counter", headers=auth(admin_token), json={"by": 2}
    )
    assert counted.status_code == 201
    assert last_audit_id(database_url) == before


@dataclass(frozen=True)
class Call:
    """One successful call of a mutating route, and the resource its audit row names."""

    path: str
    resource: str
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Setup:
    client: httpx.AsyncClient
    admin_token: str
    make_key: MakeKey
    database_url: str


async def _create_key(setup: Setup) -> Call:
    return Call("/api/v1/keys", "api_key", {"name": "walked", "role": "read"})


async def _revoke_key(setup: Setup) -> Call:
    record, _ = await setup.make_key("read")
    return Call(f"/api/v1/keys/{record.id}", "api_key")


async def _delete_event(setup: Setup) -> Call:
    event = await ingest_event(setup.client, setup.admin_token)
    return Call(f"/api/v1/events/{event['id']}", "event")


async def _set_group_status(setup: Setup) -> Call:
    event = await ingest_event(setup.client, setup.admin_token, level="error")
    return Call(f"/api/v1/events/groups/{event['group_id']}", "event_group", {"status": "ignored"})


async def _delete_series(setup: Setup) -> Call:
    series = await ingest_series(setup.client, setup.admin_token)
    return Call(f"/api/v1/metrics/{series['series_id']}", "series")


async def _new_dashboard(setup: Setup) -> dict[str, Any]:
    response = await setup.client.post(
        "/api/v1/dashboards", headers=auth(setup.admin_token), json={"name": tag()}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _new_widget(setup: Setup) -> dict[str, Any]:
    board = await _new_dashboard(setup)
    response = await setup.client.post(
        "/api/v1/dashboard/widgets",
        headers=auth(setup.admin_token),
        json={"dashboard_id": board["id"], "title": "walked", "kind": "events", "x": 0, "y": 0},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _create_dashboard(setup: Setup) -> Call:
    return Call("/api/v1/dashboards", "dashboard", {"name": tag()})


async def _update_dashboard(setup: Setup) -> Call:
    board = await _new_dashboard(setup)
    return Call(f"/api/v1/dashboards/{board['id']}", "dashboard", {"name": tag()})


async def _delete_dashboard(setup: Setup) -> Call:
    board = await _new_dashboard(setup)
    return Call(f"/api/v1/dashboards/{board['id']}", "dashboard")


async def _set_layout(setup: Setup) -> Call:
    widget = await _new_widget(setup)
    move = {"id": widget["id"], "x": 6, "y": 2}
    return Call(
        f"/api/v1/dashboards/{widget['dashboard_id']}/layout", "dashboard", {"widgets": [move]}
    )


async def _import_dashboard(setup: Setup) -> Call:
    document = {
        "format": "monitor.dashboard",
        "format_version": 1,
        "dashboard": {"name": tag()},
        "widgets": [{"title": "imported", "kind": "events"}],
    }
    return Call("/api/v1/dashboards/import", "dashboard", document)


async def _create_widget(setup: Setup) -> Call:
    board = await _new_dashboard(setup)
    return Call(
        "/api/v1/dashboard/widgets",
        "widget",
        {"dashboard_id": board["id"], "title": "walked", "kind": "events"},
    )


async def _update_widget(setup: Setup) -> Call:
    widget = await _new_widget(setup)
    fields = {key: widget[key] for key in ("title", "kind", "query", "options", "x", "y", "w", "h")}
    return Call(
        f"/api/v1/dashboard/widgets/{widget['id']}", "widget", {**fields, "title": "renamed"}
    )


async def _delete_widget(setup: Setup) -> Call:
    widget = await _new_widget(setup)
    return Call(f"/api/v1/dashboard/widgets/{widget['id']}", "widget")


ALERT_RULE = {
    "name": "walked",
    "kind": "metric_threshold",
    "selector": {"name": "walked"},
    "window": "5m",
    "comparator": ">",
    "threshold": 1,
    "enabled": False,  # no evaluator touches its instances meanwhile
}


async def _new_alert_rule(setup: Setup) -> dict[str, Any]:
    response = await setup.client.post(
        "/api/v1/alerts", headers=auth(setup.admin_token), json={**ALERT_RULE, "name": tag()}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _create_alert_rule(setup: Setup) -> Call:
    return Call("/api/v1/alerts", "alert_rule", {**ALERT_RULE, "name": tag()})


async def _update_alert_rule(setup: Setup) -> Call:
    created = await _new_alert_rule(setup)
    return Call(
        f"/api/v1/alerts/{created['id']}", "alert_rule", {**created["rule"], "threshold": 2}
    )


async def _delete_alert_rule(setup: Setup) -> Call:
    created = await _new_alert_rule(setup)
    return Call(f"/api/v1/alerts/{created['id']}", "alert_rule")


async def _acknowledge_alert(setup: Setup) -> Call:
    instance_id = add_instance(setup.database_url, (await _new_alert_rule(setup))["id"])
    return Call(
        f"/api/v1/alerts/instances/{instance_id}/acknowledge", "alert_instance", {"comment": "mine"}
    )


async def _resolve_alert(setup: Setup) -> Call:
    instance_id = add_instance(setup.database_url, (await _new_alert_rule(setup))["id"])
    return Call(f"/api/v1/alerts/instances/{instance_id}/resolve", "alert_instance")


POLICY = {"name": "walked", "position": 5, "matchers": [{"name": "team", "value": "walk"}]}
INHIBITION = {
    "name": "walked",
    "source_matchers": [{"name": "severity", "value": "critical"}],
    "target_matchers": [{"name": "severity", "value": "warning"}],
    "equal": ["host"],
}


async def _new(setup: Setup, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await setup.client.post(path, headers=auth(setup.admin_token), json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


CHANNEL = {
    "name": "walked",
    "kind": "webhook",
    # Nothing listens on port 9 here: a test of it fails fast, and answers 200 saying so.
    "url": "http://127.0.0.1:9/hook",
    "secret": "walked-channel-secret",
}


async def _new_channel(setup: Setup) -> dict[str, Any]:
    response = await setup.client.post(
        "/api/v1/channels", headers=auth(setup.admin_token), json={**CHANNEL, "name": tag()}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _create_policy(setup: Setup) -> Call:
    return Call("/api/v1/notification-policies", "notification_policy", POLICY)


async def _update_policy(setup: Setup) -> Call:
    created = await _new(setup, "/api/v1/notification-policies", POLICY)
    return Call(
        f"/api/v1/notification-policies/{created['id']}",
        "notification_policy",
        {**POLICY, "name": tag()},
    )


async def _update_default_policy(setup: Setup) -> Call:
    return Call("/api/v1/notification-policies/default", "notification_policy", {"name": tag()})


async def _delete_policy(setup: Setup) -> Call:
    created = await _new(setup, "/api/v1/notification-policies", POLICY)
    return Call(f"/api/v1/notification-policies/{created['id']}", "notification_policy")


SILENCE = {"matchers": [{"name": "host", "value": "walked"}], "duration": "1h", "comment": "walk"}


async def _create_silence(setup: Setup) -> Call:
    return Call("/api/v1/silences", "silence", SILENCE)


async def _expire_silence(setup: Setup) -> Call:
    created = await _new(setup, "/api/v1/silences", SILENCE)
    return Call(f"/api/v1/silences/{created['id']}", "silence")


async def _create_inhibition(setup: Setup) -> Call:
    return Call("/api/v1/inhibition-rules", "inhibition_rule", INHIBITION)


async def _update_inhibition(setup: Setup) -> Call:
    created = await _new(setup, "/api/v1/inhibition-rules", INHIBITION)
    return Call(
        f"/api/v1/inhibition-rules/{created['id']}",
        "inhibition_rule",
        {**INHIBITION, "name": tag()},
    )


async def _delete_inhibition(setup: Setup) -> Call:
    created = await _new(setup, "/api/v1/inhibition-rules", INHIBITION)
    return Call(f"/api/v1/inhibition-rules/{created['id']}", "inhibition_rule")


async def _create_channel(setup: Setup) -> Call:
    return Call("/api/v1/channels", "notification_channel", {**CHANNEL, "name": tag()})


async def _update_channel(setup: Setup) -> Call:
    created = await _new_channel(setup)
    return Call(
        f"/api/v1/channels/{created['id']}",
        "notification_channel",
        {**created["channel"], "enabled": False},
    )


async def _delete_channel(setup: Setup) -> Call:
    created = await _new_channel(setup)
    return Call(f"/api/v1/channels/{created['id']}", "notification_channel")


async def _test_channel(setup: Setup) -> Call:
    created = await _new_channel(setup)
    return Call(f"/api/v1/channels/{created['id']}/test", "notification_channel")


# How to make a successful call of each mutating route. A new route must add
# its entry (or, if it is ingest, join INGEST_ROUTES): the walk fails without.
HOW_TO_CHANGE: dict[tuple[str, str], Callable[[Setup], Awaitable[Call]]] = {
    ("POST", "/api/v1/keys"): _create_key,
    ("DELETE", "/api/v1/keys/{key_id}"): _revoke_key,
    ("DELETE", "/api/v1/events/{event_id}"): _delete_event,
    ("PATCH", "/api/v1/events/groups/{group_id}"): _set_group_status,
    ("DELETE", "/api/v1/metrics/{series_id}"): _delete_series,
    ("POST", "/api/v1/dashboards"): _create_dashboard,
    ("PUT", "/api/v1/dashboards/{dashboard_id}"): _update_dashboard,
    ("DELETE", "/api/v1/dashboards/{dashboard_id}"): _delete_dashboard,
    ("PUT", "/api/v1/dashboards/{dashboard_id}/layout"): _set_layout,
    ("POST", "/api/v1/dashboards/import"): _import_dashboard,
    ("POST", "/api/v1/dashboard/widgets"): _create_widget,
    ("PUT", "/api/v1/dashboard/widgets/{widget_id}"): _update_widget,
    ("DELETE", "/api/v1/dashboard/widgets/{widget_id}"): _delete_widget,
    ("POST", "/api/v1/alerts"): _create_alert_rule,
    ("PUT", "/api/v1/alerts/{rule_id}"): _update_alert_rule,
    ("DELETE", "/api/v1/alerts/{rule_id}"): _delete_alert_rule,
    ("POST", "/api/v1/alerts/instances/{instance_id}/acknowledge"): _acknowledge_alert,
    ("POST", "/api/v1/alerts/instances/{instance_id}/resolve"): _resolve_alert,
    ("POST", "/api/v1/notification-policies"): _create_policy,
    ("PUT", "/api/v1/notification-policies/{policy_id}"): _update_policy,
    ("PUT", "/api/v1/notification-policies/default"): _update_default_policy,
    ("DELETE", "/api/v1/notification-policies/{policy_id}"): _delete_policy,
    ("POST", "/api/v1/silences"): _create_silence,
    ("DELETE", "/api/v1/silences/{silence_id}"): _expire_silence,
    ("POST", "/api/v1/inhibition-rules"): _create_inhibition,
    ("PUT", "/api/v1/inhibition-rules/{rule_id}"): _update_inhibition,
    ("DELETE", "/api/v1/inhibition-rules/{rule_id}"): _delete_inhibition,
    ("POST", "/api/v1/channels"): _create_channel,
    ("PUT", "/api/v1/channels/{channel_id}"): _update_channel,
    ("DELETE", "/api/v1/channels/{channel_id}"): _delete_channel,
    # A test sends a message out: its audit row says who sent what, and the outcome.
    ("POST", "/api/v1/channels/{channel_id}/test"): _test_channel,
}


async def _test_saved_alert_rule(setup: Setup) -> Call:
    created = await _new_alert_rule(setup)
    return Call(f"/api/v1/alerts/{created['id']}/test", "")


async def _test_alert_rule(setup: Setup) -> Call:
    return Call("/api/v1/alerts/test", "", {**ALERT_RULE, "name": tag()})


async def _backtest_alert_rule(setup: Setup) -> Call:
    span = {"from": "2026-12-01T00:00:00Z", "to": "2026-12-01T01:00:00Z"}
    return Call("/api/v1/alerts/backtest", "", {"rule": ALERT_RULE, **span})


# POST routes that change nothing (they compute an answer from a body): they
# must write no audit row.
CHANGES_NOTHING: dict[tuple[str, str], Callable[[Setup], Awaitable[Call]]] = {
    ("POST", "/api/v1/alerts/{rule_id}/test"): _test_saved_alert_rule,
    ("POST", "/api/v1/alerts/test"): _test_alert_rule,
    ("POST", "/api/v1/alerts/backtest"): _backtest_alert_rule,
}


async def test_every_mutating_route_writes_exactly_one_audit_row(
    client: httpx.AsyncClient, make_key: MakeKey, database_url: str
) -> None:
    spec = (await client.get("/openapi.json")).json()
    mutating = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in ("post", "put", "patch", "delete")
    }
    assert mutating >= INGEST_ROUTES, "INGEST_ROUTES names a route that does not exist"
    unknown = sorted(mutating - INGEST_ROUTES - HOW_TO_CHANGE.keys() - CHANGES_NOTHING.keys())
    assert not unknown, (
        f"mutating routes without an entry in HOW_TO_CHANGE: {unknown}. Each change must "
        "write an audit row (storage/audit.py record_change); add how to call it successfully."
    )
    assert not HOW_TO_CHANGE.keys() - mutating, "HOW_TO_CHANGE names a route that is gone"
    assert not CHANGES_NOTHING.keys() - mutating, "CHANGES_NOTHING names a route that is gone"

    admin, admin_token = await make_key("admin")
    setup = Setup(client, admin_token, make_key, database_url)
    for method, route in sorted(CHANGES_NOTHING):
        call = await CHANGES_NOTHING[(method, route)](setup)
        before = last_audit_id(database_url)
        response = await client.request(
            method, call.path, headers=auth(admin_token), json=call.body
        )
        assert response.is_success, (method, route, response.status_code, response.text)
        assert last_audit_id(database_url) == before, (method, route)
    for method, route in sorted(mutating - INGEST_ROUTES - CHANGES_NOTHING.keys()):
        call = await HOW_TO_CHANGE[(method, route)](setup)
        before = last_audit_id(database_url)
        response = await client.request(
            method, call.path, headers=auth(admin_token), json=call.body
        )
        assert response.is_success, (method, route, response.status_code, response.text)
        rows = rows_where(database_url, "id > %s", (before,))
        assert len(rows) == 1, (method, route, rows)
        (row,) = rows
        assert row["resource"] == call.resource, (method, route)
        assert (row["actor_kind"], row["actor_prefix"]) == ("key", admin.prefix)
        assert row["request_id"] == response.headers["X-Request-ID"]
        assert row["client_address"] == "127.0.0.1"


# GET /api/v1/audit


def record(gateway_connection: psycopg.Connection[Any], entry: AuditEntry) -> int:
    audit_store.record_change(gateway_connection, entry)
    row = gateway_connection.execute("select lastval()").fetchone()
    assert row is not None
    return int(row[0])


async def write_entries(gateway: Gateway, entries: list[AuditEntry]) -> list[int]:
    """Write entries in one transaction (so they share one time); their ids."""
    return await gateway.run(lambda connection: [record(connection, e) for e in entries])


def set_times(database_url: str, times: dict[int, datetime]) -> None:
    with psycopg.connect(database_url) as connection:
        for row_id, moment in times.items():
            connection.execute("update audit_log set time = %s where id = %s", (moment, row_id))


ALICE = Attribution(Actor.key("alice, ops", "aaaa1111"), Origin("192.0.2.1", "r-1"))
OPS_AT_CLI = Attribution(Actor.cli("ops"))
SYSTEM = Attribution(Actor.system())


async def list_audit(
    client: httpx.AsyncClient, token: str, params: dict[str, Any] | list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Every page of GET /api/v1/audit (asserting no page repeats an item)."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = list(params.items()) if isinstance(params, dict) else list(params)
        if cursor:
            query.append(("cursor", cursor))
        response = await client.get(AUDIT, headers=auth(token), params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        found.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            ids = [item["id"] for item in found]
            assert len(ids) == len(set(ids)), "an item appeared on two pages"
            return found


async def test_filters_by_resource_action_actor_and_time(
    client: httpx.AsyncClient, admin_token: str, gateway: Gateway, database_url: str
) -> None:
    resource = f"filters_{uuid.uuid4().hex[:8]}"
    ids = await write_entries(
        gateway,
        [
            AuditEntry(ALICE, resource, "1", "create", after={"n": 1}),
            AuditEntry(ALICE, resource, "1", "delete", before={"n": 1}),
            AuditEntry(OPS_AT_CLI, resource, "2", "create", after={"n": 2}),
            AuditEntry(SYSTEM, resource, "3", "create", after={"n": 3}),
        ],
    )
    day = datetime(2026, 3, 1, tzinfo=UTC)
    set_times(database_url, {row_id: day + timedelta(hours=n) for n, row_id in enumerate(ids)})

    async def ids_for(**params: Any) -> list[int]:
        items = await list_audit(client, admin_token, {"resource": resource, **params})
        return [item["id"] for item in items]

    newest_first = ids[::-1]
    assert await ids_for() == newest_first
    assert await ids_for(action="create") == [ids[3], ids[2], ids[0]]
    assert await ids_for(action="create,delete") == newest_first
    assert await ids_for(actor="alice, ops") == [ids[1], ids[0]]  # a name with a comma, whole
    assert await ids_for(actor="aaaa1111") == [ids[1], ids[0]]  # the key's prefix
    assert await ids_for(actor="cli") == [ids[2]]
    assert await ids_for(actor="ops") == [ids[2]]  # the CLI's OS user
    assert await ids_for(actor="system") == [ids[3]]
    assert await ids_for(**{"from": "2026-03-01T01:00:00Z", "to": "2026-03-01T03:00:00Z"}) == [
        ids[2],
        ids[1],
    ]  # from inclusive, to exclusive
    assert await ids_for(**{"from": "2026-03-01T04:00:00+02:00"}) == [ids[3], ids[2]]
    assert await ids_for(resource=f"{resource},elsewhere", actor="nobody") == []

    (item,) = await list_audit(client, admin_token, {"resource": resource, "action": "delete"})
    assert item == {
        "id": ids[1],
        "time": "2026-03-01T01:00:00Z",
        "actor": {"kind": "key", "name": "alice, ops", "prefix": "aaaa1111"},
        "resource": resource,
        "resource_id": "1",
        "action": "delete",
        "before": {"n": 1},
        "after": None,
        "client_address": "192.0.2.1",
        "request_id": "r-1",
    }


async def test_paging_walks_every_row_once_newest_first(
    client: httpx.AsyncClient, admin_token: str, gateway: Gateway, database_url: str
) -> None:
    resource = f"paging_{uuid.uuid4().hex[:8]}"
    # 30 rows of one transaction share one time (ties broken by id), 27 more
    # spread over a few times, some equal.
    same_time = await write_entries(
        gateway, [AuditEntry(SYSTEM, resource, str(n), "create") for n in range(30)]
    )
    spread = [
        (await write_entries(gateway, [AuditEntry(SYSTEM, resource, f"s{n}", "update")]))[0]
        for n in range(27)
    ]
    base = datetime(2026, 4, 1, tzinfo=UTC)
    set_times(
        database_url, {row_id: base + timedelta(minutes=n % 5) for n, row_id in enumerate(spread)}
    )
    set_times(database_url, dict.fromkeys(same_time, base + timedelta(minutes=2)))
    with psycopg.connect(database_url) as connection:
        expected = [
            row[0]
            for row in connection.execute(
                "select id from audit_log where resource = %s order by time desc, id desc",
                (resource,),
            )
        ]
    assert len(expected) == 57

    walked: list[int] = []
    cursor = None
    while True:
        params = {"resource": resource, "limit": "10", **({"cursor": cursor} if cursor else {})}
        body = (await client.get(AUDIT, headers=auth(admin_token), params=params)).json()
        assert len(body["items"]) <= 10
        walked.extend(item["id"] for item in body["items"])
        # A change made while someone pages is newer than every page: never seen mid-walk.
        await write_entries(gateway, [AuditEntry(SYSTEM, resource, "late", "create")])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert walked == expected  # no gaps, no duplicates, in order


async def test_secrets_are_redacted_before_they_are_stored(
    client: httpx.AsyncClient, admin_token: str, gateway: Gateway, database_url: str
) -> None:
    resource = f"secrets_{uuid.uuid4().hex[:8]}"
    (row_id,) = await write_entries(
        gateway,
        [
            AuditEntry(
                SYSTEM,
                resource,
                "1",
                "update",
                before={"webhook_url": "https://hooks.example/services/T1/B2/s3cr3tpath"},
                after={
                    "name": "pager",
                    "password": "hunter2",
                    "headers": {"Authorization": "Bearer xyz-secret"},
                    "url": "https://bot:botpass@chat.example/api?token=tok123&room=7",
                },
            )
        ],
    )
    (stored,) = rows_where(database_url, "id = %s", (row_id,))
    for secret in ("s3cr3tpath", "hunter2", "xyz-secret", "botpass", "tok123"):
        assert secret not in stored["_text"]
    (item,) = await list_audit(client, admin_token, {"resource": resource})
    assert item["after"] == {
        "name": "pager",
        "password": "[redacted]",
        "headers": {"Authorization": "[redacted]"},
        "url": "https://***@chat.example/api?token=***&room=7",
    }
    assert item["before"] == {"webhook_url": "https://hooks.example/***"}


def _edited(cursor: str) -> str:
    middle = len(cursor) // 2
    return cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1 :]


GOOD_CURSOR = encode_numbered_cursor(datetime(2026, 1, 1, tzinfo=UTC), 42)


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"cursor": "not a cursor"}, {"cursor"}),
        ({"cursor": "AAAA"}, {"cursor"}),
        ({"cursor": encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), uuid.uuid4())}, {"cursor"}),
        ({"cursor": _edited(GOOD_CURSOR)}, {"cursor"}),
        ({"cursor": GOOD_CURSOR[:-2]}, {"cursor"}),
        ({"from": "yesterday"}, {"from"}),
        ({"from": "2026-01-01T00:00:00"}, {"from"}),  # no zone
        ({"from": "1969-12-31T23:59:59Z"}, {"from"}),
        ({"to": "9000-01-01T00:00:00Z"}, {"to"}),
        ({"to": "99999-01-01T00:00:00Z"}, {"to"}),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, {"to"}),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, {"to"}),
        ({"limit": "0"}, {"limit"}),
        ({"limit": "1001"}, {"limit"}),
        ({"limit": "99999999999999999999999"}, {"limit"}),
        ({"limit": "-1"}, {"limit"}),
        ({"limit": "ten"}, {"limit"}),
        ({"limit": "1e3"}, {"limit"}),
        ({"resource_id": "1"}, {"resource_id"}),
        (
            {"from": "bad", "limit": "0", "cursor": "x", "sort": "asc"},
            {"from", "limit", "cursor", "sort"},
        ),
    ],
)
async def test_a_bad_query_is_a_400_naming_each_bad_parameter(
    client: httpx.AsyncClient, admin_token: str, params: dict[str, str], fields: set[str]
) -> None:
    response = await client.get(AUDIT, headers=auth(admin_token), params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {error["field"] for error in response.json()["errors"]} == fields


async def test_the_largest_page_is_1000(client: httpx.AsyncClient, admin_token: str) -> None:
    response = await client.get(AUDIT, headers=auth(admin_token), params={"limit": "1000"})
    assert response.status_code == 200


@pytest.mark.parametrize("role", ["read", "write"])
async def test_the_audit_log_needs_an_admin_key(
    client: httpx.AsyncClient, make_key: MakeKey, role: str
) -> None:
    _, token = await make_key(role)
    response = await client.get(AUDIT, headers=auth(token))
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    assert (await client.get(AUDIT)).status_code == 401


# The migration and retention.


def _migrate_up_to(url: str, last_version: int) -> None:
    """Apply the migrations up to `last_version` the way `apply_migrations` records them."""
    with psycopg.connect(url) as connection:
        connection.execute(
            "create table schema_migrations (version integer primary key, name text not null, "
            "applied_at timestamptz not null default now())"
        )
        for migration in available_migrations():
            if migration.version <= last_version:
                connection.execute(migration.sql.encode())
                connection.execute(
                    "insert into schema_migrations (version, name) values (%s, %s)",
                    (migration.version, migration.name),
                )


def test_rows_written_before_the_migration_stay_readable(empty_database_url: str) -> None:
    url = empty_database_url
    _migrate_up_to(url, 7)
    with psycopg.connect(url) as connection:
        connection.execute(
            "insert into api_keys (id, name, prefix, secret_sha256, role) overriding system value "
            "values (1, 'first admin', 'abcd1234', %s, 'admin'), "
            "(2, 'box', 'efgh5678', %s, 'write')",
            (b"\x00" * 32, b"\x01" * 32),
        )
        connection.execute(
            """
            insert into audit_log (time, actor, action, target, details) values
            ('2026-01-01Z', 'system', 'key.create', 'api_key:1:abcd1234',
             '{"role": "admin", "name": "first admin"}'),
            ('2026-01-02Z', 'key:1:abcd1234', 'key.create', 'api_key:2:efgh5678',
             '{"role": "write", "name": "box"}'),
            ('2026-01-03Z', 'cli', 'key.revoke', 'api_key:2:efgh5678', '{}'),
            ('2026-01-04Z', 'tests', 'key.create', 'api_key:2:efgh5678', '{}')
            """
        )
    applied = apply_migrations(url)
    assert 8 in [migration.version for migration in applied]
    rows = rows_where(url, "true")
    shown = [
        (
            r["actor_kind"],
            r["actor_name"],
            r["actor_prefix"],
            r["resource"],
            r["resource_id"],
            r["action"],
            r["after"],
        )
        for r in rows
    ]
    assert shown == [
        (
            "system",
            None,
            None,
            "api_key",
            "1",
            "create",
            {"id": 1, "prefix": "abcd1234", "role": "admin", "name": "first admin"},
        ),
        (
            "key",
            "first admin",
            "abcd1234",
            "api_key",
            "2",
            "create",
            {"id": 2, "prefix": "efgh5678", "role": "write", "name": "box"},
        ),
        ("cli", None, None, "api_key", "2", "revoke", {"id": 2, "prefix": "efgh5678"}),
        ("system", "tests", None, "api_key", "2", "create", {"id": 2, "prefix": "efgh5678"}),
    ]
    assert {r["before"] for r in rows} == {None}


async def test_pruning_deletes_rows_older_than_the_cutoff_in_batches(
    own_database_url: str,
) -> None:
    from monitor.storage.gateway import open_gateway

    now = datetime.now(UTC)
    async with open_gateway(
        own_database_url, pool_size=1, statement_timeout=10, acquire_timeout=5, connect_timeout=5
    ) as gateway:
        ids = await write_entries(
            gateway, [AuditEntry(SYSTEM, "prune", str(n), "create") for n in range(25)]
        )
        set_times(
            own_database_url,
            {row_id: now - timedelta(days=500 - n) for n, row_id in enumerate(ids[:23])},
        )
        deleted = await audit_store.prune(gateway, now - timedelta(days=400), batch_rows=10)
    assert deleted == 23
    assert [r["id"] for r in rows_where(own_database_url, "true")] == ids[23:]


async def test_the_maintenance_actor_applies_the_audit_retention(
    start_service: StartService, own_database_url: str, tmp_path: Path
) -> None:
    import trio

    with psycopg.connect(own_database_url) as connection:
        connection.execute(
            "insert into audit_log (time, actor_kind, resource, resource_id, action) values "
            "(now() - interval '31 days', 'system', 'old', '1', 'create'), "
            "(now() - interval '29 days', 'system', 'recent', '2', 'create')"
        )
    await start_service(
        make_settings(own_database_url, tmp_path, audit_retention=timedelta(days=30))
    )
    with trio.fail_after(10):
        while rows_where(own_database_url, "resource = 'old'"):
            await trio.sleep(0.05)  # maintenance runs once at start, in its own task
    assert [r["resource"] for r in rows_where(own_database_url, "resource <> 'api_key'")] == [
        "recent"
    ]
