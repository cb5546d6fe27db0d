"""Alert rules, instances and history through HTTP: CRUD with versions and If-Match, every
kind's fields checked and named, sandboxed templates, roles, audit rows, acknowledging and
resolving instances, keyset paging, and hostile input of every kind."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from alert_helpers import add_instance
from conftest import MakeKey

ALERTS = "/api/v1/alerts"
INSTANCES = "/api/v1/alerts/instances"
EXAMPLE: dict[str, Any] = {
    "name": "api latency high",
    "kind": "metric_threshold",
    "enabled": True,
    "selector": {"name": "http_request_seconds", "labels": {"service": "api"}},
    "aggregation": "p95",
    "window": "5m",
    "group_by": ["host"],
    "comparator": ">",
    "threshold": 0.5,
    "resolve_threshold": 0.4,
    "interval": "30s",
    "for": "2m",
    "keep_firing_for": "5m",
    "no_data": "no_data",
    "severity": "warning",
    "labels": {"team": "api"},
    "annotations": {"summary": "p95 {{ value | round(3) }} s on {{ labels.host }}"},
}


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"X-API-Key": token, **headers}


def unique(prefix: str = "rule") -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def rule(**fields: Any) -> dict[str, Any]:
    return {**EXAMPLE, "name": unique(), **fields}


def audit_actions(database_url: str, resource: str, resource_id: int) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as connection:
        found = connection.execute(
            "select action, actor_name from audit_log "
            "where resource = %s and resource_id = %s order by id",
            (resource, str(resource_id)),
        ).fetchall()
    return [(action, name) for action, name in found]


@pytest.fixture
async def admin(make_key: MakeKey) -> str:
    return (await make_key("admin", name=unique("rules admin")))[1]


@pytest.fixture
async def operator(make_key: MakeKey) -> tuple[str, str]:
    """A write key: (its name, its token)."""
    name = unique("on call")
    return name, (await make_key("write", name=name))[1]


async def create(client: httpx.AsyncClient, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(ALERTS, headers=auth(token), json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def fields_named(response: httpx.Response) -> set[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {error["field"] for error in response.json()["errors"]}


# Rules: create, read, replace, delete.


async def test_a_rule_round_trips_with_its_version_as_etag_and_audit_rows(
    client: httpx.AsyncClient, admin: str, database_url: str
) -> None:
    body = rule()
    response = await client.post(ALERTS, headers=auth(admin), json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == f"{ALERTS}/{created['id']}"
    assert response.headers["ETag"] == '"1"'
    assert created["version"] == 1 and created["created_by"].startswith("rules admin")
    # The canonical document: what was sent, with every default written out.
    assert created["rule"] == {**body, "description": "", "offset": "30s"}

    got = await client.get(f"{ALERTS}/{created['id']}", headers=auth(admin))
    assert (got.status_code, got.headers["ETag"], got.json()) == (200, '"1"', created)
    listed = (await client.get(ALERTS, headers=auth(admin))).json()["rules"]
    assert created in listed

    changed = {**created["rule"], "threshold": 0.8}
    replaced = await client.put(
        f"{ALERTS}/{created['id']}", headers=auth(admin, **{"If-Match": '"1"'}), json=changed
    )
    assert (replaced.status_code, replaced.headers["ETag"]) == (200, '"2"')
    assert replaced.json()["rule"]["threshold"] == 0.8

    stale = await client.put(
        f"{ALERTS}/{created['id']}",
        headers=auth(admin, **{"If-Match": '"1"'}),
        json={**changed, "threshold": 0.9},
    )
    assert stale.status_code == 412 and stale.headers["ETag"] == '"2"'
    assert stale.json()["type"] == "urn:monitor:problem:stale-version"
    # Without If-Match, the last write wins (as for dashboards).
    unconditional = await client.put(
        f"{ALERTS}/{created['id']}", headers=auth(admin), json={**changed, "threshold": 0.9}
    )
    assert unconditional.json()["version"] == 3
    same = await client.put(
        f"{ALERTS}/{created['id']}", headers=auth(admin), json=unconditional.json()["rule"]
    )
    assert same.json()["version"] == 3, "sending the stored rule back changes nothing"

    refused = await client.delete(
        f"{ALERTS}/{created['id']}", headers=auth(admin, **{"If-Match": '"2"'})
    )
    assert refused.status_code == 412
    deleted = await client.delete(
        f"{ALERTS}/{created['id']}", headers=auth(admin, **{"If-Match": '"3"'})
    )
    assert deleted.status_code == 204
    assert (await client.get(f"{ALERTS}/{created['id']}", headers=auth(admin))).status_code == 404
    again = await client.delete(f"{ALERTS}/{created['id']}", headers=auth(admin))
    assert again.status_code == 404
    actions = audit_actions(database_url, "alert_rule", created["id"])
    assert [action for action, _ in actions] == ["create", "update", "update", "delete"]
    assert all(name.startswith("rules admin") for _, name in actions)


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "event_count", "filters": {"level": "error", "source": "api"}, "window": "5m",
         "group_by": ["source"], "comparator": ">", "threshold": 10},
        {"kind": "event_count", "filters": {"attr.region": "eu", "type": ["a", "b"]},
         "aggregation": "rate", "window": "1m", "comparator": ">=", "threshold": 0.5},
        {"kind": "error_group", "condition": "new", "filters": {"source": "api"}},
        {"kind": "error_group", "condition": "regression", "resolve_after": "2h"},
        {"kind": "error_group", "condition": "frequency", "window": "10m", "comparator": ">",
         "threshold": 100},
        {"kind": "absence", "selector": {"name": "heartbeat", "labels": {"env!": "dev"}},
         "window": "5m", "group_by": ["host"], "lookback": "1d"},
        {"kind": "absence", "filters": {"type": "cron"}, "window": "1h", "group_by": ["source"]},
    ],
    ids=lambda body: f"{body['kind']}-{body.get('condition', body.get('aggregation', ''))}",
)  # fmt: skip
async def test_every_kind_is_accepted_and_read_back_as_it_is_parsed(
    client: httpx.AsyncClient, admin: str, body: dict[str, Any]
) -> None:
    sent = {"name": unique(), **body}
    created = await create(client, admin, sent)
    assert created["rule"]["kind"] == body["kind"]
    # The canonical document is accepted as it is, unchanged (no new version).
    again = await client.put(f"{ALERTS}/{created['id']}", headers=auth(admin), json=created["rule"])
    assert (again.status_code, again.json()) == (200, created)


BAD_FIELDS: list[tuple[dict[str, Any], set[str]]] = [
    ({"threshold": "0.5"}, {"threshold"}),
    ({"threshold": True}, {"threshold"}),
    ({"threshold": 2**60}, {"threshold"}),
    ({"window": "5 parsecs"}, {"window"}),
    ({"window": "1s"}, {"window"}),
    ({"interval": "1s"}, {"interval"}),
    ({"aggregation": "median"}, {"aggregation"}),
    ({"comparator": "=>"}, {"comparator"}),
    ({"resolve_threshold": 0.6}, {"resolve_threshold"}),
    ({"severity": "page"}, {"severity"}),
    ({"no_data": "panic"}, {"no_data"}),
    ({"enabled": "yes"}, {"enabled"}),
    ({"name": ""}, {"name"}),
    ({"name": "x" * 201}, {"name"}),
    ({"selector": {"name": "bad name!"}}, {"selector.name"}),
    ({"selector": {"name": "m", "labels": {"host": 3}}}, {"selector.labels.host"}),
    ({"selector": {"name": "m", "colour": "red"}}, {"selector.colour"}),
    ({"group_by": ["host", "host"]}, {"group_by"}),
    ({"labels": {"severity": "high"}}, {"labels"}),
    ({"labels": {"team": 7}}, {"labels"}),
    ({"colour": "red"}, {"colour"}),
    ({"filters": {"source": "api"}}, {"filters"}),  # not for metric_threshold
    ({"kind": "event_count", "filters": {"colour": "red"}}, {"filters.colour"}),
    ({"kind": "event_count", "filters": {"level": "loud"}}, {"filters.level"}),
    ({"kind": "event_count", "filters": {"q": "x" * 201}}, {"filters.q"}),
    ({"kind": "event_count", "group_by": ["host"]}, {"group_by"}),
    ({"kind": "event_count", "aggregation": "p95"}, {"aggregation"}),
    ({"kind": "error_group", "condition": "sometimes"}, {"condition"}),
    ({"kind": "error_group", "condition": "new", "window": "5m"}, {"window"}),
    ({"kind": "error_group", "condition": "frequency", "resolve_after": "1h"}, {"resolve_after"}),
    ({"kind": "absence", "filters": {"type": "x"}}, {"selector"}),
    ({"kind": "absence", "lookback": "1m"}, {"lookback"}),
    ({"kind": "sometimes"}, {"kind"}),
]


def _bad(change: dict[str, Any]) -> dict[str, Any]:
    """The example made into `change`'s kind (its kind-specific fields dropped), then changed."""
    base = rule()
    kind = change.get("kind", "metric_threshold")
    if kind != "metric_threshold":
        for key in ("selector", "aggregation", "group_by", "comparator", "threshold",
                    "resolve_threshold"):  # fmt: skip
            base.pop(key)
        if kind == "event_count":
            base.update(comparator=">", threshold=1)
        if kind == "absence":
            base["selector"] = {"name": "heartbeat"}
    return {**base, **change}


