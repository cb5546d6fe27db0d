"""GET /api/v1/dashboard/heatmap: events per local weekday and hour (across DST changes),
a metric's values per time and value bucket, and hostile queries."""

from __future__ import annotations

import bisect
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
import trio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conftest import ThreadedService, make_settings, threaded
from events_helpers import tag
from monitor.storage import rollups
from monitor.storage.gateway import open_gateway

ROUTE = "/api/v1/dashboard/heatmap"
LEVELS = ["debug", "info", "warning", "error", "critical"]
# Moments when a zone's offset changes (and, for UTC, a plain day), all within 400 days.
CHANGES = {
    "Europe/Berlin": [datetime(2026, 3, 29, 1, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)],
    "America/New_York": [datetime(2026, 11, 1, 6, tzinfo=UTC)],
    "Australia/Lord_Howe": [datetime(2026, 10, 3, 15, 30, tzinfo=UTC)],  # a 30-minute change
    "Asia/Kolkata": [datetime(2026, 6, 1, tzinfo=UTC)],  # +05:30 all year
    "UTC": [datetime(2026, 6, 1, tzinfo=UTC)],
}
SPREAD = 2 * 86400  # events lie up to two days either side of the change


@pytest.fixture(scope="module")
def long_memory_service(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedService]:
    """A service that accepts events from the last 400 days, so DST changes can be sent."""
    settings_ = make_settings(
        database_url, tmp_path_factory.mktemp("long"), events_retention=timedelta(days=400)
    )
    with threaded(settings_) as running:
        yield running


event_specs = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["deploy", "error"]),
        "level": st.sampled_from(LEVELS),
        "offset": st.integers(-SPREAD, SPREAD - 1),
    }
)
event_filters = st.fixed_dictionaries(
    {},
    optional={"type": st.sampled_from(["deploy", "error"]), "min_level": st.sampled_from(LEVELS)},
)


def matches(spec: dict[str, Any], query: dict[str, Any]) -> bool:
    if "type" in query and spec["type"] != query["type"]:
        return False
    return "min_level" not in query or LEVELS.index(spec["level"]) >= LEVELS.index(
        query["min_level"]
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    zone=st.sampled_from(sorted(CHANGES)),
    which=st.integers(0, 1),
    specs=st.lists(event_specs, min_size=1, max_size=40),
    query=event_filters,
    window=st.tuples(st.integers(-SPREAD, 0), st.integers(1, SPREAD)),
)
def test_event_cells_are_counted_in_the_zone_across_dst_changes(
    long_memory_service: ThreadedService,
    zone: str,
    which: int,
    specs: list[dict[str, Any]],
    query: dict[str, Any],
    window: tuple[int, int],
) -> None:
    change = CHANGES[zone][which % len(CHANGES[zone])]
    start, end = (change + timedelta(seconds=edge) for edge in window)
    source = tag()
    events = [
        {
            "type": spec["type"],
            "level": spec["level"],
            "source": source,
            "time": (change + timedelta(seconds=spec["offset"])).isoformat(),
        }
        for spec in specs
    ]
    params = {"source": source, "from": start.isoformat(), "to": end.isoformat(), **query}
    headers = {"X-API-Key": long_memory_service.admin_token}
    with httpx.Client(base_url=long_memory_service.base_url, headers=headers, timeout=10) as client:
        assert client.post("/api/v1/events/bulk", json=events).status_code == 201
        response = client.get(ROUTE, params={"kind": "events", "tz": zone, **params})
        assert response.status_code == 200, response.text
        body = response.json()
        stats = client.get("/api/v1/events/stats", params=params).json()
    expected = Counter()
    for spec in specs:
        moment = change + timedelta(seconds=spec["offset"])
        if start <= moment < end and matches(spec, query):
            local = moment.astimezone(ZoneInfo(zone))
            expected[local.weekday(), local.hour] += 1
    cells = {
        (weekday, hour): count
        for weekday, row in enumerate(body["counts"])
        for hour, count in enumerate(row)
        if count
    }
    assert cells == dict(expected)
    assert body["total"] == stats["total"] == sum(expected.values())
    assert (body["tz"], body["weekdays"][0], len(body["hours"])) == (zone, "Monday", 24)


