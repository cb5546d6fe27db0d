"""Notification policies, silences and inhibition rules through HTTP: CRUD with versions and
If-Match, fields checked and named, audit rows, and hostile input of every kind."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from alert_helpers import add_instance
from conftest import MakeKey

POLICIES = "/api/v1/notification-policies"
SILENCES = "/api/v1/silences"
INHIBITIONS = "/api/v1/inhibition-rules"


def auth(token: str, **headers: str) -> dict[str, str]:
    return {"X-API-Key": token, **headers}


def unique(prefix: str = "policy") -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


@pytest.fixture
async def admin(make_key: MakeKey) -> str:
    return (await make_key("admin", name=unique("routing admin")))[1]


async def new_channel(client: httpx.AsyncClient, token: str) -> int:
    body = {
        "name": unique("channel"),
        "kind": "webhook",
        "url": "http://127.0.0.1:9/hook",
        "secret": "routing-test-secret",
    }
    response = await client.post("/api/v1/channels", headers=auth(token), json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def policy(**fields: Any) -> dict[str, Any]:
    return {
        "name": unique(),
        "position": 10,
        "matchers": [{"name": "severity", "op": "=", "value": "critical"}],
        "channel_ids": [],
        "continue": False,
        "group_by": ["rule", "host"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        **fields,
    }


def silence(**fields: Any) -> dict[str, Any]:
    """A silence's body; a field given as None is left out."""
    body = {
        "matchers": [{"name": "host", "op": "=~", "value": "db-.*"}],
        "duration": "2h",
        "comment": "database maintenance",
        **fields,
    }
    return {key: value for key, value in body.items() if value is not None}


def inhibition(**fields: Any) -> dict[str, Any]:
    return {
        "name": unique("inhibition"),
        "source_matchers": [{"name": "severity", "op": "=", "value": "critical"}],
        "target_matchers": [{"name": "severity", "op": "=", "value": "warning"}],
        "equal": ["host"],
        **fields,
    }


async def created(client: httpx.AsyncClient, token: str, path: str, body: Any) -> dict[str, Any]:
    response = await client.post(path, headers=auth(token), json=body)
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


