"""The role matrix (docs/roles.md), declared by every route and enforced for each key role.

EXPECTED names every authenticated operation of the app with the role it
needs; PUBLIC names the few that need no key; SESSION names the browser's
routes, which take the dashboard session cookie instead of an API key. A route
in none of them (a new one) fails
`test_every_route_declares_the_role_the_matrix_gives_it`, so adding a route
means deciding its role here, in docs/roles.md (or docs/ui-sessions.md) and
in its decorator.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from trio_websocket import ConnectionClosed

from conftest import MakeKey, RunningService
from monitor.domain.keys import Role
from monitor.web.edge.auth import declared_role
from monitor.web.edge.sessions import uses_session_auth
from ws_helpers import connect, receive, send

INGEST, READ, WRITE, ADMIN = Role.INGEST, Role.READ, Role.WRITE, Role.ADMIN

# Method and path (OpenAPI form; "WS" for a websocket) -> the role the operation needs.
EXPECTED: dict[tuple[str, str], Role] = {
    # Sending data: every ingest route.
    ("POST", "/api/v1/events"): INGEST,
    ("POST", "/api/v1/events/bulk"): INGEST,
    ("POST", "/api/v1/metrics"): INGEST,
    ("POST", "/api/v1/metrics/bulk"): INGEST,
    ("POST", "/api/v1/metrics/increment/{name}"): INGEST,
    # Viewing.
    ("GET", "/api/v1/events"): READ,
    ("GET", "/api/v1/events/stats"): READ,
    ("GET", "/api/v1/events/groups"): READ,
    ("GET", "/api/v1/events/{event_id}"): READ,
    ("GET", "/api/v1/metrics"): READ,
    ("GET", "/api/v1/metrics/latest"): READ,
    ("GET", "/api/v1/metrics/names"): READ,
    ("GET", "/api/v1/metrics/sources"): READ,
    ("GET", "/api/v1/metrics/stats"): READ,
    ("GET", "/api/v1/metrics/labels"): READ,
    ("GET", "/api/v1/metrics/labels/{label}/values"): READ,
    ("GET", "/api/v1/dashboard/realtime"): READ,
    ("GET", "/api/v1/dashboards"): READ,
    ("GET", "/api/v1/dashboards/{dashboard_id}"): READ,
    ("GET", "/api/v1/dashboards/{dashboard_id}/export"): READ,
    ("GET", "/api/v1/dashboard/widgets"): READ,
    ("GET", "/api/v1/dashboard/widgets/{widget_id}"): READ,
    ("GET", "/api/v1/dashboard/overview"): READ,
    ("GET", "/api/v1/dashboard/top/{kind}"): READ,
    ("GET", "/api/v1/dashboard/timeseries"): READ,
    ("GET", "/api/v1/dashboard/heatmap"): READ,
    ("GET", "/api/v1/alerts"): READ,
    ("GET", "/api/v1/alerts/{rule_id}"): READ,
    ("GET", "/api/v1/alerts/{rule_id}/history"): READ,
    ("GET", "/api/v1/channels"): READ,
    ("GET", "/api/v1/channels/{channel_id}"): READ,
    ("GET", "/api/v1/alerts/instances"): READ,
    ("GET", "/stats"): READ,
    ("WS", "/ws"): READ,
    ("WS", "/ws/authenticated"): READ,
    # Day-to-day operations.
    ("PATCH", "/api/v1/events/groups/{group_id}"): WRITE,
    ("POST", "/api/v1/dashboards"): WRITE,
    ("PUT", "/api/v1/dashboards/{dashboard_id}"): WRITE,
    ("DELETE", "/api/v1/dashboards/{dashboard_id}"): WRITE,
    ("PUT", "/api/v1/dashboards/{dashboard_id}/layout"): WRITE,
    ("POST", "/api/v1/dashboards/import"): WRITE,
    ("POST", "/api/v1/dashboard/widgets"): WRITE,
    ("PUT", "/api/v1/dashboard/widgets/{widget_id}"): WRITE,
    ("DELETE", "/api/v1/dashboard/widgets/{widget_id}"): WRITE,
    ("POST", "/api/v1/alerts/instances/{instance_id}/acknowledge"): WRITE,
    ("POST", "/api/v1/alerts/instances/{instance_id}/resolve"): WRITE,
    # Administration: keys, deleting data.
    ("GET", "/api/v1/keys"): ADMIN,
    ("POST", "/api/v1/keys"): ADMIN,
    ("GET", "/api/v1/keys/{key_id}"): ADMIN,
    ("DELETE", "/api/v1/keys/{key_id}"): ADMIN,
    ("GET", "/api/v1/audit"): ADMIN,
    ("DELETE", "/api/v1/events/{event_id}"): ADMIN,
    ("DELETE", "/api/v1/metrics/{series_id}"): ADMIN,
    # Alert rules are administration; acting on instances is day-to-day.
    ("POST", "/api/v1/alerts"): ADMIN,
    ("PUT", "/api/v1/alerts/{rule_id}"): ADMIN,
    ("DELETE", "/api/v1/alerts/{rule_id}"): ADMIN,
    ("POST", "/api/v1/alerts/{rule_id}/test"): ADMIN,
    ("POST", "/api/v1/alerts/test"): ADMIN,
    ("POST", "/api/v1/alerts/backtest"): ADMIN,
    # Where notifications go and what mutes them: administration (issue 18).
    ("GET", "/api/v1/notification-policies"): READ,
    ("GET", "/api/v1/notification-policies/default"): READ,
    ("GET", "/api/v1/notification-policies/{policy_id}"): READ,
    ("POST", "/api/v1/notification-policies"): ADMIN,
    ("PUT", "/api/v1/notification-policies/default"): ADMIN,
    ("PUT", "/api/v1/notification-policies/{policy_id}"): ADMIN,
    ("DELETE", "/api/v1/notification-policies/{policy_id}"): ADMIN,
    ("GET", "/api/v1/notifications"): READ,
    ("GET", "/api/v1/notifications/{delivery_id}"): READ,
    ("GET", "/api/v1/silences"): READ,
    ("GET", "/api/v1/silences/{silence_id}"): READ,
    ("POST", "/api/v1/silences"): ADMIN,
    ("DELETE", "/api/v1/silences/{silence_id}"): ADMIN,
    ("GET", "/api/v1/inhibition-rules"): READ,
    ("GET", "/api/v1/inhibition-rules/{rule_id}"): READ,
    ("POST", "/api/v1/inhibition-rules"): ADMIN,
    ("PUT", "/api/v1/inhibition-rules/{rule_id}"): ADMIN,
    ("DELETE", "/api/v1/inhibition-rules/{rule_id}"): ADMIN,
    # Notification channels hold credentials and make the service send requests out.
    ("POST", "/api/v1/channels"): ADMIN,
    ("PUT", "/api/v1/channels/{channel_id}"): ADMIN,
    ("DELETE", "/api/v1/channels/{channel_id}"): ADMIN,
    ("POST", "/api/v1/channels/{channel_id}/test"): ADMIN,
}

# Routes that need no key, and why. Nothing under /api/v1 belongs here.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/health"): "liveness, for load balancers and orchestrators",
    ("GET", "/health/ready"): "readiness, for the same",
    ("GET", "/openapi.json"): "the API's description",
    ("GET", "/docs"): "Swagger UI",
    ("GET", "/static/{filename}"): "the UI's and Swagger UI's scripts and styles",
}

# Routes for browsers, authenticated by the session cookie (docs/ui-sessions.md),
# never by an API key: the role the session's key needs (`require_session_role`),
# or None for signing in and out, which any browser may try (sign-in checks the
# pasted key, sign-out the session's CSRF token).
SESSION: dict[tuple[str, str], Role | None] = {
    ("GET", "/ui/sign-in"): None,
    ("POST", "/ui/sign-in"): None,
    ("POST", "/ui/sign-out"): None,
    ("GET", "/ui/session"): READ,
    # The pages (web/ui/navigation.py); without a session they redirect to sign-in.
    ("GET", "/"): READ,
    ("GET", "/ui/overview/live"): READ,
    ("GET", "/ui/events"): READ,
    ("GET", "/ui/events/{event_id}"): READ,
    ("GET", "/ui/error-groups"): READ,
    ("GET", "/ui/error-groups/{group_id}"): READ,
    ("POST", "/ui/error-groups/{group_id}/status"): WRITE,
    ("GET", "/ui/metrics"): READ,
    ("POST", "/ui/metrics/add-to-dashboard"): WRITE,
    ("GET", "/ui/dashboards"): READ,
    ("GET", "/ui/dashboards/{dashboard_id}"): READ,
    ("GET", "/ui/dashboards/{dashboard_id}/grid.css"): READ,
    ("GET", "/ui/dashboards/{dashboard_id}/export"): READ,
    ("POST", "/ui/dashboards/import"): WRITE,
    ("GET", "/ui/dashboards/{dashboard_id}/arrange"): WRITE,
    ("POST", "/ui/dashboards/{dashboard_id}/layout"): WRITE,
    ("GET", "/ui/dashboards/{dashboard_id}/widgets/new"): WRITE,
    ("POST", "/ui/dashboards/{dashboard_id}/widgets"): WRITE,
    ("GET", "/ui/dashboards/{dashboard_id}/widgets/{widget_id}"): WRITE,
    ("POST", "/ui/dashboards/{dashboard_id}/widgets/{widget_id}"): WRITE,
    ("POST", "/ui/dashboards/{dashboard_id}/widgets/preview"): WRITE,
    ("POST", "/ui/dashboards/{dashboard_id}/widgets/{widget_id}/preview"): WRITE,
    ("GET", "/ui/dashboards/new"): WRITE,
    ("POST", "/ui/dashboards"): WRITE,
    ("GET", "/ui/dashboards/{dashboard_id}/edit"): WRITE,
    ("POST", "/ui/dashboards/{dashboard_id}/edit"): WRITE,
    ("POST", "/ui/dashboards/{dashboard_id}/default"): WRITE,
    ("GET", "/ui/dashboards/{dashboard_id}/delete"): WRITE,
    ("POST", "/ui/dashboards/{dashboard_id}/delete"): WRITE,
    ("GET", "/ui/dashboards/{dashboard_id}/widgets/{widget_id}/delete"): WRITE,
    ("POST", "/ui/dashboards/{dashboard_id}/widgets/{widget_id}/delete"): WRITE,
    ("GET", "/ui/alerts"): READ,
    ("GET", "/ui/alerts/instances/{instance_id}/acknowledge"): WRITE,
    ("POST", "/ui/alerts/instances/{instance_id}/acknowledge"): WRITE,
    ("GET", "/ui/alerts/instances/{instance_id}/resolve"): WRITE,
    ("POST", "/ui/alerts/instances/{instance_id}/resolve"): WRITE,
    ("GET", "/ui/alerts/rules"): READ,
    ("GET", "/ui/alerts/rules/{rule_id}"): READ,
    ("GET", "/ui/alerts/rules/new"): ADMIN,
    ("POST", "/ui/alerts/rules/new"): ADMIN,
    ("POST", "/ui/alerts/rules/new/preview"): ADMIN,
    ("POST", "/ui/alerts/rules/new/backtest"): ADMIN,
    ("GET", "/ui/alerts/rules/{rule_id}/edit"): ADMIN,
    ("POST", "/ui/alerts/rules/{rule_id}/edit"): ADMIN,
    ("POST", "/ui/alerts/rules/{rule_id}/edit/preview"): ADMIN,
    ("POST", "/ui/alerts/rules/{rule_id}/edit/backtest"): ADMIN,
    ("POST", "/ui/alerts/rules/{rule_id}/enabled"): ADMIN,
    ("GET", "/ui/alerts/rules/{rule_id}/delete"): ADMIN,
    ("POST", "/ui/alerts/rules/{rule_id}/delete"): ADMIN,
    ("GET", "/ui/notifications"): READ,
    ("GET", "/ui/notifications/{delivery_id}"): READ,
    ("GET", "/ui/channels"): READ,
    ("GET", "/ui/channels/{channel_id}"): READ,
    ("GET", "/ui/channels/new"): ADMIN,
    ("POST", "/ui/channels/new"): ADMIN,
    ("GET", "/ui/channels/{channel_id}/edit"): ADMIN,
    ("POST", "/ui/channels/{channel_id}/edit"): ADMIN,
    ("POST", "/ui/channels/{channel_id}/enabled"): ADMIN,
    ("GET", "/ui/channels/{channel_id}/delete"): ADMIN,
    ("POST", "/ui/channels/{channel_id}/delete"): ADMIN,
    ("POST", "/ui/channels/{channel_id}/test"): ADMIN,
    ("GET", "/ui/notification-policies"): READ,
    ("GET", "/ui/notification-policies/new"): ADMIN,
    ("POST", "/ui/notification-policies/new"): ADMIN,
    ("GET", "/ui/notification-policies/{policy_id}/edit"): ADMIN,
    ("POST", "/ui/notification-policies/{policy_id}/edit"): ADMIN,
    ("GET", "/ui/notification-policies/{policy_id}/delete"): ADMIN,
    ("POST", "/ui/notification-policies/{policy_id}/delete"): ADMIN,
    ("GET", "/ui/notification-policies/default/edit"): ADMIN,
    ("POST", "/ui/notification-policies/default/edit"): ADMIN,
    ("GET", "/ui/inhibition-rules"): READ,
    ("GET", "/ui/inhibition-rules/new"): ADMIN,
    ("POST", "/ui/inhibition-rules/new"): ADMIN,
    ("GET", "/ui/inhibition-rules/{rule_id}/edit"): ADMIN,
    ("POST", "/ui/inhibition-rules/{rule_id}/edit"): ADMIN,
    ("GET", "/ui/inhibition-rules/{rule_id}/delete"): ADMIN,
    ("POST", "/ui/inhibition-rules/{rule_id}/delete"): ADMIN,
    ("GET", "/ui/system"): READ,
    ("GET", "/ui/audit"): ADMIN,
    ("GET", "/ui/silences"): READ,
    ("GET", "/ui/silences/{silence_id}"): READ,
    ("GET", "/ui/silences/new"): ADMIN,
    ("POST", "/ui/silences/new"): ADMIN,
    ("GET", "/ui/silences/{silence_id}/expire"): ADMIN,
    ("POST", "/ui/silences/{silence_id}/expire"): ADMIN,
    ("GET", "/ui/keys"): ADMIN,
    ("POST", "/ui/keys"): ADMIN,
    ("GET", "/ui/keys/{key_id}/revoke"): ADMIN,
    ("POST", "/ui/keys/{key_id}/revoke"): ADMIN,
}

# Key role -> the roles of the operations it may call, as docs/roles.md says,
# written out here rather than taken from Role.may, which is under test.
MAY: dict[Role, set[Role]] = {
    INGEST: {INGEST},
    READ: {READ},
    WRITE: {INGEST, READ, WRITE},
    ADMIN: {INGEST, READ, WRITE, ADMIN},
}

# A value for each path parameter that matches its converter and finds nothing,
# so that an allowed call changes no data (404, or 400 for the body first).
PATH_VALUES = {
    "event_id": str(uuid.UUID(int=0)),
    "group_id": str(2**63 + 1),
    "series_id": str(2**31 + 1),
    "key_id": str(2**63 + 1),
    "dashboard_id": str(2**63 + 1),
    "widget_id": str(2**63 + 1),
    "rule_id": str(2**63 + 1),
    "instance_id": str(2**63 + 1),
    "policy_id": str(2**63 + 1),
    "silence_id": str(2**63 + 1),
    "channel_id": str(2**63 + 1),
    "delivery_id": str(2**63 + 1),
    "name": "role_matrix_probe",
    "label": "role_matrix_probe",
    "kind": "errors",
}
MALFORMED_JSON = b'{"'
NOT_GUARDED = {401, 403, 405}


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]*:)?([^<>]+)>", r"{\1}", rule)


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda match: PATH_VALUES[match[1]], path)


def auth(token: str) -> dict[str, str]:
    return {"X-API-Key": token}


def test_the_matrix_tables_are_consistent() -> None:
    assert not set(EXPECTED) & set(PUBLIC)
    assert not set(SESSION) & (set(EXPECTED) | set(PUBLIC))
    assert all(path == "/" or path.startswith("/ui/") for _, path in SESSION)
    # Everything under /api/v1 needs a key; a public route there is a decision
    # to make explicitly, not by adding it to PUBLIC.
    assert not [path for _, path in PUBLIC if path.startswith("/api/v1")]
    assert set(MAY) == set(Role)


async def test_every_route_declares_the_role_the_matrix_gives_it(running: RunningService) -> None:
    app = running.running.app
    found: dict[tuple[str, str], Role | None] = {}
    by_session: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        methods = {"WS"} if rule.websocket else set(rule.methods or ()) - {"HEAD", "OPTIONS"}
        for method in methods:
            found[(method, openapi_path(rule.rule))] = declared_role(view)
            if uses_session_auth(view):
                by_session.add((method, openapi_path(rule.rule)))
    unknown = sorted(set(found) - set(EXPECTED) - set(PUBLIC) - set(SESSION))
    assert not unknown, (
        f"routes missing from the role matrix (EXPECTED, PUBLIC or SESSION): {unknown}"
    )
    gone = sorted((set(EXPECTED) | set(PUBLIC) | set(SESSION)) - set(found))
    assert not gone, f"the role matrix names routes that do not exist: {gone}"
    assert {op: found[op] for op in PUBLIC} == dict.fromkeys(PUBLIC)
    assert {op: found[op] for op in EXPECTED} == EXPECTED
    assert {op: found[op] for op in SESSION} == SESSION
    # A role on a browser route is enforced by the session guard, not the API key's.
    assert by_session == {op for op, role in SESSION.items() if role is not None}


async def test_the_openapi_document_names_each_operations_role(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            key = (method.upper(), path)
            assert key in EXPECTED or key in PUBLIC, key
            if key in PUBLIC:
                assert "x-required-role" not in operation, key
                continue
            required = EXPECTED[key]
            assert operation["x-required-role"] == required.label, key
            holders = [role.label for role in Role if required in MAY[role]]
            assert all(label in operation["description"] for label in holders), key
    role_schema = spec["components"]["schemas"]["Role"]
    assert role_schema["enum"] == ["ingest", "read", "write", "admin"]


async def stream_answer(base_url: str, path: str, token: str) -> tuple[bool, str]:
    """Whether a websocket on `path` with `token` is admitted, and what was seen."""
    in_url = path == "/ws/authenticated"
    async with connect(
        base_url,
        None if in_url else token,
        f"{path}?apiKey={token}" if in_url else path,
    ) as ws:
        try:
            await send(ws, {"type": "ping", "id": "matrix"})
            answer = await receive(ws)
        except ConnectionClosed as closed:
            return False, f"{closed.reason.code} {closed.reason.reason}"
    return answer == {"type": "pong", "id": "matrix"}, str(answer)


@pytest.mark.parametrize("key_role", list(Role), ids=lambda role: f"key={role.label}")
async def test_each_key_role_is_refused_exactly_where_the_matrix_says(
    running: RunningService, make_key: MakeKey, key_role: Role
) -> None:
    _, token = await make_key(key_role.label)
    wrong: list[str] = []
    async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
        for (method, path), required in EXPECTED.items():
            allowed = required in MAY[key_role]
            if method == "WS":
                admitted, seen = await stream_answer(running.base_url, path, token)
                refusal = f"1008 streaming needs the read role; the key has {key_role.label}"
                if admitted != allowed or (not allowed and seen != refusal):
                    wrong.append(f"WS {path}: {seen}")
                continue
            response = await http.request(
                method,
                concrete(path),
                headers={**auth(token), "Content-Type": "application/json"},
                content=MALFORMED_JSON if method in ("POST", "PATCH") else None,
            )
            status = response.status_code
            if allowed and (status in NOT_GUARDED or status >= 500):
                wrong.append(f"{method} {path}: {status} {response.text[:200]}")
            if not allowed:
                problem = response.json() if status == 403 else {}
                if (
                    problem.get("type") != "urn:monitor:problem:forbidden"
                    or f"needs the {required.label} role" not in problem.get("detail", "")
                    or f"the key has {key_role.label}" not in problem.get("detail", "")
                ):
                    wrong.append(f"{method} {path}: {status} {response.text[:200]}")
    assert wrong == [], f"with a {key_role.label} key"


async def test_an_agent_with_an_ingest_key_sends_data_that_only_readers_see(
    client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    _, agent = await make_key("ingest")
    _, reader = await make_key("read")
    source = f"agent-{uuid.uuid4().hex[:12]}"
    metric = f"agent_{uuid.uuid4().hex[:12]}"
    sent = [
        ("/api/v1/events", {"type": "deploy", "source": source}),
        ("/api/v1/events/bulk", [{"type": "boot", "source": source}]),
        ("/api/v1/metrics", {"name": metric, "value": 1.5, "source": source}),
        ("/api/v1/metrics/bulk", [{"name": f"{metric}_b", "value": 2, "source": source}]),
        (f"/api/v1/metrics/increment/{metric}_total", {"by": 3, "source": source}),
    ]
    for path, body in sent:
        response = await client.post(path, headers=auth(agent), json=body)
        assert response.status_code == 201, (path, response.text)

    # The agent cannot read back what it sent; a read key sees all of it.
    assert (
        await client.get("/api/v1/events", headers=auth(agent), params={"source": source})
    ).status_code == 403
    events = await client.get("/api/v1/events", headers=auth(reader), params={"source": source})
    assert sorted(event["type"] for event in events.json()["events"]) == ["boot", "deploy"]
    latest = await client.get(
        "/api/v1/metrics/latest", headers=auth(reader), params={"source": source}
    )
    assert sorted((s["name"], s["value"]) for s in latest.json()["series"]) == [
        (metric, 1.5),
        (f"{metric}_b", 2.0),
        (f"{metric}_total", 3.0),
    ]
    # And a read key may not send.
    refused = await client.post(
        "/api/v1/events", headers=auth(reader), json={"type": "x", "source": source}
    )
    assert refused.status_code == 403
    assert "needs the ingest role" in refused.json()["detail"]


def test_docs_list_each_route_with_the_role_the_matrix_gives_it() -> None:
    text = (Path(__file__).parents[1] / "docs" / "roles.md").read_text(encoding="utf-8")
    row = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE|WS) (\S+)` \| `(\w+)` \|", re.M)
    listed = {(match[1], match[2]): match[3] for match in row.finditer(text)}
    assert listed == {operation: role.label for operation, role in EXPECTED.items()}