async def test_the_event_heatmap_defaults_to_utc_and_a_relative_range(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    source = tag()
    now = datetime.now(UTC)
    response = await client.post(
        "/api/v1/events/bulk",
        headers={"X-API-Key": admin_token},
        json=[{"type": "x", "source": source, "time": (now - timedelta(hours=2)).isoformat()}],
    )
    assert response.status_code == 201
    first = await client.get(
        ROUTE, headers={"X-API-Key": admin_token}, params={"kind": "events", "source": source}
    )
    body = first.json()
    assert body["tz"] == "UTC" and body["total"] == 1
    moment = now - timedelta(hours=2)
    assert body["counts"][moment.weekday()][moment.hour] == 1
    assert datetime.fromisoformat(body["to"]) - datetime.fromisoformat(body["from"]) >= timedelta(
        hours=24
    )
    again = await client.get(
        ROUTE,
        headers={"X-API-Key": admin_token, "If-None-Match": first.headers["ETag"]},
        params={"source": source, "kind": "events", "tz": "UTC", "range": "1d"},
    )
    assert again.status_code == 304


# --- kind=metric ---------------------------------------------------------------------------

BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
values = st.one_of(
    st.integers(-5, 5).map(float),
    st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
    st.sampled_from([0.0, -0.0, 1e-300, 1e300, -1e300, 0.1, 0.2, 0.3]),
)
sample_specs = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),  # host
        st.integers(0, 3 * 3600 - 1),  # second
        values,
    ),
    min_size=0,
    max_size=40,
    unique_by=lambda spec: (spec[0], spec[1]),  # one sample per series and time
)


def metric_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    specs=sample_specs,
    scale=st.sampled_from(["linear", "log"]),
    buckets=st.integers(1, 100),
    interval=st.sampled_from(["1m", "15m", "1h"]),
    window=st.tuples(st.integers(0, 3 * 3600 - 1), st.integers(1, 3 * 3600)),
    host=st.sampled_from([None, "a"]),
)
def test_metric_cells_count_each_sample_once_in_its_buckets(
    threaded_service: ThreadedService,
    specs: list[tuple[str, int, float]],
    scale: str,
    buckets: int,
    interval: str,
    window: tuple[int, int],
    host: str | None,
) -> None:
    name = metric_name()
    start = BASE + timedelta(seconds=window[0])
    end = start + timedelta(seconds=window[1])
    samples = [
        {
            "name": name,
            "labels": {"host": spec_host},
            "value": value,
            "time": (BASE + timedelta(seconds=second)).isoformat(),
        }
        for spec_host, second, value in specs
    ]
    params = metric_params(name, scale, buckets, interval, start, end, host)
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as client:
        if samples:
            assert client.post("/api/v1/metrics/bulk", json=samples).status_code == 201
        response = client.get(ROUTE, params=params)
    assert_cells(response, specs, scale, buckets, start, end, host)


def metric_params(
    name: str,
    scale: str,
    buckets: int,
    interval: str,
    start: datetime,
    end: datetime,
    host: str | None,
) -> dict[str, Any]:
    return {
        "kind": "metric",
        "name": name,
        "scale": scale,
        "buckets": buckets,
        "interval": interval,
        "from": start.isoformat(),
        "to": end.isoformat(),
        **({"label.host": host} if host else {}),
    }


def assert_cells(
    response: httpx.Response,
    specs: list[tuple[str, int, float]],
    scale: str,
    buckets: int,
    start: datetime,
    end: datetime,
    host: str | None,
) -> None:
    """The answer is the model's: edges over the values in the window, each sample in
    its cell."""
    assert response.status_code == 200, response.text
    body = response.json()
    width = body["interval_s"]
    chosen = [
        (int((BASE + timedelta(seconds=second)).timestamp()), value)
        for spec_host, second, value in specs
        if start <= BASE + timedelta(seconds=second) < end and host in (None, spec_host)
    ]
    placed = [value for _, value in chosen if scale == "linear" or value > 0]
    edges = body["edges"]
    if placed:
        assert (edges[0], edges[-1]) == (min(placed), max(placed))
        assert len(edges) - 1 == (buckets if min(placed) < max(placed) else 1)
        assert edges == sorted(edges)
    else:
        assert edges == []
    cells: Counter[tuple[int, int]] = Counter()
    excluded: Counter[int] = Counter()
    for moment, value in chosen:
        bucket = moment // width * width
        if scale == "linear" or value > 0:
            cells[bucket, bisect.bisect_right(edges, value, 1, len(edges) - 1) - 1] += 1
        else:
            excluded[bucket] += 1
    found = {
        (time, value_bucket): count
        for time, row in zip(body["times"], body["counts"], strict=True)
        for value_bucket, count in enumerate(row)
        if count
    }
    assert found == dict(cells)
    assert dict(zip(body["times"], body["excluded"], strict=True)) == {
        time: excluded[time] for time in body["times"]
    }
    assert body["samples"] == len(chosen) == sum(map(sum, body["counts"])) + sum(body["excluded"])