def problems(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {error["field"]: error["message"] for error in response.json()["errors"]}


def audit_actions(database_url: str, resource: str, resource_id: int) -> list[str]:
    with psycopg.connect(database_url) as connection:
        return [
            row[0]
            for row in connection.execute(
                "select action from audit_log where resource = %s and resource_id = %s order by id",
                (resource, str(resource_id)),
            )
        ]


# Policies.


async def test_a_policy_round_trips_with_its_version_and_audit_rows(
    client: httpx.AsyncClient, admin: str, database_url: str
) -> None:
    body = policy(channel_ids=[await new_channel(client, admin)])
    response = await client.post(POLICIES, headers=auth(admin), json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert response.headers["Location"] == f"{POLICIES}/{made['id']}"
    assert response.headers["ETag"] == '"1"'
    assert made["policy"] == body
    got = await client.get(f"{POLICIES}/{made['id']}", headers=auth(admin))
    assert (got.status_code, got.headers["ETag"], got.json()) == (200, '"1"', made)

    changed = {**body, "continue": True, "group_by": ["..."]}
    stale = await client.put(
        f"{POLICIES}/{made['id']}", headers=auth(admin, **{"If-Match": '"7"'}), json=changed
    )
    assert stale.status_code == 412
    put = await client.put(
        f"{POLICIES}/{made['id']}", headers=auth(admin, **{"If-Match": '"1"'}), json=changed
    )
    assert (put.status_code, put.json()["version"], put.json()["policy"]) == (200, 2, changed)
    same = await client.put(f"{POLICIES}/{made['id']}", headers=auth(admin), json=changed)
    assert same.json()["version"] == 2, "an unchanged body is no change"

    deleted = await client.delete(
        f"{POLICIES}/{made['id']}", headers=auth(admin, **{"If-Match": '"2"'})
    )
    assert deleted.status_code == 204
    gone = await client.get(f"{POLICIES}/{made['id']}", headers=auth(admin))
    assert gone.status_code == 404
    assert audit_actions(database_url, "notification_policy", made["id"]) == [
        "create",
        "update",
        "delete",
    ]


async def test_policies_are_listed_in_the_order_they_are_tried_with_the_default_apart(
    client: httpx.AsyncClient, admin: str
) -> None:
    late = await created(client, admin, POLICIES, policy(position=900_000))
    early = await created(client, admin, POLICIES, policy(position=0, matchers=[]))
    listed = (await client.get(POLICIES, headers=auth(admin))).json()
    ids = [item["id"] for item in listed["policies"]]
    assert ids.index(early["id"]) < ids.index(late["id"])
    default = listed["default"]
    assert default["id"] not in ids
    assert set(default["policy"]) == {
        "name",
        "channel_ids",
        "group_by",
        "group_wait",
        "group_interval",
        "repeat_interval",
    }
    assert (
        await client.delete(f"{POLICIES}/{default['id']}", headers=auth(admin))
    ).status_code == 404
    assert (await client.get(f"{POLICIES}/{default['id']}", headers=auth(admin))).status_code == 404


async def test_the_default_policy_is_replaced_but_takes_no_matchers(
    client: httpx.AsyncClient, admin: str
) -> None:
    current = await client.get(f"{POLICIES}/default", headers=auth(admin))
    assert current.status_code == 200
    version = current.headers["ETag"]
    channels = [await new_channel(client, admin), await new_channel(client, admin)]
    body = {"name": unique("default"), "channel_ids": channels, "group_by": ["rule"]}
    put = await client.put(
        f"{POLICIES}/default", headers=auth(admin, **{"If-Match": version}), json=body
    )
    assert put.status_code == 200, put.text
    assert put.json()["policy"]["channel_ids"] == channels
    refused = await client.put(
        f"{POLICIES}/default", headers=auth(admin), json={**body, "matchers": [], "position": 1}
    )
    assert set(problems(refused)) == {"matchers", "position"}
    stale = await client.put(
        f"{POLICIES}/default", headers=auth(admin, **{"If-Match": version}), json=body
    )
    assert stale.status_code == 412


async def test_a_policy_sends_only_to_channels_that_exist_and_they_stay_while_used(
    client: httpx.AsyncClient, admin: str
) -> None:
    channel = await new_channel(client, admin)
    refused = await client.post(
        POLICIES, headers=auth(admin), json=policy(channel_ids=[channel, 999_999_999])
    )
    assert problems(refused) == {"channel_ids": "no channel with id 999999999"}
    made = await created(client, admin, POLICIES, policy(channel_ids=[channel]))
    in_use = await client.delete(f"/api/v1/channels/{channel}", headers=auth(admin))
    assert in_use.status_code == 409, in_use.text
    assert f"used by notification policies {made['id']}" in in_use.json()["detail"]
    await client.delete(f"{POLICIES}/{made['id']}", headers=auth(admin))
    freed = await client.delete(f"/api/v1/channels/{channel}", headers=auth(admin))
    assert freed.status_code == 204
    gone = await client.post(POLICIES, headers=auth(admin), json=policy(channel_ids=[channel]))
    assert "channel_ids" in problems(gone), "a deleted channel is no channel"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 5}, "name"),
        ({"position": -1}, "position"),
        ({"position": 1.5}, "position"),
        ({"position": "1"}, "position"),
        ({"position": True}, "position"),
        ({"matchers": "severity=critical"}, "matchers"),
        ({"matchers": [{"name": "host", "op": "=~", "value": "(?=x)"}]}, "matchers[0].value"),
        ({"matchers": [{"name": "host", "op": "like", "value": "x"}]}, "matchers[0].op"),
        ({"matchers": [{"name": "host", "value": "x", "regex": True}]}, "matchers[0].regex"),
        ({"channel_ids": [0]}, "channel_ids"),
        ({"channel_ids": [1, 1]}, "channel_ids"),
        ({"channel_ids": ["1"]}, "channel_ids"),
        ({"channel_ids": list(range(1, 22))}, "channel_ids"),
        ({"continue": "yes"}, "continue"),
        ({"group_by": ["...", "host"]}, "group_by"),
        ({"group_by": ["host", "host"]}, "group_by"),
        ({"group_by": [""]}, "group_by"),
        ({"group_wait": "2h"}, "group_wait"),
        ({"group_wait": "soon"}, "group_wait"),
        ({"group_interval": "1s"}, "group_interval"),
        ({"repeat_interval": "31d"}, "repeat_interval"),
        ({"receiver": "ops"}, "receiver"),
    ],
)
async def test_bad_policy_fields_are_named_and_nothing_is_stored(
    client: httpx.AsyncClient, admin: str, change: dict[str, Any], field: str
) -> None:
    body = policy(**change)
    response = await client.post(POLICIES, headers=auth(admin), json=body)
    assert field in problems(response), response.text
    listed = (await client.get(POLICIES, headers=auth(admin))).json()["policies"]
    assert all(item["policy"]["name"] != body["name"] for item in listed)


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"[]", b'"policy"', b"null", b'{"name": "\\ud800"}', b"[" * 10_000],
    ids=["empty", "truncated", "array", "string", "null", "lone surrogate", "deep"],
)
async def test_bodies_that_are_not_policies_are_refused(
    client: httpx.AsyncClient, admin: str, body: bytes
) -> None:
    response = await client.post(
        POLICIES, headers=auth(admin, **{"Content-Type": "application/json"}), content=body
    )
    assert response.status_code == 400, response.text


