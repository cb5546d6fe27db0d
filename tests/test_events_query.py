"""Querying events: filters against a plain-Python model, pagination, stats, groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MakeKey, ThreadedService
from events_helpers import ingest, list_all, tag

LEVELS = ["debug", "info", "warning", "error", "critical"]
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

event_specs = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["deploy", "error", "request", "cron"]),
        "level": st.sampled_from(LEVELS),
        "sub": st.sampled_from(["api", "worker"]),
        "message": st.sampled_from(["Disk FULL on db1", "timeout talking to api", "ok", "Retry 5"]),
        "minute": st.integers(0, 100),
        "status": st.sampled_from([200, "200", 500, "500", True, None]),
    }
)

filters = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["deploy", "error", "deploy,cron"]),
        "level": st.sampled_from(LEVELS),
        "min_level": st.sampled_from(LEVELS),
        "sub": st.sampled_from(["api", "worker"]),
        "q": st.sampled_from(["disk", "TIMEOUT", "o", "%", "full on"]),
        "from_minute": st.integers(0, 100),
        "to_minute": st.integers(0, 101),
        "attr.status": st.sampled_from(["200", "500", "true"]),
    },
)


def to_event(spec: dict[str, Any], source: str) -> dict[str, Any]:
    attributes = {} if spec["status"] is None else {"status": spec["status"]}
    return {
        "type": spec["type"],
        "level": spec["level"],
        "source": f"{source}-{spec['sub']}",
        "message": spec["message"],
        "time": (BASE + timedelta(minutes=spec["minute"])).isoformat(),
        "attributes": attributes,
    }


def model_matches(event: dict[str, Any], query: dict[str, Any], source: str) -> bool:
    """What the API promises, in plain Python."""
    time = BASE + timedelta(minutes=event["minute"])
    if "type" in query and event["type"] not in query["type"].split(","):
        return False
    if "level" in query and event["level"] != query["level"]:
        return False
    if "min_level" in query and LEVELS.index(event["level"]) < LEVELS.index(query["min_level"]):
        return False
    if "sub" in query and event["sub"] != query["sub"]:
        return False
    if "q" in query and query["q"].lower() not in event["message"].lower():
        return False
    if "from_minute" in query and time < BASE + timedelta(minutes=query["from_minute"]):
        return False
    if "to_minute" in query and time >= BASE + timedelta(minutes=query["to_minute"]):
        return False
    if "attr.status" in query:
        status = event["status"]
        text = None if status is None else ("true" if status is True else str(status))
        if text != query["attr.status"]:
            return False
    return True


def to_params(query: dict[str, Any], source: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in query.items():
        if key == "sub":
            params["source"] = f"{source}-{value}"
        elif key == "from_minute":
            params["from"] = (BASE + timedelta(minutes=value)).isoformat()
        elif key == "to_minute":
            params["to"] = (BASE + timedelta(minutes=value)).isoformat()
        else:
            params[key] = value
    if "source" not in params:
        params["source"] = f"{source}-api,{source}-worker"
    return params


def sync_ingest(client: httpx.Client, token: str, events: list[dict[str, Any]]) -> list[str]:
    response = client.post("/api/v1/events/bulk", headers={"X-API-Key": token}, json=events)
    assert response.status_code == 201, response.text
    ids: list[str] = response.json()["ids"]
    return ids


def sync_list_all(
    client: httpx.Client, token: str, params: dict[str, Any], page_size: int
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": page_size, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/events", headers={"X-API-Key": token}, params=query).json()
        found.extend(body["events"])
        cursor = body["next_cursor"]
        if cursor is None:
            return found


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=st.lists(event_specs, min_size=1, max_size=25), query=filters)
def test_filters_agree_with_a_model(
    threaded_service: ThreadedService, specs: list[dict[str, Any]], query: dict[str, Any]
) -> None:
    if (
        "from_minute" in query
        and "to_minute" in query
        and query["from_minute"] >= query["to_minute"]
    ):
        query = {**query, "to_minute": query["from_minute"] + 1}
    source = tag()
    token = threaded_service.admin_token
    with httpx.Client(base_url=threaded_service.base_url, timeout=10) as client:
        ids = sync_ingest(client, token, [to_event(spec, source) for spec in specs])
        expected = {ids[i] for i, spec in enumerate(specs) if model_matches(spec, query, source)}
        found = sync_list_all(client, token, to_params(query, source), page_size=7)
    found_ids = [event["id"] for event in found]
    assert len(found_ids) == len(set(found_ids)), "an event appeared twice"
    assert set(found_ids) == expected
    order = [(event["time"], event["id"]) for event in found]
    assert order == sorted(order, reverse=True)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=st.lists(event_specs, min_size=1, max_size=20))
def test_what_goes_in_comes_out_unchanged(
    threaded_service: ThreadedService, specs: list[dict[str, Any]]
) -> None:
    source = tag()
    sent = [to_event(spec, source) for spec in specs]
    token = threaded_service.admin_token
    with httpx.Client(base_url=threaded_service.base_url, timeout=10) as client:
        ids = sync_ingest(client, token, sent)
        for event_id, event in zip(ids, sent, strict=True):
            got = client.get(f"/api/v1/events/{event_id}", headers={"X-API-Key": token}).json()
            for field in ("type", "level", "source", "message", "attributes"):
                assert got[field] == event[field]
            assert datetime.fromisoformat(got["time"]) == datetime.fromisoformat(event["time"])


async def test_pagination_sees_each_existing_event_once_while_new_ones_arrive(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    source = tag()
    # Several events share a time, so the id must break ties.
    existing = await ingest(
        client,
        admin_token,
        [
            {"type": "p", "source": source, "time": (BASE + timedelta(seconds=i // 3)).isoformat()}
            for i in range(60)
        ],
    )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"source": source, "limit": 7}
        if cursor:
            params["cursor"] = cursor
        body = (
            await client.get("/api/v1/events", headers={"X-API-Key": admin_token}, params=params)
        ).json()
        seen.extend(event["id"] for event in body["events"])
        pages += 1
        # New events keep arriving between pages: newer, older, and at the same times.
        await ingest(
            client,
            admin_token,
            [
                {"type": "p", "source": source, "time": (BASE + timedelta(minutes=5)).isoformat()},
                {
                    "type": "p",
                    "source": source,
                    "time": (BASE + timedelta(seconds=pages)).isoformat(),
                },
            ],
        )
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert all(seen.count(event_id) == 1 for event_id in existing)
    assert len(seen) == len(set(seen))


async def test_attribute_filter_compares_json_text(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    source = tag()
    ids = await ingest(
        client,
        admin_token,
        [
            {"type": "r", "source": source, "attributes": {"status": 500}},
            {"type": "r", "source": source, "attributes": {"status": "500"}},
            {"type": "r", "source": source, "attributes": {"status": 200}},
            {"type": "r", "source": source, "attributes": {"other": 500}},
        ],
    )
    found = await list_all(client, admin_token, {"source": source, "attr.status": "500"})
    assert {event["id"] for event in found} == set(ids[:2])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"level": "fatal"}, "level"),
        ({"min_level": "loud"}, "min_level"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-01-01T00:00:00"}, "from"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"levle": "error"}, "levle"),
    ],
)
async def test_bad_query_parameters_are_named(
    client: httpx.AsyncClient, admin_token: str, params: dict[str, str], field: str
) -> None:
    response = await client.get("/api/v1/events", headers={"X-API-Key": admin_token}, params=params)
    assert response.status_code == 400
    assert field in {error["field"] for error in response.json()["errors"]}


async def test_unknown_and_malformed_ids_are_404(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    headers = {"X-API-Key": admin_token}
    assert (
        await client.get("/api/v1/events/01234567-89ab-7def-8123-456789abcdef", headers=headers)
    ).status_code == 404
    assert (await client.get("/api/v1/events/not-a-uuid", headers=headers)).status_code == 404


async def test_delete_needs_admin(
    client: httpx.AsyncClient, make_key: MakeKey, admin_token: str
) -> None:
    _, writer = await make_key("write")
    (event_id,) = await ingest(client, writer, [{"type": "doomed", "source": tag()}])
    assert (
        await client.delete(f"/api/v1/events/{event_id}", headers={"X-API-Key": writer})
    ).status_code == 403
    assert (
        await client.delete(f"/api/v1/events/{event_id}", headers={"X-API-Key": admin_token})
    ).status_code == 204
    assert (
        await client.get(f"/api/v1/events/{event_id}", headers={"X-API-Key": admin_token})
    ).status_code == 404
    assert (
        await client.delete(f"/api/v1/events/{event_id}", headers={"X-API-Key": admin_token})
    ).status_code == 404


async def test_stats_count_by_level_type_source_and_interval(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    source = tag()
    # Hour-aligned, so the events at +5, +65 and +66 minutes fall in two hourly
    # buckets whatever the time of day (from the minute, +65 and +66 straddled
    # an hour in the 54th minute).
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    events = [
        {
            "type": "a",
            "level": "error",
            "source": source,
            "time": (start + timedelta(minutes=5)).isoformat(),
        },
        {
            "type": "a",
            "level": "info",
            "source": source,
            "time": (start + timedelta(minutes=65)).isoformat(),
        },
        {
            "type": "b",
            "level": "info",
            "source": source,
            "time": (start + timedelta(minutes=66)).isoformat(),
        },
    ]
    await ingest(client, admin_token, events)
    params = {
        "source": source,
        "from": start.isoformat(),
        "to": (start + timedelta(hours=2)).isoformat(),
        "interval": "1h",
    }
    body = (
        await client.get("/api/v1/events/stats", headers={"X-API-Key": admin_token}, params=params)
    ).json()
    assert body["total"] == 3
    assert body["by_level"] == {"info": 2, "error": 1}
    assert body["by_type"] == [{"key": "a", "count": 2}, {"key": "b", "count": 1}]
    assert body["by_source"] == [{"key": source, "count": 3}]
    assert [point["count"] for point in body["series"]] == [1, 2]
    assert all(datetime.fromisoformat(p["time"]).minute == 0 for p in body["series"])
    assert body["interval"] == "1h"
    for same_width in ("3600", "60m", "0d1h"):  # any duration form; answered in canonical form
        again = (
            await client.get(
                "/api/v1/events/stats",
                headers={"X-API-Key": admin_token},
                params={**params, "interval": same_width},
            )
        ).json()
        assert (again["interval"], again["series"]) == ("1h", body["series"]), same_width
    too_many = await client.get(
        "/api/v1/events/stats",
        headers={"X-API-Key": admin_token},
        params={**params, "interval": "1s", "from": "2020-01-01T00:00:00Z"},
    )
    assert too_many.status_code == 400
    for path in ("/api/v1/events/stats", "/api/v1/events/groups"):
        # `to` defaults to now, so a `from` in the future gives an empty range.
        future = await client.get(
            path, headers={"X-API-Key": admin_token}, params={"from": "2999-01-01T00:00:00Z"}
        )
        assert future.status_code == 400
        assert future.json()["errors"][0]["field"] == "from"


async def test_errors_are_grouped_by_fingerprint(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    source = tag()
    headers = {"X-API-Key": admin_token}
    events = [
        {
            "type": "exception",
            "level": "error",
            "source": source,
            "message": f"Timeout after {ms}ms on 10.0.0.{n}",
        }
        for ms, n in [(300, 1), (250, 2), (100, 3)]
    ] + [
        {"type": "exception", "level": "critical", "source": source, "message": "disk full"},
        {
            "type": "exception",
            "level": "warning",
            "source": source,
            "message": "disk full",
        },  # not grouped
        {
            "type": "exception",
            "level": "error",
            "source": source,
            "message": "custom",
            "fingerprint": "mine",
        },
        {
            "type": "other",
            "level": "error",
            "source": source,
            "message": "also custom",
            "fingerprint": "mine",
        },
    ]
    ids = await ingest(client, admin_token, events)
    groups = (
        await client.get("/api/v1/events/groups", headers=headers, params={"source": source})
    ).json()["groups"]
    assert [(g["count_in_range"], g["count"]) for g in groups] == [(3, 3), (2, 2), (1, 1)]
    timeout_group = groups[0]
    assert timeout_group["status"] == "open" and timeout_group["level"] == "error"
    event = (await client.get(f"/api/v1/events/{ids[0]}", headers=headers)).json()
    assert event["group_id"] == timeout_group["id"]
    warning = (await client.get(f"/api/v1/events/{ids[4]}", headers=headers)).json()
    assert warning["group_id"] is None

    # Resolve it; it leaves the open list; a new occurrence reopens it.
    resolved = await client.patch(
        f"/api/v1/events/groups/{timeout_group['id']}", headers=headers, json={"status": "resolved"}
    )
    assert resolved.json()["status"] == "resolved"
    open_only = (
        await client.get(
            "/api/v1/events/groups", headers=headers, params={"source": source, "status": "open"}
        )
    ).json()
    assert timeout_group["id"] not in [g["id"] for g in open_only["groups"]]
    await ingest(client, admin_token, [events[0]])
    again = (
        await client.get("/api/v1/events/groups", headers=headers, params={"source": source})
    ).json()["groups"][0]
    assert again["id"] == timeout_group["id"]
    assert (again["status"], again["count"]) == ("open", 4)
    bad = await client.patch(
        f"/api/v1/events/groups/{timeout_group['id']}", headers=headers, json={"status": "gone"}
    )
    assert bad.status_code == 400
    missing = await client.patch(
        "/api/v1/events/groups/999999999", headers=headers, json={"status": "open"}
    )
    assert missing.status_code == 404


async def test_an_old_event_creates_its_partition_on_demand(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    source = tag()
    old = (datetime.now(UTC) - timedelta(days=12)).isoformat()
    (event_id,) = await ingest(
        client, admin_token, [{"type": "late", "source": source, "time": old}]
    )
    got = (
        await client.get(f"/api/v1/events/{event_id}", headers={"X-API-Key": admin_token})
    ).json()
    assert datetime.fromisoformat(got["time"]) == datetime.fromisoformat(old)