# --- value bounds from rollups ---------------------------------------------------------------


@pytest.fixture(scope="module")
def uncached_service(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedService]:
    """A service that computes every answer, so one question asked again sees new samples."""
    settings_ = make_settings(
        database_url, tmp_path_factory.mktemp("uncached"), dashboard_cache_bytes=0
    )
    with threaded(settings_) as running:
        yield running


def roll_up_now(database_url: str) -> datetime | None:
    """Run the rollup job up to the current minute, as the rollup actor does."""

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


def to_samples(name: str, specs: list[tuple[str, int, float]]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "labels": {"host": host},
            "value": value,
            "time": (BASE + timedelta(seconds=second)).isoformat(),
        }
        for host, second, value in specs
    ]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    specs=sample_specs,
    late=sample_specs,
    scale=st.sampled_from(["linear", "log"]),
    buckets=st.integers(1, 100),
    interval=st.sampled_from(["1m", "15m", "1h"]),
    window=st.tuples(st.integers(0, 3 * 3600 - 1), st.integers(1, 3 * 3600)),
    host=st.sampled_from([None, "a"]),
)
# On a log scale, a minute holding a negative and the lowest positive value: its rollup's
# min does not tell that value.
@example(
    specs=[("a", 60, -1.0), ("a", 61, 0.5), ("a", 200, 5.0)],
    late=[("b", 62, 0.25)],
    scale="log",
    buckets=4,
    interval="1m",
    window=(0, 3600),
    host=None,
)
def test_bounds_from_rollups_equal_the_raw_samples_also_after_late_samples(
    uncached_service: ThreadedService,
    database_url: str,
    specs: list[tuple[str, int, float]],
    late: list[tuple[str, int, float]],
    scale: str,
    buckets: int,
    interval: str,
    window: tuple[int, int],
    host: str | None,
) -> None:
    """Rolled up, the window's value bounds come from the rollups' min and max; late
    samples (before the watermark) refresh them, so the answer still equals the model."""
    name = metric_name()
    start = BASE + timedelta(seconds=window[0])
    end = start + timedelta(seconds=window[1])
    params = metric_params(name, scale, buckets, interval, start, end, host)
    headers = {"X-API-Key": uncached_service.admin_token}
    with httpx.Client(base_url=uncached_service.base_url, headers=headers, timeout=10) as client:
        if specs:
            response = client.post("/api/v1/metrics/bulk", json=to_samples(name, specs))
            assert response.status_code == 201
        mark = roll_up_now(database_url)
        assert mark is not None and mark > BASE + timedelta(hours=3)  # all of it rolled up
        assert_cells(client.get(ROUTE, params=params), specs, scale, buckets, start, end, host)
        if late:
            response = client.post("/api/v1/metrics/bulk", json=to_samples(name, late))
            assert response.status_code == 201
        assert_cells(
            client.get(ROUTE, params=params), specs + late, scale, buckets, start, end, host
        )


def run_sql(database_url: str, statement: str, *params: Any) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(statement, params)


@pytest.mark.parametrize("gone", ["raw samples", "rollups"])
def test_bounds_come_from_raw_samples_where_rollups_and_samples_differ(
    uncached_service: ThreadedService, database_url: str, gone: str
) -> None:
    """Raw partitions are dropped before their rollups expire (or, configured so, after):
    where the rollups no longer match the raw samples, the bounds are read from these."""
    name = metric_name()
    specs = [("a", 600, 1.0), ("a", 4200, 7.0)]  # minutes 10 and 70
    params = metric_params(name, "linear", 10, "1m", BASE, BASE + timedelta(hours=2), None)
    headers = {"X-API-Key": uncached_service.admin_token}
    with httpx.Client(base_url=uncached_service.base_url, headers=headers, timeout=10) as client:
        assert client.post("/api/v1/metrics/bulk", json=to_samples(name, specs)).status_code == 201
        assert roll_up_now(database_url) is not None
        series = "(select id from series where name = %s)"
        if gone == "raw samples":  # as when a day partition is dropped
            run_sql(
                database_url,
                f"delete from samples where series_id = {series} and time >= %s",
                name,
                BASE + timedelta(hours=1),
            )
            specs = specs[:1]
        else:  # as when rollups expire
            run_sql(
                database_url,
                f"delete from rollups where series_id = {series} and bucket >= %s",
                name,
                BASE + timedelta(hours=1),
            )
        response = client.get(ROUTE, params=params)
    assert_cells(response, specs, "linear", 10, BASE, BASE + timedelta(hours=2), None)
    assert response.json()["edges"][-1] == specs[-1][2]