async def test_a_huge_policy_body_is_refused_before_it_is_read(
    client: httpx.AsyncClient, admin: str
) -> None:
    response = await client.post(POLICIES, headers=auth(admin), json=policy(name="x" * 200_000))
    assert response.status_code == 413


async def test_unknown_and_impossible_ids_are_404(client: httpx.AsyncClient, admin: str) -> None:
    for path in (f"{POLICIES}/999999999", f"{POLICIES}/{2**63 + 1}", f"{INHIBITIONS}/999999999"):
        assert (await client.get(path, headers=auth(admin))).status_code == 404
        assert (await client.delete(path, headers=auth(admin))).status_code == 404


# Silences.


async def test_a_silence_is_made_by_its_key_lists_as_active_and_expires_early(
    client: httpx.AsyncClient, make_key: MakeKey, database_url: str
) -> None:
    name = unique("on call lead")
    _, token = await make_key("admin", name=name)
    made = await created(client, token, SILENCES, silence())
    assert made["state"] == "active" and made["created_by"].startswith(name)
    assert made["matchers"] == [{"name": "host", "op": "=~", "value": "db-.*"}]
    ends = datetime.fromisoformat(made["ends_at"])
    starts = datetime.fromisoformat(made["starts_at"])
    assert ends - starts == timedelta(hours=2)
    active = (await client.get(SILENCES, headers=auth(token))).json()["silences"]
    assert made["id"] in [item["id"] for item in active]

    expired = await client.delete(f"{SILENCES}/{made['id']}", headers=auth(token))
    assert expired.status_code == 200, expired.text
    assert expired.json()["state"] == "expired" and expired.json()["expired_by"].startswith(name)
    again = await client.delete(f"{SILENCES}/{made['id']}", headers=auth(token))
    assert again.status_code == 409
    active = (await client.get(SILENCES, headers=auth(token))).json()["silences"]
    assert made["id"] not in [item["id"] for item in active]
    listed = await client.get(SILENCES, headers=auth(token), params={"state": "expired"})
    assert made["id"] in [item["id"] for item in listed.json()["silences"]]
    assert audit_actions(database_url, "silence", made["id"]) == ["create", "expire"]