@pytest.mark.parametrize(
    ("change", "named"), BAD_FIELDS, ids=[json.dumps(change)[:60] for change, _ in BAD_FIELDS]
)
async def test_each_bad_field_is_named_in_the_400_and_nothing_is_stored(
    client: httpx.AsyncClient, admin: str, change: dict[str, Any], named: set[str]
) -> None:
    body = _bad(change)
    response = await client.post(ALERTS, headers=auth(admin), json=body)
    assert named <= fields_named(response)
    listed = (await client.get(ALERTS, headers=auth(admin))).json()["rules"]
    assert body.get("name") not in [item["rule"]["name"] for item in listed]


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ labels.__class__ }}",
        "{{ value.__class__.__base__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{% for i in range(10**9) %}x{% endfor %}",
        "{% set x = 1 %}",
        "{{ lipsum() }}",
        "{{ labels.host | attr('__class__') }}",
        "{{ unclosed",
        "{% include '/etc/passwd' %}",
    ],
)
async def test_template_injection_is_refused_naming_the_template(
    client: httpx.AsyncClient, admin: str, template: str
) -> None:
    annotated = await client.post(
        ALERTS, headers=auth(admin), json=rule(annotations={"summary": template})
    )
    assert "annotations.summary" in fields_named(annotated)
    labelled = await client.post(ALERTS, headers=auth(admin), json=rule(labels={"team": template}))
    assert "labels.team" in fields_named(labelled)


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b'{"name": ', 400),
        (b"[1, 2]", 400),
        (b'"a rule"', 400),
        (b"null", 400),
        (b"[" * 100_000, 413),
        (b"[" * 50_000, 400),
        (json.dumps({**EXAMPLE, "description": "x" * 100_000}).encode(), 413),
        (json.dumps({**EXAMPLE, "description": "x" * 70_000}).encode(), 400),
        (b'{"name": "a", "kind": "absence", "threshold": 1' + b"0" * 5000 + b"}", 400),
        (b"\xff\xfe", 400),
        # Python's JSON reads these literals; a rule's numbers must be finite.
        (json.dumps({**EXAMPLE, "threshold": float("nan")}).encode(), 400),
        (json.dumps({**EXAMPLE, "resolve_threshold": float("-inf")}).encode(), 400),
    ],
    ids=lambda value: str(value)[:40],
)
async def test_undecodable_or_oversized_rule_bodies(
    client: httpx.AsyncClient, admin: str, content: bytes, status: int
) -> None:
    response = await client.post(
        ALERTS, headers=auth(admin, **{"Content-Type": "application/json"}), content=content
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_body_that_is_not_json_is_a_415(client: httpx.AsyncClient, admin: str) -> None:
    response = await client.post(
        ALERTS, headers=auth(admin, **{"Content-Type": "text/plain"}), content=b"{}"
    )
    assert response.status_code == 415


async def test_names_are_unique_whatever_their_case(client: httpx.AsyncClient, admin: str) -> None:
    first = await create(client, admin, rule())
    taken = await client.post(
        ALERTS, headers=auth(admin), json=rule(name=first["rule"]["name"].upper())
    )
    assert taken.status_code == 409 and "exists" in taken.json()["detail"]
    assert taken.json()["type"] == "urn:monitor:problem:name_taken"
    other = await create(client, admin, rule())
    renamed = await client.put(
        f"{ALERTS}/{other['id']}",
        headers=auth(admin),
        json={**other["rule"], "name": first["rule"]["name"]},
    )
    assert renamed.status_code == 409


async def test_a_malformed_if_match_is_a_400(client: httpx.AsyncClient, admin: str) -> None:
    created = await create(client, admin, rule())
    response = await client.put(
        f"{ALERTS}/{created['id']}", headers=auth(admin, **{"If-Match": "3"}), json=created["rule"]
    )
    assert "If-Match" in fields_named(response)


@pytest.mark.parametrize(
    "path",
    [
        f"{ALERTS}/999999999999",
        f"{ALERTS}/{2**63}",
        f"{ALERTS}/{10**30}",
        f"{ALERTS}/abc",
        f"{ALERTS}/-1",
        f"{ALERTS}/1.5",
        f"{ALERTS}/999999999999/history",
        f"{ALERTS}/{2**64}/history",
    ],
)
async def test_unknown_or_garbled_rule_ids_are_404(
    client: httpx.AsyncClient, admin: str, path: str
) -> None:
    for method in ("GET", "PUT", "DELETE"):
        if path.endswith("/history") and method != "GET":
            continue
        response = await client.request(method, path, headers=auth(admin), json=rule())
        assert response.status_code in (404, 405), (method, path, response.text)
        if method == "GET":
            assert response.status_code == 404


async def test_roles_rules_are_admins_reading_is_reads(
    client: httpx.AsyncClient, admin: str, make_key: MakeKey, operator: tuple[str, str]
) -> None:
    _, writer = operator
    _, reader = await make_key("read")
    _, ingest = await make_key("ingest")
    created = await create(client, admin, rule())
    path = f"{ALERTS}/{created['id']}"
    for token in (writer, reader, ingest):
        for method, url in (("POST", ALERTS), ("PUT", path), ("DELETE", path)):
            response = await client.request(method, url, headers=auth(token), json=rule())
            assert response.status_code == 403, (method, url, response.text)
            assert "needs the admin role" in response.json()["detail"]
    for token in (writer, reader):
        for url in (ALERTS, path, f"{path}/history", INSTANCES):
            assert (await client.get(url, headers=auth(token))).status_code == 200, url
    assert (await client.get(ALERTS, headers=auth(ingest))).status_code == 403
    for url in (ALERTS, path, f"{path}/history", INSTANCES):
        assert (await client.get(url)).status_code == 401
    assert (await client.post(ALERTS, json=rule())).status_code == 401
    assert (await client.get(path, headers=auth("mon_notakey_" + "x" * 32))).status_code == 401


async def test_the_openapi_document_describes_every_rule_field_with_the_issues_example(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/alerts"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rpartition("/")[2]]
    assert schema["examples"] == [EXAMPLE]
    documented = {name for name, field in schema["properties"].items() if field.get("description")}
    every_field = set(EXAMPLE) | {
        "description", "filters", "condition", "resolve_after", "lookback", "offset",
    }  # fmt: skip
    assert every_field <= documented


# Instances: written as the evaluator would write them (alert_helpers.py).


@pytest.fixture
async def quiet_rule(client: httpx.AsyncClient, admin: str) -> int:
    created = await create(client, admin, rule(enabled=False))
    rule_id: int = created["id"]
    return rule_id


async def test_acknowledging_marks_a_firing_instance_owned_by_the_keys_name(
    client: httpx.AsyncClient,
    operator: tuple[str, str],
    quiet_rule: int,
    database_url: str,
) -> None:
    name, writer = operator
    instance_id = add_instance(database_url, quiet_rule)
    until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    response = await client.post(
        f"{INSTANCES}/{instance_id}/acknowledge",
        headers=auth(writer),
        json={"comment": "looking into it", "until": until},
    )
    assert response.status_code == 200, response.text
    answered = response.json()
    assert answered["state"] == "firing"
    ack = answered["acknowledgement"]
    assert (ack["by"], ack["comment"]) == (name, "looking into it")
    assert datetime.fromisoformat(ack["until"]) == datetime.fromisoformat(until)
    assert audit_actions(database_url, "alert_instance", instance_id) == [("acknowledge", name)]
    listed = await client.get(INSTANCES, headers=auth(writer), params={"rule_id": quiet_rule})
    # The list adds what mutes each open instance now (nothing here).
    assert listed.json()["instances"] == [{**answered, "silenced_by": [], "inhibited_by": []}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "comment"),
        ({"comment": ""}, "comment"),
        ({"comment": "   "}, "comment"),
        ({"comment": "a\u0000b"}, "comment"),  # PostgreSQL text holds no NUL: a 400, not a 500
        ({"comment": 3}, "comment"),
        ({"comment": "x" * 2001}, "comment"),
        ({"comment": "ok", "until": "tomorrow"}, "until"),
        ({"comment": "ok", "until": "2020-01-01T00:00:00+00:00"}, "until"),
        ({"comment": "ok", "until": "2099-01-01T00:00:00"}, "until"),  # no offset
        ({"comment": "ok", "by": "someone else"}, "by"),
    ],
)
async def test_acknowledge_bodies_are_checked(
    client: httpx.AsyncClient,
    operator: tuple[str, str],
    quiet_rule: int,
    database_url: str,
    body: dict[str, Any],
    field: str,
) -> None:
    _, writer = operator
    instance_id = add_instance(database_url, quiet_rule)
    response = await client.post(
        f"{INSTANCES}/{instance_id}/acknowledge", headers=auth(writer), json=body
    )
    assert field in fields_named(response)
    assert audit_actions(database_url, "alert_instance", instance_id) == []


