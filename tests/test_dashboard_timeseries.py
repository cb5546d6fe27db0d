"""GET /api/v1/dashboard/timeseries: event counts as /events/stats counts them, metric series
as GET /api/v1/metrics answers them, shared answers with ETag/304, and hostile queries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from conftest import ThreadedService
from events_helpers import ingest, tag
from monitor.domain.metrics import AGGREGATIONS
from monitor.web.api.metrics.query import parse_selection

ROUTE = "/api/v1/dashboard/timeseries"
LEVELS = ["debug", "info", "warning", "error", "critical"]
# Whole hours back, so buckets up to 1h are whole inside [BASE, BASE + 3h).
BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)

event_specs = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["deploy", "error", "request", "cron"]),
        "level": st.sampled_from(LEVELS),
        "sub": st.sampled_from(["api", "worker", "db"]),
        "message": st.sampled_from(["Disk FULL", "timeout", "ok"]),
        "second": st.integers(0, 3 * 3600 - 1),
    }
)
event_filters = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["deploy", "error", "deploy,cron"]),
        "level": st.sampled_from(LEVELS),
        "min_level": st.sampled_from(LEVELS),
        "sub": st.sampled_from(["api", "worker"]),
        "q": st.sampled_from(["disk", "TIME", "o"]),
    },
)
frames = st.fixed_dictionaries(
    {
        "interval": st.sampled_from(["10s", "1m", "5m", "15m", "1h"]),
        "from_second": st.integers(0, 3 * 3600 - 1),
        "length": st.integers(1, 3 * 3600),
    }
)


def event_params(query: dict[str, Any], source: str) -> dict[str, Any]:
    params: dict[str, Any] = {k: v for k, v in query.items() if k != "sub"}
    params["source"] = (
        f"{source}-{query['sub']}"
        if "sub" in query
        else f"{source}-api,{source}-worker,{source}-db"
    )
    return params


def frame_params(frame: dict[str, Any]) -> dict[str, str]:
    start = BASE + timedelta(seconds=frame["from_second"])
    return {
        "from": start.isoformat(),
        "to": (start + timedelta(seconds=frame["length"])).isoformat(),
        "interval": frame["interval"],
    }


def get(client: httpx.Client, path: str, params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    specs=st.lists(event_specs, min_size=1, max_size=30),
    query=event_filters,
    frame=frames,
    group_by=st.sampled_from([None, "level", "type", "source"]),
)
def test_event_counts_equal_the_events_stats(
    threaded_service: ThreadedService,
    specs: list[dict[str, Any]],
    query: dict[str, Any],
    frame: dict[str, Any],
    group_by: str | None,
) -> None:
    source = tag()
    events = [
        {
            "type": spec["type"],
            "level": spec["level"],
            "source": f"{source}-{spec['sub']}",
            "message": spec["message"],
            "time": (BASE + timedelta(seconds=spec["second"])).isoformat(),
        }
        for spec in specs
    ]
    params = {**event_params(query, source), **frame_params(frame)}
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as client:
        assert client.post("/api/v1/events/bulk", json=events).status_code == 201
        stats = get(client, "/api/v1/events/stats", params)
        chart = get(
            client,
            ROUTE,
            {"kind": "events", **params, **({"group_by": group_by} if group_by else {})},
        )
    assert chart["interval"] == stats["interval"]
    expected = {
        int(datetime.fromisoformat(point["time"]).timestamp()): point["count"]
        for point in stats["series"]
    }
    assert set(expected) <= set(chart["buckets"])
    assert all(bucket % chart["interval_s"] == 0 for bucket in chart["buckets"])
    per_bucket = [
        sum(s["counts"][n] for s in chart["series"]) for n in range(len(chart["buckets"]))
    ]
    if not group_by:
        assert [s["group"] for s in chart["series"]] == [None]
    assert dict(zip(chart["buckets"], per_bucket, strict=True)) == {
        bucket: expected.get(bucket, 0) for bucket in chart["buckets"]
    }
    totals = {s["group"]: s["total"] for s in chart["series"]}
    assert all(s["total"] == sum(s["counts"]) for s in chart["series"])
    if group_by == "level":
        assert totals == stats["by_level"]
    elif group_by in ("type", "source"):
        assert totals == {item["key"]: item["count"] for item in stats[f"by_{group_by}"]}


async def test_the_ten_largest_groups_then_other(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    source = tag()
    start = BASE
    # Type t<n> gets n + 1 events: t11 the most, then t10, ...; t0 to t1 fold into other.
    events = [
        {"type": f"t{n}", "source": source, "time": (start + timedelta(minutes=n)).isoformat()}
        for n in range(12)
        for _ in range(n + 1)
    ]
    await ingest(client, admin_token, events)
    body = (
        await client.get(
            ROUTE,
            headers={"X-API-Key": admin_token},
            params={
                "kind": "events",
                "source": source,
                "group_by": "type",
                "from": start.isoformat(),
                "to": (start + timedelta(hours=1)).isoformat(),
            },
        )
    ).json()
    assert body["interval"] == "15s"  # the narrowest round width giving at most 300 buckets
    assert len(body["buckets"]) == 240
    assert [s["group"] for s in body["series"]] == [f"t{n}" for n in range(11, 1, -1)] + ["other"]
    other = body["series"][-1]
    assert (other["other"], other["groups"], other["total"]) == (True, 2, 3)
    assert other["counts"][0] == 1 and other["counts"][4] == 2  # t0 at +0, t1 at +1 min
    assert not any(s["other"] for s in body["series"][:-1])


async def test_levels_are_named_and_empty_buckets_are_zero(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    source = tag()
    await ingest(
        client,
        admin_token,
        [
            {"type": "x", "level": "error", "source": source, "time": BASE.isoformat()},
            {
                "type": "x",
                "level": "info",
                "source": source,
                "time": (BASE + timedelta(minutes=2)).isoformat(),
            },
        ],
    )
    body = (
        await client.get(
            ROUTE,
            headers={"X-API-Key": admin_token},
            params={
                "kind": "events",
                "source": source,
                "group_by": "level",
                "from": BASE.isoformat(),
                "to": (BASE + timedelta(minutes=3)).isoformat(),
                "interval": "1m",
            },
        )
    ).json()
    assert body["buckets"] == [int((BASE + timedelta(minutes=n)).timestamp()) for n in range(3)]
    assert {s["group"]: s["counts"] for s in body["series"]} == {
        "error": [1, 0, 0],
        "info": [0, 0, 1],
    }


# --- kind=metric ---------------------------------------------------------------------------

metric_specs = st.lists(
    st.fixed_dictionaries(
        {
            "labels": st.dictionaries(
                st.sampled_from(["host", "region"]), st.sampled_from(["a", "b"]), max_size=2
            ),
            "points": st.lists(
                st.tuples(st.integers(0, 3 * 3600 - 1), st.integers(-50, 50)),
                min_size=1,
                max_size=12,
            ),
        }
    ),
    min_size=1,
    max_size=4,
)
metric_queries = st.fixed_dictionaries(
    {
        "aggregation": st.sampled_from(
            ["avg", "sum", "min", "max", "count", "last", "rate", "p50", "p99"]
        ),
        "group_by": st.sampled_from(["", "host", "host,region"]),
    },
    optional={
        "label.host": st.sampled_from(["a", "b"]),
        "label.region!": st.sampled_from(["a", "b"]),
    },
)


def metric_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


def as_points(series: list[dict[str, Any]]) -> dict[str, dict[int, float]]:
    """GET /api/v1/metrics' series, by labels: bucket → value."""
    return {repr(sorted(s["labels"].items())): dict(map(tuple, s["points"])) for s in series}


