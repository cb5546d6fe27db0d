"""GET /api/v1/dashboard/top/<kind>: each list against a model or the API it must agree with."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import MakeKey, ThreadedService
from dashboard_helpers import HeldClock, Isolated, held_clock, isolated, problem_fields
from events_helpers import ingest, tag
from monitor.storage import rollups
from monitor.storage.metric_query import plan_counts

__all__ = ["held_clock", "isolated"]  # fixtures

TOP = "/api/v1/dashboard/top"
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
# Each hypothesis example asks about an hour of its own, days back, where no other test
# writes: what it finds there is its own data, and no shared answer of another example.
ERRORS_BASE = NOW - timedelta(days=20)
SLOW_BASE = NOW - timedelta(days=15)
_hours = itertools.count()


def own_hour(base: datetime) -> tuple[datetime, datetime]:
    start = base + timedelta(hours=2 * next(_hours))
    return start, start + timedelta(hours=1)


def window(start: datetime, end: datetime) -> dict[str, str]:
    return {"from": start.isoformat(), "to": end.isoformat()}


# --- errors ---------------------------------------------------------------------------------

error_specs = st.lists(
    st.fixed_dictionaries(
        {
            "second": st.integers(0, 3599),
            "level": st.sampled_from(["info", "error", "critical"]),
            "group": st.sampled_from("abcde"),
        }
    ),
    min_size=1,
    max_size=30,
)


def trend_bucket(moment: datetime, start: datetime, end: datetime, buckets: int = 24) -> int:
    """Which of `buckets` equal parts of [start, end) holds `moment`, in whole microseconds."""
    micro = timedelta(microseconds=1)
    return ((moment - start) // micro * buckets) // ((end - start) // micro)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    specs=error_specs,
    changed=st.dictionaries(st.sampled_from("abcde"), st.sampled_from(["resolved", "ignored"])),
    limit=st.integers(1, 6),
    statuses=st.sampled_from(["", "open", "resolved,ignored", "open,resolved,ignored"]),
)
def test_top_errors_agree_with_the_groups_api_and_their_trend_with_a_model(
    threaded_service: ThreadedService,
    specs: list[dict[str, Any]],
    changed: dict[str, str],
    limit: int,
    statuses: str,
) -> None:
    start, end = own_hour(ERRORS_BASE)
    prefix = tag()
    events = [
        {
            "type": "crash",
            "level": spec["level"],
            "source": prefix,
            "message": "boom",
            "fingerprint": f"{prefix}-{spec['group']}",
            "time": (start + timedelta(seconds=spec["second"], microseconds=7)).isoformat(),
        }
        for spec in specs
    ]
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as http:
        assert http.post("/api/v1/events/bulk", json=events).status_code == 201
        every = http.get("/api/v1/events/groups", params={**window(start, end), "limit": 200})
        for group in every.json()["groups"]:
            status = changed.get(group["fingerprint"].rsplit("-", 1)[1])
            if status:
                assert http.patch(
                    f"/api/v1/events/groups/{group['id']}", json={"status": status}
                ).is_success
        query = {**window(start, end), "limit": str(limit)}
        if statuses:
            query["status"] = statuses
        groups = http.get("/api/v1/events/groups", params=query).json()["groups"]
        top = http.get(f"{TOP}/errors", params=query)
    assert top.status_code == 200, top.text
    body = top.json()
    assert body["trend_buckets"] == 24
    assert body["trend_bucket_s"] == 150.0
    assert [{k: v for k, v in item.items() if k != "trend"} for item in body["items"]] == groups
    expected_trends: dict[str, list[int]] = defaultdict(lambda: [0] * 24)
    for event in events:
        if event["level"] != "info":
            moment = datetime.fromisoformat(event["time"])
            expected_trends[event["fingerprint"]][trend_bucket(moment, start, end)] += 1
    for item in body["items"]:
        assert item["trend"] == expected_trends[item["fingerprint"]]
        assert sum(item["trend"]) == item["count_in_range"]


def test_trend_buckets_split_the_range_evenly() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(minutes=15)  # 37.5 s buckets
    assert trend_bucket(start, start, end) == 0
    assert trend_bucket(start + timedelta(seconds=37.5), start, end) == 1
    assert trend_bucket(start + timedelta(seconds=37.499999), start, end) == 0
    assert trend_bucket(end - timedelta(microseconds=1), start, end) == 23


# --- slow-requests --------------------------------------------------------------------------

numbers = st.one_of(
    st.integers(-(2**53), 2**53),
    st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
)
not_numbers = st.sampled_from(["12", "fast", True, False, None, {"ms": 3}, [1, 2]])
routes = st.sampled_from(["/a", "/b", "/c", "/d/é", 5, None])
complete = st.fixed_dictionaries({"route": routes, "duration_ms": numbers})
partial = st.fixed_dictionaries(
    {}, optional={"route": routes, "duration_ms": st.one_of(numbers, not_numbers)}
)
slow_specs = st.lists(st.one_of(complete, complete, partial), min_size=1, max_size=40)


def percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the ranks around
    fraction * (n - 1) of the sorted values."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def slow_model(attributes: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    by_key: dict[str, list[float]] = defaultdict(list)
    for attrs in attributes:
        route, duration = attrs.get("route"), attrs.get("duration_ms")
        if route is None or isinstance(duration, bool) or not isinstance(duration, int | float):
            continue
        by_key[str(route)].append(float(duration))
    return {
        key: {
            "count": len(values),
            "p50": percentile_cont(values, 0.5),
            "p95": percentile_cont(values, 0.95),
            "p99": percentile_cont(values, 0.99),
            "max": max(values),
        }
        for key, values in by_key.items()
    }


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=slow_specs)
def test_slow_request_percentiles_equal_postgresql_percentile_cont_computed_in_python(
    threaded_service: ThreadedService, specs: list[dict[str, Any]]
) -> None:
    start, end = own_hour(SLOW_BASE)
    events = [
        {
            "type": "request",
            "time": (start + timedelta(seconds=i)).isoformat(),
            "attributes": attributes,
        }
        for i, attributes in enumerate(specs)
    ]
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as http:
        assert http.post("/api/v1/events/bulk", json=events).status_code == 201
        response = http.get(f"{TOP}/slow-requests", params={**window(start, end), "limit": 100})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["attr"], body["key"]) == ("duration_ms", "route")
    expected = slow_model(specs)
    got = {item.pop("key"): item for item in body["items"]}
    assert got.keys() == expected.keys()
    for key, figures in expected.items():
        assert got[key]["count"] == figures["count"]
        for name in ("p50", "p95", "p99", "max"):
            assert math.isclose(got[key][name], figures[name], rel_tol=1e-12, abs_tol=1e-9), (
                key,
                name,
            )
    ranked = [item["p95"] for item in body["items"]]
    assert ranked == sorted(ranked, reverse=True)


async def test_slow_requests_rank_by_p95_take_other_attributes_and_only_the_busiest_keys(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    start, end = own_hour(SLOW_BASE - timedelta(days=1))
    at = (start + timedelta(minutes=1)).isoformat()
    events = [
        # 1,001 keys with one event each ("k0000" … "k1000"), and "busy" with two: only
        # the 1,000 busiest keys are ranked (ties by key), so "k0999" and "k1000" are left
        # out though they are the slowest.
        *(
            {"type": "rpc", "time": at, "attributes": {"op": f"k{i:04}", "ms": i}}
            for i in range(1001)
        ),
        *({"type": "rpc", "time": at, "attributes": {"op": "busy", "ms": 999.5}} for _ in range(2)),
    ]
    await ingest(client, admin_token, events)
    response = await client.get(
        f"{TOP}/slow-requests",
        params={**window(start, end), "attr": "ms", "key": "op", "limit": 3},
        headers={"X-API-Key": admin_token},
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["key"] for item in items] == ["busy", "k0998", "k0997"]
    assert items[0] == {
        "key": "busy",
        "count": 2,
        "p50": 999.5,
        "p95": 999.5,
        "p99": 999.5,
        "max": 999.5,
    }


# --- sources and types ----------------------------------------------------------------------


async def test_top_sources_and_types_count_the_events_of_the_range(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    start, end = own_hour(NOW - timedelta(days=12))
    prefix = tag()
    sent = [
        (source, kind, start + timedelta(minutes=minute))
        for source, kind, minute, times in [
            ("a", "deploy", 0, 5),
            ("b", "deploy", 10, 3),
            ("b", "crash", 20, 4),
            ("c", "crash", 59, 1),
            ("d", "cron", 30, 7),
            ("e", "cron", 60, 9),  # at the range's end: outside it
        ]
        for _ in range(times)
    ]
    await ingest(
        client,
        admin_token,
        [
            {"type": f"{prefix}.{k}", "source": f"{prefix}-{s}", "time": t.isoformat()}
            for s, k, t in sent
        ],
    )
    inside = [(s, k) for s, k, t in sent if t < end]
    headers = {"X-API-Key": admin_token}
    sources = await client.get(
        f"{TOP}/sources", params={**window(start, end), "limit": 3}, headers=headers
    )
    types = await client.get(f"{TOP}/types", params=window(start, end), headers=headers)
    assert sources.status_code == types.status_code == 200
    assert sources.json()["total"] == types.json()["total"] == len(inside)
    by_source = Counter(s for s, _ in inside)
    assert sources.json()["items"] == [
        {"source": f"{prefix}-{s}", "count": n}
        for s, n in sorted(by_source.items(), key=lambda item: (-item[1], item[0]))[:3]
    ]
    by_type = Counter(k for _, k in inside)
    assert types.json()["items"] == [
        {"type": f"{prefix}.{k}", "count": n}
        for k, n in sorted(by_type.items(), key=lambda item: (-item[1], item[0]))
    ]


# --- metrics --------------------------------------------------------------------------------


async def roll_up_all(isolated: Isolated) -> None:
    now = datetime.now(UTC)
    mark = await rollups.roll_up(isolated.gateway, now, timedelta(0))
    while mark is not None and mark < now - timedelta(minutes=1):
        mark = await rollups.roll_up(isolated.gateway, now, timedelta(0))


async def test_top_metrics_by_sample_count_and_by_latest_value_from_raw_and_rollups(
    isolated: Isolated,
) -> None:
    base = NOW.replace(minute=0) - timedelta(days=1)
    samples = [
        {
            "name": name,
            "source": f"h{host}",
            "value": value + host / 1000,
            "time": (base + timedelta(seconds=offset)).isoformat(),
        }
        for name, hosts, step, value in [
            ("busy", 3, 20, 1.0),  # every 20 s for 2 h on 3 hosts, h2's 1.002 the highest
            ("calm", 2, 300, 2.0),
            ("rare", 1, 3600, 3.0),
        ]
        for host in range(hosts)
        for offset in range(0, 7200, step)
    ]
    # The latest values: each host of "calm" ends on its own value.
    samples += [
        {
            "name": "calm",
            "source": "h0",
            "value": 50.0,
            "time": (base + timedelta(seconds=7000)).isoformat(),
        },
        {
            "name": "calm",
            "source": "h1",
            "value": -5.0,
            "time": (base + timedelta(seconds=7001)).isoformat(),
        },
    ]
    # A metric without samples in the range is not listed.
    samples.append({"name": "old", "value": 1.0, "time": (base - timedelta(hours=1)).isoformat()})
    # Not whole minutes at either end: raw samples answer the edges.
    start, end = base + timedelta(seconds=90), base + timedelta(seconds=7170)

    def expected_counts() -> list[dict[str, Any]]:
        counts = Counter(
            s["name"] for s in samples if start <= datetime.fromisoformat(s["time"]) < end
        )
        return [
            {"name": name, "type": "gauge", "unit": None, "samples": n}
            for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        ]

    async with isolated.client() as http:
        response = await http.post("/api/v1/metrics/bulk", json=samples)
        assert response.status_code == 201, response.text
        raw = await http.get(f"{TOP}/metrics", params=window(start, end))
        await roll_up_all(isolated)
        rolled = await http.get(
            f"{TOP}/metrics", params={**window(start, end - timedelta(microseconds=1))}
        )
        one = await http.get(
            f"{TOP}/metrics", params={**window(start, end), "name": "calm", "limit": 100}
        )
        by_value = await http.get(
            f"{TOP}/metrics", params={**window(start, end), "by": "value", "limit": 3}
        )
    assert raw.status_code == rolled.status_code == 200, raw.text
    assert raw.json()["items"] == expected_counts()
    # Rolled up, the same counts (the range differs by a microsecond, so it is a new answer).
    assert rolled.json()["items"] == expected_counts()
    assert one.json()["items"] == [i for i in expected_counts() if i["name"] == "calm"]
    latest = by_value.json()
    assert latest["by"] == "value"
    assert [(i["name"], i["source"], i["value"]) for i in latest["items"]] == [
        ("calm", "h0", 50.0),
        ("rare", "h0", 3.0),
        ("busy", "h2", 1.002),
    ]


EPOCH_2026 = datetime(2026, 1, 1, tzinfo=UTC)
moments = st.integers(0, 3 * 86_400_000_000).map(
    lambda micros: EPOCH_2026 + timedelta(microseconds=micros)
)


@given(start=moments, length=st.integers(1, 86_400_000_000), minute_mark=st.none() | moments)
def test_counting_plans_cover_the_range_once_with_complete_rollups_only(
    start: datetime, length: int, minute_mark: datetime | None
) -> None:
    end = start + timedelta(microseconds=length)
    marks = {}
    if minute_mark is not None:
        marks[rollups.MINUTE] = rollups.floor_to(minute_mark, rollups.MINUTE)
        marks[rollups.HOUR] = rollups.floor_to(minute_mark, rollups.HOUR)
    rolled, raw = plan_counts(start, end, marks)
    parts = sorted([(a, b) for _, a, b in rolled] + raw)
    assert parts[0][0] == start and parts[-1][1] == end
    for (_, first_end), (second_start, _) in itertools.pairwise(parts):
        assert first_end == second_start  # no gap, no overlap
    assert all(a < b for a, b in parts)
    for resolution, a, b in rolled:
        assert rollups.floor_to(a, resolution) == a and rollups.floor_to(b, resolution) == b
        assert b <= marks[resolution]


# --- sharing and hostile queries ------------------------------------------------------------


async def test_a_top_list_is_computed_once_per_tick_and_revalidates_to_304(
    client: httpx.AsyncClient, make_key: MakeKey, held_clock: HeldClock
) -> None:
    client.headers["X-API-Key"] = (await make_key("read"))[1]
    before = (await client.get("/stats")).json()["dashboard_cache"]
    first = await client.get(f"{TOP}/sources", params={"range": "1h", "limit": "5"})
    again = await client.get(f"{TOP}/sources", params={"limit": "05", "range": "60m"})
    after = (await client.get("/stats")).json()["dashboard_cache"]
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert after["computations"] - before["computations"] == 1
    assert after["hits_local"] - before["hits_local"] == 1
    revalidated = await client.get(
        f"{TOP}/sources",
        params={"range": "1h", "limit": "5"},
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert revalidated.status_code == 304


async def test_an_unknown_kind_is_404_naming_the_lists_there_are(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    for kind in ("nope", "ERRORS", "x" * 500, "slow_requests"):
        response = await client.get(f"{TOP}/{kind}", headers={"X-API-Key": admin_token})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        detail = response.json()["detail"]
        assert "errors, sources, types, metrics, slow-requests" in detail
        assert len(detail) < 300


@pytest.mark.parametrize(
    ("kind", "params", "fields"),
    [
        ("errors", {"limit": "0"}, {"limit"}),
        ("errors", {"limit": "101"}, {"limit"}),
        ("errors", {"limit": "9" * 40}, {"limit"}),
        ("errors", {"limit": "ten"}, {"limit"}),
        ("errors", {"status": "closed"}, {"status"}),
        ("errors", {"status": ",".join(["open"] * 101)}, {"status"}),
        ("errors", {"by": "value"}, {"by"}),  # another kind's parameter
        ("sources", {"status": "open", "q": "x"}, {"status", "q"}),
        ("types", {"range": "forever"}, {"range"}),
        ("metrics", {"by": "latest"}, {"by"}),
        ("metrics", {"name": "no-dashes"}, {"name"}),
        ("metrics", {"name": "a" * 201}, {"name"}),
        ("metrics", {"attr": "ms"}, {"attr"}),
        ("slow-requests", {"attr": ""}, {"attr"}),
        ("slow-requests", {"key": "k" * 129}, {"key"}),
        ("slow-requests", {"attr": "a" * 129, "key": ""}, {"attr", "key"}),
        ("slow-requests", {"from": "2026-01-01T00:00:00", "to": "2026-01-01T01:00:00"}, {"from"}),
        ("slow-requests", {"from": "2026-01-01T00:00:00Z"}, {"to"}),
        ("slow-requests", {"range": "1h", "to": "2026-01-01T00:00:00Z"}, {"range"}),
        ("metrics", {"limit": "-1", "by": "x", "range": "0s"}, {"limit", "by", "range"}),
    ],
)
async def test_bad_queries_are_400_naming_each_parameter(
    client: httpx.AsyncClient,
    admin_token: str,
    kind: str,
    params: dict[str, str],
    fields: set[str],
) -> None:
    response = await client.get(f"{TOP}/{kind}", params=params, headers={"X-API-Key": admin_token})
    assert problem_fields(response) == fields


async def test_odd_attribute_names_are_answered_not_refused(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    start, end = own_hour(SLOW_BASE - timedelta(days=2))
    odd = "é'\"%s;--\\ \t?|&"
    await ingest(
        client,
        admin_token,
        [
            {
                "type": "rpc",
                "time": (start + timedelta(minutes=1)).isoformat(),
                "attributes": {odd: 4, "?": "x"},
            }
        ],
    )
    response = await client.get(
        f"{TOP}/slow-requests",
        params={**window(start, end), "attr": odd, "key": "?"},
        headers={"X-API-Key": admin_token},
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == [
        {"key": "x", "count": 1, "p50": 4.0, "p95": 4.0, "p99": 4.0, "max": 4.0}
    ]