async def test_resolving_by_hand_closes_the_instance_once(
    client: httpx.AsyncClient,
    operator: tuple[str, str],
    quiet_rule: int,
    database_url: str,
) -> None:
    name, writer = operator
    instance_id = add_instance(database_url, quiet_rule)
    response = await client.post(f"{INSTANCES}/{instance_id}/resolve", headers=auth(writer))
    assert response.status_code == 200, response.text
    answered = response.json()
    assert answered["state"] == "resolved" and answered["closed_at"] is not None
    assert answered["reason"] == f"resolved by {name}"
    again = await client.post(f"{INSTANCES}/{instance_id}/resolve", headers=auth(writer))
    assert again.status_code == 409 and "already resolved" in again.json()["detail"]
    ack = await client.post(
        f"{INSTANCES}/{instance_id}/acknowledge", headers=auth(writer), json={"comment": "late"}
    )
    assert ack.status_code == 409
    assert audit_actions(database_url, "alert_instance", instance_id) == [("resolve", name)]
    history = await client.get(f"{ALERTS}/{quiet_rule}/history", headers=auth(writer))
    latest = history.json()["transitions"][0]
    assert (latest["from_state"], latest["to_state"], latest["actor"]) == (
        "firing",
        "resolved",
        name,
    )


async def test_actions_the_state_does_not_allow_are_409(
    client: httpx.AsyncClient,
    operator: tuple[str, str],
    quiet_rule: int,
    database_url: str,
) -> None:
    _, writer = operator
    pending = add_instance(database_url, quiet_rule, state="pending", host="p")
    refused = await client.post(
        f"{INSTANCES}/{pending}/acknowledge", headers=auth(writer), json={"comment": "mine"}
    )
    assert refused.status_code == 409 and "pending" in refused.json()["detail"]
    # An older instance of a slot that has opened a newer one is closed.
    old = add_instance(database_url, quiet_rule, state="resolved", host="o", closed=True)
    add_instance(database_url, quiet_rule, host="o", sequence=2)
    for action in ("resolve", "acknowledge"):
        response = await client.post(
            f"{INSTANCES}/{old}/{action}", headers=auth(writer), json={"comment": "x"}
        )
        assert response.status_code == 409, response.text
        assert "newer instance" in response.json()["detail"]