def as_values(buckets: list[int], series: list[dict[str, Any]]) -> dict[str, dict[int, float]]:
    """The dashboard's series in the same form: its null buckets left out."""
    return {
        repr(sorted(s["labels"].items())): {
            bucket: value
            for bucket, value in zip(buckets, s["values"], strict=True)
            if value is not None
        }
        for s in series
    }


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    specs=metric_specs,
    queries=st.lists(metric_queries, min_size=1, max_size=3),
    frame=frames,
    on_the_url=st.booleans(),
)
def test_metric_series_equal_the_metrics_query(
    threaded_service: ThreadedService,
    specs: list[dict[str, Any]],
    queries: list[dict[str, Any]],
    frame: dict[str, Any],
    on_the_url: bool,
) -> None:
    name = metric_name()
    kind = "counter" if any(q["aggregation"] == "rate" for q in queries) else "gauge"
    samples = [
        {
            "name": name,
            "type": kind,
            "labels": spec["labels"],
            "value": value,
            "time": (BASE + timedelta(seconds=second)).isoformat(),
        }
        for spec in specs
        for second, value in spec["points"]
    ]
    shared = frame_params(frame)
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as client:
        assert client.post("/api/v1/metrics/bulk", json=samples).status_code == 201
        expected = [
            get(client, "/api/v1/metrics", {"name": name, **query, **shared}) for query in queries
        ]
        if on_the_url:
            charts = [
                get(client, ROUTE, {"kind": "metric", "name": name, **query, **shared})
                for query in queries
            ]
            answers = [chart["queries"][0] for chart in charts]
            chart = charts[0]
        else:
            chart = get(
                client,
                ROUTE,
                [
                    ("kind", "metric"),
                    *shared.items(),
                    *(("query", urlencode({"name": name, **query})) for query in queries),
                ],
            )
            answers = chart["queries"]
    assert chart["interval"] == expected[0]["interval"]
    assert len(answers) == len(queries)
    for answer, metrics in zip(answers, expected, strict=True):
        assert answer["name"] == name
        assert answer["aggregation"] == metrics["aggregation"]
        assert as_values(chart["buckets"], answer["series"]) == as_points(metrics["series"])