async def test_a_pending_silence_expired_never_holds(client: httpx.AsyncClient, admin: str) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    made = await created(
        client,
        admin,
        SILENCES,
        silence(
            starts_at=later.isoformat(),
            duration=None,
            ends_at=(later + timedelta(hours=1)).isoformat(),
        ),
    )
    assert made["state"] == "pending"
    expired = (await client.delete(f"{SILENCES}/{made['id']}", headers=auth(admin))).json()
    assert expired["ends_at"] == expired["starts_at"] and expired["state"] == "pending"
    pending = await client.get(SILENCES, headers=auth(admin), params={"state": "pending"})
    assert made["id"] in [item["id"] for item in pending.json()["silences"]]


async def test_silences_are_paged_newest_first(client: httpx.AsyncClient, admin: str) -> None:
    ids = [(await created(client, admin, SILENCES, silence()))["id"] for _ in range(3)]
    first = (await client.get(SILENCES, headers=auth(admin), params={"limit": 2})).json()
    assert [item["id"] for item in first["silences"]][:2] == [ids[2], ids[1]]
    rest = await client.get(
        SILENCES, headers=auth(admin), params={"limit": 2, "cursor": first["next_cursor"]}
    )
    assert rest.json()["silences"][0]["id"] == ids[0]


def _silence_without(key: str) -> dict[str, Any]:
    body = silence()
    del body[key]
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_silence_without("comment"), "comment"),
        (silence(comment=""), "comment"),
        (silence(comment="\x00"), "comment"),
        (silence(comment="x" * 1001), "comment"),
        (silence(matchers=[]), "matchers"),
        (_silence_without("matchers"), "matchers"),
        (_silence_without("duration"), "ends_at"),
        (silence(ends_at="2030-01-01T00:00:00Z"), "ends_at"),
        (silence(duration=None, ends_at="2020-01-01T00:00:00Z"), "ends_at"),
        (silence(duration=None, ends_at="2030-01-01T00:00:00"), "ends_at"),
        (silence(duration="30s"), "duration"),
        (silence(duration="366d"), "duration"),
        (silence(starts_at="yesterday"), "starts_at"),
        (silence(starts_at=5), "starts_at"),
        (silence(matchers=[{"name": "a", "op": "=~", "value": "(a"}]), "matchers[0].value"),
        (silence(created_by="someone else"), "created_by"),
    ],
)
async def test_bad_silences_are_refused_naming_the_field(
    client: httpx.AsyncClient, admin: str, body: dict[str, Any], field: str
) -> None:
    body = {key: value for key, value in body.items() if value is not None}
    response = await client.post(SILENCES, headers=auth(admin), json=body)
    assert field in problems(response), response.text


@pytest.mark.parametrize(
    "params",
    [{"state": "muted"}, {"limit": "0"}, {"limit": "1001"}, {"cursor": "nope"}, {"host": "a"}],
)
async def test_bad_silence_queries_are_named(
    client: httpx.AsyncClient, admin: str, params: dict[str, str]
) -> None:
    response = await client.get(SILENCES, headers=auth(admin), params=params)
    assert response.status_code == 400, response.text


async def test_an_unknown_silence_is_404(client: httpx.AsyncClient, admin: str) -> None:
    for path in (f"{SILENCES}/999999999", f"{SILENCES}/{2**63 + 1}"):
        assert (await client.get(path, headers=auth(admin))).status_code == 404
        assert (await client.delete(path, headers=auth(admin))).status_code == 404


# Inhibition rules.