@pytest.mark.parametrize("instance", ["999999999999", str(2**63), str(10**25), "abc", "-1"])
async def test_unknown_or_garbled_instances_are_404(
    client: httpx.AsyncClient, operator: tuple[str, str], instance: str
) -> None:
    _, writer = operator
    for action in ("resolve", "acknowledge"):
        response = await client.post(
            f"{INSTANCES}/{instance}/{action}", headers=auth(writer), json={"comment": "x"}
        )
        assert response.status_code == 404, response.text


async def test_acting_on_instances_needs_the_write_role(
    client: httpx.AsyncClient, make_key: MakeKey, quiet_rule: int, database_url: str
) -> None:
    instance_id = add_instance(database_url, quiet_rule)
    _, reader = await make_key("read")
    _, ingest = await make_key("ingest")
    for action in ("resolve", "acknowledge"):
        url = f"{INSTANCES}/{instance_id}/{action}"
        for token in (reader, ingest):
            response = await client.post(url, headers=auth(token), json={"comment": "x"})
            assert response.status_code == 403
            assert "needs the write role" in response.json()["detail"]
        assert (await client.post(url, json={"comment": "x"})).status_code == 401
    assert audit_actions(database_url, "alert_instance", instance_id) == []


async def test_instances_are_filtered_and_keyset_paged_newest_first(
    client: httpx.AsyncClient, operator: tuple[str, str], quiet_rule: int, database_url: str
) -> None:
    _, reader = operator
    start = datetime(2026, 11, 1, tzinfo=UTC)
    made = [
        add_instance(
            database_url,
            quiet_rule,
            host=f"h{index}",
            opened_at=start + timedelta(hours=index),
            state="firing" if index % 2 else "resolved",
            closed=not index % 2,
            severity="critical" if index < 3 else "warning",
        )
        for index in range(7)
    ]
    seen: list[int] = []
    params: dict[str, Any] = {"rule_id": quiet_rule, "limit": 3}
    while True:
        page = await client.get(INSTANCES, headers=auth(reader), params=params)
        assert page.status_code == 200, page.text
        seen.extend(item["id"] for item in page.json()["instances"])
        if page.json()["next_cursor"] is None:
            break
        params["cursor"] = page.json()["next_cursor"]
    assert seen == made[::-1]

    async def ids(**query: Any) -> list[int]:
        response = await client.get(
            INSTANCES, headers=auth(reader), params={"rule_id": quiet_rule, **query}
        )
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["instances"]]

    assert await ids(state="firing") == [made[5], made[3], made[1]]
    assert await ids(state="resolved,firing", severity="critical") == made[2::-1]
    # Open at some moment of [from, to): opened before to, not closed before from.
    window = {
        "from": (start + timedelta(hours=4, minutes=30)).isoformat(),
        "to": (start + timedelta(hours=5, minutes=30)).isoformat(),
    }
    assert await ids(**window) == [made[5], made[3], made[1]]
    assert await ids(rule_id=f"{quiet_rule},999999999999") == made[::-1]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"state": "burning"}, "state"),
        ({"severity": "page"}, "severity"),
        ({"rule_id": "abc"}, "rule_id"),
        ({"rule_id": str(2**63)}, "rule_id"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "AAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "cursor"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_instance_queries_name_the_parameter(
    client: httpx.AsyncClient, admin: str, query: dict[str, str], field: str
) -> None:
    response = await client.get(INSTANCES, headers=auth(admin), params=query)
    assert field in fields_named(response)