async def test_a_log_scale_counts_zero_and_negative_samples_apart(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    name = metric_name()
    samples = [
        {"name": name, "value": value, "time": (BASE + timedelta(seconds=n)).isoformat()}
        for n, value in enumerate([1, 5, 50, 1000, 0, -5])
    ]
    response = await client.post(
        "/api/v1/metrics/bulk", headers={"X-API-Key": admin_token}, json=samples
    )
    assert response.status_code == 201
    params = {
        "kind": "metric",
        "name": name,
        "from": BASE.isoformat(),
        "to": (BASE + timedelta(minutes=1)).isoformat(),
        "interval": "1m",
        "buckets": "3",
    }
    log = (
        await client.get(
            ROUTE, headers={"X-API-Key": admin_token}, params={**params, "scale": "log"}
        )
    ).json()
    assert log["edges"] == pytest.approx([1, 10, 100, 1000])
    assert log["counts"] == [[2, 1, 1]] and log["excluded"] == [2] and log["samples"] == 6
    linear = (await client.get(ROUTE, headers={"X-API-Key": admin_token}, params=params)).json()
    assert linear["edges"] == pytest.approx([-5, 330, 665, 1000])
    assert linear["counts"] == [[5, 0, 1]] and linear["excluded"] == [0]


async def test_a_metric_without_samples_has_no_value_buckets(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    body = (
        await client.get(
            ROUTE,
            headers={"X-API-Key": admin_token},
            params={"kind": "metric", "name": metric_name(), "range": "1h"},
        )
    ).json()
    assert body["edges"] == [] and body["samples"] == 0
    assert len(body["times"]) == len(body["counts"]) <= 100
    assert all(row == [] for row in body["counts"])


# --- hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "kind"),
        ("kind=metrics", "kind"),
        ("kind=events&tz=Mars/Olympus_Mons", "tz"),
        ("kind=events&tz=../../etc/passwd", "tz"),
        ("kind=events&tz=/etc/localtime", "tz"),
        ("kind=events&tz=localtime", "tz"),
        ("kind=events&tz=UTC%2B3", "tz"),
        ("kind=events&tz=" + "A" * 300, "tz"),
        ("kind=events&tz=europe/berlin", "tz"),
        ("kind=events&interval=1h", "interval"),
        ("kind=events&level=fatal", "level"),
        ("kind=events&range=0s", "range"),
        ("kind=metric", "name"),
        ("kind=metric&name=cpu&buckets=0", "buckets"),
        ("kind=metric&name=cpu&buckets=101", "buckets"),
        ("kind=metric&name=cpu&buckets=ten", "buckets"),
        ("kind=metric&name=cpu&scale=ln", "scale"),
        ("kind=metric&name=cpu&max_points=501", "max_points"),
        ("kind=metric&name=cpu&max_points=1", "max_points"),
        ("kind=metric&name=cpu&range=7d&interval=1m", "interval"),
        ("kind=metric&name=cpu&interval=-1m", "interval"),
        ("kind=metric&name=cpu&tz=UTC", "tz"),
        ("kind=metric&name=cpu&label.1x=a", "label.1x"),
        ("kind=metric&name=cpu&source=" + "s" * 201, "source"),
        ("kind=metric&name=cpu&aggregation=avg", "aggregation"),
    ],
)
async def test_hostile_queries_are_400_naming_the_parameter(
    client: httpx.AsyncClient, admin_token: str, query: str, field: str
) -> None:
    response = await client.get(f"{ROUTE}?{query}", headers={"X-API-Key": admin_token})
    assert response.status_code == 400, response.text
    assert field in {error["field"] for error in response.json()["errors"]}, response.json()


async def test_it_needs_a_key(client: httpx.AsyncClient) -> None:
    assert (await client.get(ROUTE, params={"kind": "events"})).status_code == 401