async def test_several_queries_share_range_and_interval(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    cpu, memory = metric_name(), metric_name()
    samples = [
        {"name": cpu, "value": 1, "labels": {"host": "a"}, "time": BASE.isoformat()},
        {"name": cpu, "value": 3, "labels": {"host": "b"}, "time": BASE.isoformat()},
        {"name": memory, "value": 7, "time": (BASE + timedelta(minutes=2)).isoformat()},
    ]
    response = await client.post(
        "/api/v1/metrics/bulk", headers={"X-API-Key": admin_token}, json=samples
    )
    assert response.status_code == 201
    body = (
        await client.get(
            ROUTE,
            headers={"X-API-Key": admin_token},
            params=[
                ("kind", "metric"),
                ("from", BASE.isoformat()),
                ("to", (BASE + timedelta(minutes=3)).isoformat()),
                ("interval", "1m"),
                ("query", f"name={cpu}&aggregation=max&group_by=host"),
                ("query", f"name={memory}"),
            ],
        )
    ).json()
    assert body["kind"] == "metric" and body["interval"] == "1m"
    first, second = body["queries"]
    assert first["query"] == f"name={cpu}&aggregation=max&group_by=host"
    assert first["group_by"] == ["host"]
    assert [(s["labels"], s["values"]) for s in first["series"]] == [
        ({"host": "a"}, [1.0, None, None]),
        ({"host": "b"}, [3.0, None, None]),
    ]
    assert second["aggregation"] == "avg"
    assert second["series"] == [{"labels": {}, "values": [None, None, 7.0]}]


# --- shared answers -------------------------------------------------------------------------


async def test_a_relative_range_is_one_shared_answer_revalidated_by_etag(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    headers = {"X-API-Key": admin_token}
    params = {"kind": "events", "range": "1h", "interval": "1h", "source": tag()}
    first = await client.get(ROUTE, headers=headers, params=params)
    assert first.status_code == 200
    body = first.json()
    assert body["interval"] == "1h" and len(body["buckets"]) == 1
    # The window ends where the current hour began: whole buckets only.
    assert body["buckets"][0] % 3600 == 0
    assert datetime.fromisoformat(body["to"]) <= datetime.now(UTC)
    max_age = int(first.headers["Cache-Control"].split("max-age=")[1])
    assert 0 <= max_age <= 3600
    # Another spelling of the same question: the same answer, and a 304 for its tag.
    respelled = {**params, "range": "60m", "interval": "3600"}
    again = await client.get(
        ROUTE, headers={**headers, "If-None-Match": first.headers["ETag"]}, params=respelled
    )
    assert again.status_code == 304
    assert again.headers["ETag"] == first.headers["ETag"]


async def test_without_interval_the_buckets_stay_within_max_points(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    headers = {"X-API-Key": admin_token}
    for range_, max_points, interval in [
        ("1h", None, "15s"),
        ("24h", None, "5m"),
        ("7d", None, "1h"),
        ("7d", "2000", "10m"),
        ("24h", "2", "12h"),
        ("400d", "10", "40d"),
    ]:
        params = {"kind": "events", "range": range_, "source": tag()}
        if max_points:
            params["max_points"] = max_points
        body = (await client.get(ROUTE, headers=headers, params=params)).json()
        assert body["interval"] == interval, (range_, max_points, body)
        assert len(body["buckets"]) <= int(max_points or 300)


# --- hostile input --------------------------------------------------------------------------

CPU = "name%3Dcpu"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "kind"),
        ("kind=logs", "kind"),
        ("kind=EVENTS", "kind"),
        ("kind=events&group_by=host", "group_by"),
        ("kind=events&level=fatal", "level"),
        ("kind=events&range=forever", "range"),
        ("kind=events&range=1h&from=2026-01-01T00:00:00Z", "range"),
        ("kind=events&max_points=1", "max_points"),
        ("kind=events&max_points=2001", "max_points"),
        ("kind=events&max_points=-5", "max_points"),
        ("kind=events&max_points=1e3", "max_points"),
        ("kind=events&range=7d&interval=1s", "interval"),
        ("kind=events&range=1h&interval=1m&max_points=10", "interval"),
        ("kind=events&interval=0", "interval"),
        ("kind=events&interval=1.5s", "interval"),
        ("kind=events&interval=401d", "interval"),
        ("kind=events&interval=36500d", "interval"),
        ("kind=events&query=" + CPU, "query"),
        ("kind=events&tz=UTC", "tz"),
        ("kind=metric", "name"),
        ("kind=metric&name=cpu&aggregation=p42", "aggregation"),
        ("kind=metric&name=cpu&q=disk", "q"),
        ("kind=metric&name=cpu&label.b%20d=x", "label.b d"),
        ("kind=metric&" + "&".join(["query=" + CPU] * 11), "query"),
        # Not URL-encoded: its `&` ends the query early, the rest lands beside it.
        ("kind=metric&query=name=cpu&aggregation=avg", "aggregation"),
        ("kind=metric&query=name=cpu&label.host=a", "label.host"),
        ("kind=metric&query=" + CPU + "&name=mem", "name"),
        ("kind=metric&query=", "query[0]"),
        ("kind=metric&query=%26%26", "query[0]"),
        ("kind=metric&query=" + "%26" * 300, "query[0]"),
        ("kind=metric&query=" + CPU + "%26" * 300 + "aggregation%3Dp42", "query[0].aggregation"),
        ("kind=events&range=1h&interval=2h", "interval"),
        (
            "kind=metric&query=" + CPU + "&query=query%3D" + CPU.replace("%", "%25"),
            "query[1].query",
        ),
        ("kind=metric&query=" + CPU + "%26foo%3D1", "query[0].foo"),
        ("kind=metric&query=" + CPU + "%26from%3D2026-01-01T00%3A00%3A00Z", "query[0].from"),
        ("kind=metric&query=" + CPU + "%26interval%3D1m", "query[0].interval"),
        ("kind=metric&query=" + CPU + "%26range%3D1h", "query[0].range"),
        ("kind=metric&query=" + CPU + "%26aggregation%3Dp42", "query[0].aggregation"),
        ("kind=metric&query=name%3Dcpu%26label.host%3D%2500", "query[0].label.host"),
        ("kind=metric&query=name%3D%25FF", "query[0].name"),
        ("kind=metric&query=name%3D1cpu", "query[0].name"),
        ("kind=metric&query=" + "a" * 1001, "query"),  # too long for any value
    ],
)
async def test_hostile_queries_are_400_naming_the_parameter(
    client: httpx.AsyncClient, admin_token: str, query: str, field: str
) -> None:
    response = await client.get(f"{ROUTE}?{query}", headers={"X-API-Key": admin_token})
    assert response.status_code == 400, response.text
    assert field in {error["field"] for error in response.json()["errors"]}, response.json()


