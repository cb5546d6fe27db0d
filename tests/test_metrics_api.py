"""Metrics through HTTP: ingest rules, aggregations against a model, limits, increments."""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import RunningService, StartService, ThreadedService
from monitor.config import Settings
from monitor.domain.metrics import LabelMatcher, aggregate, increase

BASE = (datetime.now(UTC) - timedelta(minutes=50)).replace(second=0, microsecond=0)


def metric_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


async def post(client: httpx.AsyncClient, token: str, path: str, body: Any) -> httpx.Response:
    return await client.post(f"/api/v1{path}", headers={"X-API-Key": token}, json=body)


series_specs = st.lists(
    st.fixed_dictionaries(
        {
            "labels": st.dictionaries(
                st.sampled_from(["host", "region"]), st.sampled_from(["a", "b"]), max_size=2
            ),
            "points": st.lists(
                st.tuples(
                    st.integers(0, 1800), st.floats(0, 1000, allow_nan=False, allow_subnormal=False)
                ),
                min_size=1,
                max_size=15,
            ),
        }
    ),
    min_size=1,
    max_size=5,
)
queries = st.fixed_dictionaries(
    {
        "aggregation": st.sampled_from(
            ["avg", "sum", "min", "max", "count", "last", "rate", "p50", "p90", "p99"]
        ),
        "interval": st.sampled_from([60, 300, 900]),
        "group_by": st.sampled_from([(), ("host",), ("host", "region")]),
        "matchers": st.lists(
            st.tuples(
                st.sampled_from(["host", "region"]), st.sampled_from(["a", "b"]), st.booleans()
            ),
            max_size=2,
        ),
    }
)