async def test_a_rules_history_is_paged_newest_first_and_outlives_the_rule(
    client: httpx.AsyncClient, admin: str, quiet_rule: int, database_url: str
) -> None:
    made = [add_instance(database_url, quiet_rule, host=f"h{index}") for index in range(5)]
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = await client.get(
            f"{ALERTS}/{quiet_rule}/history", headers=auth(admin), params=params
        )
        assert page.status_code == 200, page.text
        seen.extend(item["instance_id"] for item in page.json()["transitions"])
        if page.json()["next_cursor"] is None:
            break
        params["cursor"] = page.json()["next_cursor"]
    assert seen == made[::-1]
    deleted = await client.delete(f"{ALERTS}/{quiet_rule}", headers=auth(admin))
    assert deleted.status_code == 204
    after = await client.get(f"{ALERTS}/{quiet_rule}/history", headers=auth(admin))
    assert after.status_code == 200
    # Deleting the rule resolved its open instances, each with its transition.
    closing = [t for t in after.json()["transitions"] if t["reason"] == "rule deleted"]
    assert sorted(t["instance_id"] for t in closing) == sorted(made)
    for bad in ({"cursor": "zzz"}, {"limit": "many"}, {"state": "firing"}):
        response = await client.get(
            f"{ALERTS}/{quiet_rule}/history", headers=auth(admin), params=bad
        )
        assert response.status_code == 400
