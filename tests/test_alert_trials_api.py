"""`test` and `backtest` of alert rules through HTTP: what they answer on stored samples,
that they record nothing, and their hostile cases (roles, bodies, ranges)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from conftest import MakeKey

ALERTS = "/api/v1/alerts"


def auth(token: str) -> dict[str, str]:
    return {"X-API-Key": token}


@pytest.fixture
async def admin(make_key: MakeKey) -> str:
    return (await make_key("admin"))[1]


class Stored:
    """Samples of one new metric: host a above 5 for minutes 10-19 from `base`, b never."""

    def __init__(self, name: str, base: datetime) -> None:
        self.name = name
        self.base = base

    def minute(self, index: int) -> datetime:
        return self.base + timedelta(minutes=index)


@pytest.fixture
async def stored(client: httpx.AsyncClient, admin: str) -> Stored:
    name = f"trial_{uuid.uuid4().hex[:12]}"
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    samples = [
        {
            "name": name,
            "type": "gauge",
            "labels": {"host": host},
            "value": 10.0 if host == "a" and 10 <= minute < 20 else 1.0,
            "time": (base + timedelta(minutes=minute)).isoformat(),
        }
        for host in ("a", "b")
        for minute in range(30)
    ]
    response = await client.post("/api/v1/metrics/bulk", headers=auth(admin), json=samples)
    assert response.status_code == 201, response.text
    return Stored(name, base)


def rule_on(stored: Stored, **fields: Any) -> dict[str, Any]:
    return {
        "name": f"trial {uuid.uuid4().hex[:8]}",
        "kind": "metric_threshold",
        "selector": {"name": stored.name},
        "aggregation": "max",
        "window": "1m",
        "group_by": ["host"],
        "comparator": ">",
        "threshold": 5,
        "interval": "1m",
        "for": "2m",
        "offset": "0s",
        "annotations": {"summary": "max {{ value }} on {{ labels.host }}"},
        **fields,
    }


def recorded(database_url: str, rule_name: str) -> tuple[int, int]:
    """Instances and audit rows that name the rule (none may come from a trial)."""
    with psycopg.connect(database_url) as connection:
        instances = connection.execute(
            "select count(*) from alert_instances where labels ->> 'rule' = %s", (rule_name,)
        ).fetchone()
        audit = connection.execute(
            "select count(*) from audit_log where after ->> 'name' = %s", (rule_name,)
        ).fetchone()
    assert instances is not None and audit is not None
    return int(instances[0]), int(audit[0])


async def test_a_backtest_replays_the_rule_at_its_interval_over_stored_samples(
    client: httpx.AsyncClient, admin: str, stored: Stored, database_url: str
) -> None:
    body = rule_on(stored)
    span = {"from": stored.minute(0).isoformat(), "to": stored.minute(30).isoformat()}
    response = await client.post(
        f"{ALERTS}/backtest", headers=auth(admin), json={"rule": body, **span}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["evaluations"] == 30
    # Evaluated at minute k, the 1-minute window holds minute k-1's sample: a breaches
    # from minute 11, fires once it has held for 2 minutes, resolves at minute 21.
    moves = [
        (t["labels"]["host"], t["from_state"], t["to_state"], datetime.fromisoformat(t["at"]))
        for t in result["transitions"]
    ]
    assert moves == [
        ("a", "inactive", "pending", stored.minute(11)),
        ("a", "pending", "firing", stored.minute(13)),
        ("a", "firing", "resolved", stored.minute(21)),
    ]
    assert result["firing"] == [
        {
            "labels": {"host": "a", "rule": body["name"], "severity": "warning"},
            "seconds": 480.0,
        }
    ]
    assert result["firing_seconds"] == 480.0 and not result["transitions_truncated"]
    assert recorded(database_url, body["name"]) == (0, 0)

    # A saved rule backtests the same by its id, and still records nothing.
    created = await client.post(ALERTS, headers=auth(admin), json={**body, "enabled": False})
    assert created.status_code == 201, created.text
    by_id = await client.post(
        f"{ALERTS}/backtest", headers=auth(admin), json={"rule_id": created.json()["id"], **span}
    )
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["transitions"] == result["transitions"]
    assert recorded(database_url, body["name"]) == (0, 1)  # the create's audit row only


async def test_testing_a_rule_evaluates_it_now_without_recording_anything(
    client: httpx.AsyncClient, admin: str, stored: Stored, database_url: str
) -> None:
    body = rule_on(stored, window="3h")
    response = await client.post(f"{ALERTS}/test", headers=auth(admin), json=body)
    assert response.status_code == 200, response.text
    groups = {item["group"]["host"]: item for item in response.json()["groups"]}
    assert set(groups) == {"a", "b"}
    # Unsaved, so no instance yet: a breach waits out `for` (pending).
    assert (groups["a"]["state"], groups["a"]["value"]) == ("pending", 10.0)
    assert groups["a"]["annotations"] == {"summary": "max 10.0 on a"}
    assert groups["a"]["labels"] == {"host": "a", "rule": body["name"], "severity": "warning"}
    assert (groups["b"]["state"], groups["b"]["value"]) == ("inactive", 1.0)
    now_firing = await client.post(
        f"{ALERTS}/test", headers=auth(admin), json={**body, "for": "0s"}
    )
    assert {g["group"]["host"]: g["state"] for g in now_firing.json()["groups"]} == {
        "a": "firing",
        "b": "inactive",
    }
    created = await client.post(ALERTS, headers=auth(admin), json={**body, "enabled": False})
    saved = await client.post(f"{ALERTS}/{created.json()['id']}/test", headers=auth(admin))
    assert saved.status_code == 200, saved.text
    assert [g["state"] for g in saved.json()["groups"]] == ["pending", "inactive"]
    assert recorded(database_url, body["name"]) == (0, 1)


async def test_a_template_that_fails_to_render_is_reported_per_group(
    client: httpx.AsyncClient, admin: str, stored: Stored
) -> None:
    body = rule_on(stored, window="3h", annotations={"big": "{{ 'a' * 10**9 }}"})
    response = await client.post(f"{ALERTS}/test", headers=auth(admin), json=body)
    assert response.status_code == 200, response.text
    for group in response.json()["groups"]:
        assert group["annotations"] == {"big": ""}
        assert set(group["annotation_problems"]) == {"big"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"}, "rule"),
        ({"rule_id": 1, "rule": {}, "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"},
         "rule"),
        ({"rule_id": "1", "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"},
         "rule_id"),
        ({"rule_id": True, "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"},
         "rule_id"),
        ({"rule_id": 2**63, "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"},
         "rule_id"),
        ({"rule_id": 1, "to": "2026-01-01T01:00:00Z"}, "from"),
        ({"rule_id": 1, "from": "yesterday", "to": "2026-01-01T01:00:00Z"}, "from"),
        ({"rule_id": 1, "from": "2026-01-01T00:00:00", "to": "2026-01-01T01:00:00Z"}, "from"),
        ({"rule_id": 1, "from": "2026-01-01T02:00:00Z", "to": "2026-01-01T01:00:00Z"}, "to"),
        ({"rule_id": 1, "from": 0, "to": 1}, "from"),
        ({"rule_id": 1, "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z",
          "colour": "red"}, "colour"),
        ({"rule": {"name": "x", "kind": "metric_threshold"}, "from": "2026-01-01T00:00:00Z",
          "to": "2026-01-01T01:00:00Z"}, "rule.selector"),
        ({"rule": {"name": "x", "kind": "metric_threshold", "selector": {"name": "m"},
                   "window": "1m", "comparator": ">", "threshold": 1, "interval": "5s"},
          "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}, "to"),
        ({"rule": {"name": "x", "kind": "metric_threshold", "selector": {"name": "m"},
                   "window": "1m", "comparator": ">", "threshold": 1,
                   "annotations": {"s": "{{ ''.__class__ }}"}},
          "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"}, "rule.annotations.s"),
    ],
)  # fmt: skip
async def test_bad_backtest_requests_name_the_field(
    client: httpx.AsyncClient, admin: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(f"{ALERTS}/backtest", headers=auth(admin), json=body)
    assert response.status_code == 400, response.text
    assert field in {error["field"] for error in response.json()["errors"]}


async def test_trials_refuse_what_saving_would_refuse_and_unknown_rules(
    client: httpx.AsyncClient, admin: str, stored: Stored
) -> None:
    injected = rule_on(stored, annotations={"s": "{{ ''.__class__ }}"})
    response = await client.post(f"{ALERTS}/test", headers=auth(admin), json=injected)
    assert response.status_code == 400
    assert "annotations.s" in {error["field"] for error in response.json()["errors"]}
    for content in (b"{", b"[]", b"x" * 200_000):
        refused = await client.post(
            f"{ALERTS}/test",
            headers={**auth(admin), "Content-Type": "application/json"},
            content=content,
        )
        assert refused.status_code in (400, 413), content[:10]
    for path in (f"{ALERTS}/999999999999/test", f"{ALERTS}/{2**64}/test", f"{ALERTS}/x/test"):
        assert (await client.post(path, headers=auth(admin))).status_code == 404, path
    unknown = await client.post(
        f"{ALERTS}/backtest",
        headers=auth(admin),
        json={
            "rule_id": 999999999999,
            "from": "2026-01-01T00:00:00Z",
            "to": "2026-01-01T01:00:00Z",
        },
    )
    assert unknown.status_code == 404


async def test_trials_are_admins(
    client: httpx.AsyncClient, make_key: MakeKey, stored: Stored
) -> None:
    body = rule_on(stored)
    span = {"from": stored.minute(0).isoformat(), "to": stored.minute(30).isoformat()}
    for role in ("write", "read", "ingest"):
        _, token = await make_key(role)
        for path, sent in (
            (f"{ALERTS}/test", body),
            (f"{ALERTS}/backtest", {"rule": body, **span}),
            (f"{ALERTS}/1/test", None),
        ):
            response = await client.post(path, headers=auth(token), json=sent)
            assert response.status_code == 403, (role, path)
            assert "needs the admin role" in response.json()["detail"]
            assert (await client.post(path, json=sent)).status_code == 401


async def test_a_stored_rule_that_no_longer_parses_is_a_409_not_a_crash(
    client: httpx.AsyncClient, admin: str, stored: Stored, database_url: str
) -> None:
    created = await client.post(ALERTS, headers=auth(admin), json=rule_on(stored, enabled=False))
    rule_id = created.json()["id"]
    with psycopg.connect(database_url) as connection:
        # As if the checks had grown stricter since it was saved.
        connection.execute(
            'update alert_rules set definition = definition || \'{"window": "1s"}\' where id = %s',
            (rule_id,),
        )
    tried = await client.post(f"{ALERTS}/{rule_id}/test", headers=auth(admin))
    assert tried.status_code == 409 and "replace it" in tried.json()["detail"]
    span = {"from": stored.minute(0).isoformat(), "to": stored.minute(30).isoformat()}
    replayed = await client.post(
        f"{ALERTS}/backtest", headers=auth(admin), json={"rule_id": rule_id, **span}
    )
    assert replayed.status_code == 409


async def test_an_absence_rule_tests_each_group_gone_quiet(
    client: httpx.AsyncClient, admin: str, stored: Stored
) -> None:
    # Both hosts sent samples until about 90 minutes ago, none in the last hour.
    body = {
        "name": f"quiet {uuid.uuid4().hex[:8]}",
        "kind": "absence",
        "selector": {"name": stored.name},
        "window": "1h",
        "group_by": ["host"],
        "lookback": "1d",
        "annotations": {"summary": "{{ labels.host }} is quiet"},
    }
    response = await client.post(f"{ALERTS}/test", headers=auth(admin), json=body)
    assert response.status_code == 200, response.text
    found = {g["group"]["host"]: (g["state"], g["value"]) for g in response.json()["groups"]}
    assert found == {"a": ("firing", 0.0), "b": ("firing", 0.0)}
    assert response.json()["groups"][0]["annotations"] == {"summary": "a is quiet"}