def model(specs: list[dict[str, Any]], query: dict[str, Any]) -> dict[str, dict[int, float]]:
    """What GET /api/v1/metrics should answer, computed in plain Python."""
    matchers = [LabelMatcher(n, v, eq) for n, v, eq in query["matchers"]]
    width = query["interval"]
    # Identical label sets are one series.
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = defaultdict(list)
    for spec in specs:
        series[tuple(sorted(spec["labels"].items()))].extend(
            ((BASE + timedelta(seconds=offset)).timestamp(), value)
            for offset, value in spec["points"]
        )
    buckets: dict[str, dict[int, list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    per_series: dict[str, dict[int, list[list[tuple[float, float]]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for labels_items, points in series.items():
        labels = dict(labels_items)
        if not all(m.matches(labels) for m in matchers):
            continue
        group = repr(sorted((k, labels[k]) for k in query["group_by"] if k in labels))
        by_bucket: dict[int, list[tuple[float, float]]] = defaultdict(list)
        for time, value in points:
            by_bucket[int(time // width * width)].append((time, value))
        for bucket, bucket_points in by_bucket.items():
            buckets[group][bucket].extend(bucket_points)
            per_series[group][bucket].append(bucket_points)
    result: dict[str, dict[int, float]] = {}
    for group, group_buckets in buckets.items():
        result[group] = {}
        for bucket, bucket_points in group_buckets.items():
            if query["aggregation"] == "rate":
                result[group][bucket] = sum(increase(p) for p in per_series[group][bucket]) / width
            else:
                result[group][bucket] = aggregate(query["aggregation"], bucket_points, width)
    return result


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=series_specs, query=queries)
def test_aggregations_agree_with_a_model(
    threaded_service: ThreadedService, specs: list[dict[str, Any]], query: dict[str, Any]
) -> None:
    name = metric_name()
    kind = "counter" if query["aggregation"] == "rate" else "gauge"
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as client:
        assert (
            client.post("/api/v1/metrics/bulk", json=to_samples(name, specs, kind)).status_code
            == 201
        )
        assert_same(ask(client, name, query), model(specs, query))


async def test_a_sample_of_the_wrong_type_is_422(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    name = metric_name()
    assert (
        await post(client, admin_token, "/metrics", {"name": name, "type": "counter", "value": 1})
    ).status_code == 201
    refused = await post(
        client, admin_token, "/metrics", {"name": name, "type": "gauge", "value": 1}
    )
    assert refused.status_code == 422
    assert "counter" in refused.json()["detail"]
    # Leaving the type out means "whatever it is".
    assert (
        await post(client, admin_token, "/metrics", {"name": name, "value": 2})
    ).status_code == 201


async def test_bulk_is_all_or_nothing_with_every_bad_item_named(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    name = metric_name()
    samples: list[dict[str, Any]] = [{"name": name, "value": i} for i in range(5)]
    samples[2]["labels"] = {"bad-label": "x"}
    samples[3]["time"] = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    samples[4]["name"] = "9starts_with_digit"
    response = await client.post(
        "/api/v1/metrics/bulk",
        headers={"X-API-Key": admin_token, "Content-Type": "application/json"},
        content=json.dumps(samples).encode(),
    )
    assert response.status_code == 400, response.text
    assert {(e["index"], e["field"]) for e in response.json()["errors"]} >= {
        (2, "labels"),
        (3, "time"),
        (4, "name"),
    }
    # A number too large for a double (infinity) is refused, naming the item.
    samples[1]["value"] = "INFINITY"
    infinite = await client.post(
        "/api/v1/metrics/bulk",
        headers={"X-API-Key": admin_token, "Content-Type": "application/json"},
        content=json.dumps(samples[:2]).replace('"INFINITY"', "1e999").encode(),
    )
    assert infinite.status_code == 400
    assert [e["index"] for e in infinite.json()["errors"]] == [1]
    names = (await client.get("/api/v1/metrics/names", headers={"X-API-Key": admin_token})).json()
    assert name not in {m["name"] for m in names["metrics"]}


async def test_the_cardinality_cap_refuses_new_series_by_name(
    start_service: StartService, settings: Settings, admin_token: str
) -> None:
    service = await start_service(settings.replace(max_series_per_metric=3))
    name = metric_name()
    async with httpx.AsyncClient(base_url=service.base_url) as client:
        for host in "abc":
            assert (
                await post(
                    client,
                    admin_token,
                    "/metrics",
                    {"name": name, "value": 1, "labels": {"host": host}},
                )
            ).status_code == 201
        refused = await post(
            client, admin_token, "/metrics", {"name": name, "value": 1, "labels": {"host": "d"}}
        )
        assert refused.status_code == 422
        assert name in refused.json()["detail"] and "host='d'" in refused.json()["detail"]
        # Existing series keep working.
        assert (
            await post(
                client, admin_token, "/metrics", {"name": name, "value": 2, "labels": {"host": "a"}}
            )
        ).status_code == 201
        stats = (
            await client.get("/api/v1/metrics/stats", headers={"X-API-Key": admin_token})
        ).json()
        assert stats["ingest"]["refused_requests"] >= 1


async def test_concurrent_increments_never_lose_an_update(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    name = metric_name()
    values: list[float] = []

    async def bump() -> None:
        response = await post(
            client, admin_token, f"/metrics/increment/{name}", {"by": 1, "labels": {"k": "v"}}
        )
        assert response.status_code == 201, response.text
        values.append(response.json()["value"])

    async with trio.open_nursery() as nursery:
        for _ in range(40):
            nursery.start_soon(bump)
    assert sorted(values) == [float(i) for i in range(1, 41)]
    latest = (
        await client.get(
            "/api/v1/metrics/latest", headers={"X-API-Key": admin_token}, params={"name": name}
        )
    ).json()
    assert [s["value"] for s in latest["series"]] == [40.0]


async def test_the_interval_takes_any_duration_form_and_is_answered_canonically(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    window = {"name": "x", "from": "2026-01-01T00:00:00Z", "to": "2026-01-01T03:00:00Z"}
    for given_, canonical, seconds in (("90", "1m30s", 90), ("1h30m", "1h30m", 5400)):
        response = await client.get(
            "/api/v1/metrics",
            headers={"X-API-Key": admin_token},
            params={**window, "interval": given_},
        )
        assert response.status_code == 200, response.text
        assert (response.json()["interval"], response.json()["interval_s"]) == (canonical, seconds)
    for refused, complaint in (("30m1h", "largest first"), ("1500ms", "whole number of seconds")):
        response = await client.get(
            "/api/v1/metrics",
            headers={"X-API-Key": admin_token},
            params={**window, "interval": refused},
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "interval"
        assert complaint in response.json()["errors"][0]["message"]


async def test_too_many_points_is_400(client: httpx.AsyncClient, admin_token: str) -> None:
    response = await client.get(
        "/api/v1/metrics",
        headers={"X-API-Key": admin_token},
        params={
            "name": "x",
            "interval": "1s",
            "from": "2026-01-01T00:00:00Z",
            "to": "2026-01-02T00:00:00Z",
        },
    )
    assert response.status_code == 400
    assert "wider interval" in str(response.json()["errors"])


async def test_a_deleted_series_is_not_served_from_another_instances_cache(
    start_service: StartService, settings: Settings, admin_token: str, database_url: str
) -> None:
    one = await start_service(settings)
    two = await start_service(settings.replace(data_dir=settings.data_dir / "two"))
    name = metric_name()
    sample = {"name": name, "value": 1.0, "labels": {"host": "a"}}
    async with (
        httpx.AsyncClient(base_url=one.base_url) as first,
        httpx.AsyncClient(base_url=two.base_url) as second,
    ):
        assert (
            await post(second, admin_token, "/metrics", sample)
        ).status_code == 201  # cached on two
        (old,) = (
            await first.get(
                "/api/v1/metrics/latest", headers={"X-API-Key": admin_token}, params={"name": name}
            )
        ).json()["series"]
        assert (
            await first.delete(
                f"/api/v1/metrics/{old['series_id']}", headers={"X-API-Key": admin_token}
            )
        ).status_code == 204
        assert (
            await post(second, admin_token, "/metrics", {**sample, "value": 2.0})
        ).status_code == 201
        (new,) = (
            await first.get(
                "/api/v1/metrics/latest", headers={"X-API-Key": admin_token}, params={"name": name}
            )
        ).json()["series"]
    assert new["series_id"] != old["series_id"] and new["value"] == 2.0
    with psycopg.connect(database_url) as connection:
        orphans = connection.execute(
            "select count(*) from samples where series_id = %s", (old["series_id"],)
        ).fetchone()
    assert orphans == (0,)


async def test_names_sources_and_latest(client: httpx.AsyncClient, admin_token: str) -> None:
    name = metric_name()
    source = f"src-{uuid.uuid4().hex[:6]}"
    await post(
        client,
        admin_token,
        "/metrics/bulk",
        [
            {
                "name": name,
                "type": "gauge",
                "unit": "bytes",
                "value": 5,
                "source": source,
                "labels": {"disk": "sda"},
            },
            {"name": name, "value": 7, "source": source, "labels": {"disk": "sdb"}},
        ],
    )
    headers = {"X-API-Key": admin_token}
    names = (await client.get("/api/v1/metrics/names", headers=headers)).json()["metrics"]
    assert {"name": name, "type": "gauge", "unit": "bytes", "series": 2} in names
    assert (
        source in (await client.get("/api/v1/metrics/sources", headers=headers)).json()["sources"]
    )
    latest = (
        await client.get(
            "/api/v1/metrics/latest", headers=headers, params={"name": name, "label.disk": "sdb"}
        )
    ).json()
    assert [s["value"] for s in latest["series"]] == [7.0]


@pytest.mark.parametrize(
    "path",
    [
        "/metrics?name=bad-name",
        "/metrics?name=x&aggregation=median",
        "/metrics?name=x&foo=1",
        # The default range (an hour before `to`) would start before year 1.
        "/metrics?name=x&to=0001-01-01T00:00:00Z",
        # In UTC this is year 0.
        "/metrics?name=x&from=0001-01-01T00:00:00%2B01:00&to=2026-01-01T00:00:00Z",
        "/metrics?name=x&to=9999-12-31T23:59:59-05:00",
        "/events?to=0001-01-01T00:00:00%2B01:00",
    ],
)
async def test_bad_queries_are_400(client: httpx.AsyncClient, admin_token: str, path: str) -> None:
    response = await client.get(f"/api/v1{path}", headers={"X-API-Key": admin_token})
    assert response.status_code == 400


def roll_up_now(database_url: str) -> datetime | None:
    """Run the rollup job once, up to the current minute (as the rollup actor does)."""
    from monitor.storage import rollups
    from monitor.storage.gateway import open_gateway

    async def main() -> datetime | None:
        async with open_gateway(
            database_url, pool_size=1, statement_timeout=30, acquire_timeout=5, connect_timeout=5
        ) as gateway:
            now = datetime.now(UTC)
            mark = await rollups.roll_up(gateway, now, timedelta(0))
            while mark is not None and mark < now - timedelta(minutes=1):
                mark = await rollups.roll_up(gateway, now, timedelta(0))
            return mark

    return trio.run(main)


def ask(client: httpx.Client, name: str, query: dict[str, Any]) -> dict[str, dict[int, float]]:
    params: list[tuple[str, str]] = [
        ("name", name),
        ("aggregation", query["aggregation"]),
        ("interval", f"{query['interval']}s"),
        ("from", (BASE - timedelta(hours=1)).isoformat()),
        ("to", (BASE + timedelta(hours=1)).isoformat()),
    ]
    if query["group_by"]:
        params.append(("group_by", ",".join(query["group_by"])))
    for label, value, equal in query["matchers"]:
        params.append((f"label.{label}" + ("" if equal else "!"), value))
    response = client.get("/api/v1/metrics", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return {
        repr(sorted(series["labels"].items())): {int(t): v for t, v in series["points"]}
        for series in body["series"]
    }


def assert_same(got: dict[str, dict[int, float]], expected: dict[str, dict[int, float]]) -> None:
    assert got.keys() == expected.keys()
    for group, points in expected.items():
        assert got[group].keys() == points.keys()
        for bucket, value in points.items():
            assert math.isclose(got[group][bucket], value, rel_tol=1e-9, abs_tol=1e-6), (
                group,
                bucket,
            )


def to_samples(name: str, specs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "type": kind,
            "labels": spec["labels"],
            "value": value,
            "time": (BASE + timedelta(seconds=offset)).isoformat(),
        }
        for spec in specs
        for offset, value in spec["points"]
    ]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=series_specs, late=series_specs, query=queries)
def test_rollup_answers_equal_raw_answers_also_after_late_samples(
    threaded_service: ThreadedService,
    database_url: str,
    specs: list[dict[str, Any]],
    late: list[dict[str, Any]],
    query: dict[str, Any],
) -> None:
    name = metric_name()
    kind = "counter" if query["aggregation"] == "rate" else "gauge"
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as client:
        assert (
            client.post("/api/v1/metrics/bulk", json=to_samples(name, specs, kind)).status_code
            == 201
        )
        mark = roll_up_now(database_url)
        assert mark is not None and mark > BASE + timedelta(minutes=30)  # all of it rolled up
        assert_same(ask(client, name, query), model(specs, query))
        # Late samples land in buckets already rolled up: the answer follows them.
        assert (
            client.post("/api/v1/metrics/bulk", json=to_samples(name, late, kind)).status_code
            == 201
        )
        assert_same(ask(client, name, query), model(specs + late, query))


async def test_committed_samples_reach_the_publish_hook(
    client: httpx.AsyncClient, admin_token: str, running: RunningService
) -> None:
    from monitor.messages import CommittedSamples

    listener = running.running.committed.listen(100)
    name = metric_name()
    assert (
        await post(client, admin_token, "/metrics", {"name": name, "value": 3.5})
    ).status_code == 201
    with trio.fail_after(5):
        batch = await listener.receive()
    assert isinstance(batch, CommittedSamples)
    assert [(point.key.name, point.value) for _, point in batch.samples] == [(name, 3.5)]


async def test_an_increment_that_would_overflow_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    name = metric_name()
    first = await post(client, admin_token, f"/metrics/increment/{name}", {"by": 1e308})
    assert first.status_code == 201, first.text
    second = await post(client, admin_token, f"/metrics/increment/{name}", {"by": 1e308})
    assert second.status_code == 422, second.text
    assert "overflows" in second.json()["detail"]
    latest = (
        await client.get(
            "/api/v1/metrics/latest", headers={"X-API-Key": admin_token}, params={"name": name}
        )
    ).json()
    assert [s["value"] for s in latest["series"]] == [1e308]