async def test_a_query_with_too_many_parameters_is_400(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    inner = "%26".join(["x"] * 250)  # 499 characters once decoded: within the value limit
    response = await client.get(
        f"{ROUTE}?kind=metric&query=name%3Dcpu%26{inner}", headers={"X-API-Key": admin_token}
    )
    assert response.status_code == 400
    assert {"query[0].(query)", "query[0].x"} <= {e["field"] for e in response.json()["errors"]}


async def test_it_needs_a_key(client: httpx.AsyncClient) -> None:
    assert (await client.get(ROUTE, params={"kind": "events"})).status_code == 401


# --- the metrics query parser, on its own ---------------------------------------------------

label_names = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)
label_values = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)
selections = st.fixed_dictionaries(
    {
        "name": st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True),
        "aggregation": st.sampled_from(AGGREGATIONS),
        "group_by": st.lists(label_names, max_size=3),
        "matchers": st.lists(st.tuples(label_names, label_values, st.booleans()), max_size=4),
    }
)


@given(selections)
def test_a_canonical_query_reads_back_as_the_same_selection(spec: dict[str, Any]) -> None:
    pairs = [("name", spec["name"]), ("aggregation", spec["aggregation"])]
    if spec["group_by"]:
        pairs.append(("group_by", ",".join(spec["group_by"])))
    pairs += [(f"label.{k}{'' if eq else '!'}", v) for k, v, eq in spec["matchers"]]
    errors: list[dict[str, Any]] = []
    selection = parse_selection(MultiDict(pairs), errors)
    assert errors == []
    again: list[dict[str, Any]] = []
    reread = parse_selection(
        MultiDict(parse_qsl(selection.canonical(), keep_blank_values=True)), again
    )
    assert (reread, again) == (selection, [])


@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=8))
def test_any_parameters_give_a_selection_or_named_errors(pairs: list[tuple[str, str]]) -> None:
    errors: list[dict[str, Any]] = []
    parse_selection(MultiDict(pairs), errors, field=lambda name: f"query[0].{name}")
    assert all(error["field"].startswith("query[0].") for error in errors)