async def test_an_inhibition_rule_round_trips_with_if_match(
    client: httpx.AsyncClient, admin: str, database_url: str
) -> None:
    body = inhibition()
    made = await created(client, admin, INHIBITIONS, body)
    assert made["rule"] == body and made["version"] == 1
    listed = (await client.get(INHIBITIONS, headers=auth(admin))).json()["rules"]
    assert made in listed
    changed = {**body, "equal": ["host", "service"]}
    put = await client.put(
        f"{INHIBITIONS}/{made['id']}", headers=auth(admin, **{"If-Match": '"1"'}), json=changed
    )
    assert (put.status_code, put.json()["version"]) == (200, 2)
    stale = await client.delete(
        f"{INHIBITIONS}/{made['id']}", headers=auth(admin, **{"If-Match": '"1"'})
    )
    assert stale.status_code == 412
    assert (
        await client.delete(f"{INHIBITIONS}/{made['id']}", headers=auth(admin))
    ).status_code == 204
    assert audit_actions(database_url, "inhibition_rule", made["id"]) == [
        "create",
        "update",
        "delete",
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source_matchers": []}, "source_matchers"),
        ({"target_matchers": None}, "target_matchers"),
        ({"equal": ["..."]}, "equal"),
        ({"equal": "host"}, "equal"),
        ({"source_matchers": [{"name": "", "value": "x"}]}, "source_matchers[0].name"),
        ({"name": None}, "name"),
    ],
)
async def test_bad_inhibition_rules_are_named(
    client: httpx.AsyncClient, admin: str, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in inhibition(**change).items() if v is not None}
    response = await client.post(INHIBITIONS, headers=auth(admin), json=body)
    assert field in problems(response), response.text


# What the instance list says mutes each open instance.


async def test_the_instance_list_names_the_silences_and_inhibitions_muting_each_instance(
    client: httpx.AsyncClient, admin: str, database_url: str
) -> None:
    rules = [
        await created(
            client,
            admin,
            "/api/v1/alerts",
            {
                "name": unique("muted rule"),
                "kind": "metric_threshold",
                "selector": {"name": "muted"},
                "window": "5m",
                "comparator": ">",
                "threshold": 1,
                "enabled": False,  # no evaluator touches these instances meanwhile
            },
        )
        for _ in range(2)
    ]
    host = uuid.uuid4().hex[:8]
    warning = add_instance(database_url, rules[0]["id"], host=host, severity="warning")
    critical = add_instance(database_url, rules[1]["id"], host=host, severity="critical")
    closed = add_instance(database_url, rules[0]["id"], host=f"{host}-b", closed=True)
    other = add_instance(database_url, rules[0]["id"], host=f"{host}-b", sequence=2)
    quiet = await created(
        client,
        admin,
        SILENCES,
        silence(matchers=[{"name": "host", "op": "=~", "value": f"{host}(-b)?"}]),
    )
    await created(client, admin, SILENCES, silence(matchers=[{"name": "host", "value": "none"}]))
    mutes = await created(
        client,
        admin,
        INHIBITIONS,
        inhibition(
            source_matchers=[
                {"name": "severity", "value": "critical"},
                {"name": "host", "value": host},
            ]
        ),
    )
    listed = await client.get(
        "/api/v1/alerts/instances",
        headers=auth(admin),
        params=[("rule_id", str(r["id"])) for r in rules],
    )
    assert listed.status_code == 200, listed.text
    seen = {
        item["id"]: (item["silenced_by"], item["inhibited_by"])
        for item in listed.json()["instances"]
    }
    # Other tests' rules may mute these too (the database is shared): ours must be named.
    assert mutes["id"] in seen[warning][1], "the critical one on its host mutes it"
    assert seen[critical][1] == [], "never by itself"
    assert mutes["id"] not in seen[other][1], "another host: not inhibited"
    assert seen[closed] == ([], []), "a closed instance is muted by nothing"
    assert {seen[i][0][0] for i in (warning, critical, other)} == {quiet["id"]}
    await client.delete(f"{SILENCES}/{quiet['id']}", headers=auth(admin))
    listed = await client.get(
        "/api/v1/alerts/instances",
        headers=auth(admin),
        params=[("rule_id", str(r["id"])) for r in rules],
    )
    assert {item["id"]: item["silenced_by"] for item in listed.json()["instances"]} == {
        warning: [],
        critical: [],
        other: [],
        closed: [],
    }
