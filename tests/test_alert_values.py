"""The values metric alert rules compare, against a model in plain Python."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ThreadedService, make_settings, threaded
from monitor.domain.events import EventFilter
from monitor.domain.metrics import LabelMatcher, aggregate, increase
from monitor.storage.alert_values import (
    EventCountQuery,
    GroupValues,
    SelectorQuery,
    WindowAggregate,
    read_event_counts,
    read_selector,
)

BASE = (datetime.now(UTC) - timedelta(minutes=40)).replace(second=0, microsecond=0)

series_specs = st.lists(
    st.fixed_dictionaries(
        {
            "labels": st.dictionaries(
                st.sampled_from(["host", "region"]), st.sampled_from(["a", "b"]), max_size=2
            ),
            "points": st.lists(
                st.tuples(
                    # Multiples of 30 s often fall on a window's first instant.
                    st.one_of(st.integers(0, 1800), st.integers(0, 60).map(lambda k: 30 * k)),
                    st.floats(0, 1000, allow_nan=False, allow_subnormal=False),
                ),
                min_size=1,
                max_size=15,
            ),
        }
    ),
    min_size=1,
    max_size=5,
)
asks = st.lists(
    st.builds(
        WindowAggregate,
        st.sampled_from(["avg", "sum", "min", "max", "count", "last", "rate", "p50", "p95", "p99"]),
        st.sampled_from([timedelta(seconds=s) for s in (30, 60, 300, 900, 1800)]),
    ),
    min_size=1,
    max_size=4,
)
shapes = st.fixed_dictionaries(
    {
        "asks": asks,
        "end": st.sampled_from([0, 30, 600, 1201, 1800, 1801, 2400]),
        "group_by": st.sampled_from([(), ("host",), ("host", "region")]),
        "matchers": st.lists(
            st.builds(
                LabelMatcher,
                st.sampled_from(["host", "region"]),
                st.sampled_from(["a", "b"]),
                st.booleans(),
            ),
            max_size=2,
        ),
    }
)


def model(specs: list[dict[str, Any]], shape: dict[str, Any]) -> dict[str, list[float | None]]:
    """Each group's value per ask, as `selector_values` promises."""
    end = (BASE + timedelta(seconds=shape["end"])).timestamp()
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = defaultdict(list)
    for spec in specs:
        series[tuple(sorted(spec["labels"].items()))].extend(
            ((BASE + timedelta(seconds=offset)).timestamp(), value)
            for offset, value in spec["points"]
        )
    longest = max(ask.window.total_seconds() for ask in shape["asks"])
    groups: dict[str, list[list[tuple[float, float]]]] = defaultdict(list)
    for labels_items, points in series.items():
        labels = dict(labels_items)
        if not all(matcher.matches(labels) for matcher in shape["matchers"]):
            continue
        inside = [point for point in points if end - longest <= point[0] < end]
        if inside:
            key = repr(sorted((k, labels[k]) for k in shape["group_by"] if k in labels))
            groups[key].append(inside)
    answers: dict[str, list[float | None]] = {}
    for key, per_series in groups.items():
        values: list[float | None] = []
        for ask in shape["asks"]:
            width = ask.window.total_seconds()
            windowed = [[p for p in points if p[0] >= end - width] for points in per_series]
            flat = [point for points in windowed for point in points]
            if not flat:
                values.append(None)
            elif ask.aggregation == "rate":
                values.append(sum(increase(points) for points in windowed) / width)
            else:
                values.append(aggregate(ask.aggregation, flat, width))
        answers[key] = values
    return answers


def _keyed(found: list[GroupValues]) -> dict[str, list[float | None]]:
    return {repr(sorted(group.labels.items())): list(group.values) for group in found}


def _same(got: float | None, expected: float | None) -> bool:
    if got is None or expected is None:
        return got is expected
    return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6)


@pytest.fixture(scope="module")
def threaded_service(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedService]:
    with threaded(make_settings(database_url, tmp_path_factory.mktemp("alert_values"))) as running:
        yield running


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=series_specs, shape=shapes)
def test_every_window_of_a_selector_agrees_with_the_model(
    threaded_service: ThreadedService,
    database_url: str,
    specs: list[dict[str, Any]],
    shape: dict[str, Any],
) -> None:
    name = f"alert_{uuid.uuid4().hex[:12]}"
    kind = "counter" if any(ask.aggregation == "rate" for ask in shape["asks"]) else "gauge"
    samples = [
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
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as client:
        assert client.post("/api/v1/metrics/bulk", json=samples).status_code == 201
    query = SelectorQuery(
        name=name,
        matchers=tuple(shape["matchers"]),
        group_by=shape["group_by"],
        asks=tuple(shape["asks"]),
        end=BASE + timedelta(seconds=shape["end"]),
    )
    with psycopg.connect(database_url) as connection:
        got = _keyed(read_selector(connection, query))
    expected = model(specs, shape)
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert all(_same(g, e) for g, e in zip(got[key], values, strict=True)), (
            key,
            got[key],
            values,
        )


LEVELS = ("debug", "info", "warning", "error", "critical")
event_specs = st.lists(
    st.fixed_dictionaries(
        {
            "source": st.sampled_from(["a", "b"]),
            "type": st.sampled_from(["http", "job"]),
            "level": st.integers(0, 4),
            "offset": st.integers(0, 1800),
            # ≥ 0: the event lies on that window's first instant instead (end - window).
            "on_edge": st.integers(-2, 3),
        }
    ),
    min_size=1,
    max_size=25,
)
event_shapes = st.fixed_dictionaries(
    {
        "windows": st.lists(
            st.sampled_from([timedelta(seconds=s) for s in (30, 60, 300, 900, 1800)]),
            min_size=1,
            max_size=3,
        ),
        "end": st.sampled_from([0, 30, 600, 1201, 1800, 1801, 2400]),
        "group_by": st.sampled_from([(), ("source",), ("type",), ("source", "type")]),
        "types": st.sampled_from([(), ("http",), ("http", "job")]),
        "min_level": st.one_of(st.none(), st.integers(0, 4)),
    }
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=event_specs, shape=event_shapes)
def test_event_counts_per_window_agree_with_the_model(
    threaded_service: ThreadedService,
    database_url: str,
    specs: list[dict[str, Any]],
    shape: dict[str, Any],
) -> None:
    tag = uuid.uuid4().hex[:10]
    end = BASE + timedelta(seconds=shape["end"])
    windows = shape["windows"]

    def moment(spec: dict[str, Any]) -> datetime:
        if spec["on_edge"] >= 0:
            return end - windows[spec["on_edge"] % len(windows)]
        return BASE + timedelta(seconds=spec["offset"])

    events = [
        {
            "type": spec["type"],
            "level": LEVELS[spec["level"]],
            "source": f"{tag}-{spec['source']}",
            "message": "counted",
            "time": moment(spec).isoformat(),
        }
        for spec in specs
    ]
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as client:
        assert client.post("/api/v1/events/bulk", json=events).status_code == 201
    query = EventCountQuery(
        EventFilter(
            types=shape["types"],
            min_level=shape["min_level"],
            sources=(f"{tag}-a", f"{tag}-b"),
            time_from=BASE - timedelta(days=3),  # replaced by the windows
        ),
        group_by=shape["group_by"],
        windows=tuple(shape["windows"]),
        end=end,
    )
    with psycopg.connect(database_url) as connection:
        got = _keyed(read_event_counts(connection, query))
    expected: dict[str, list[float]] = {}
    for posted in events:
        time = datetime.fromisoformat(posted["time"])
        if shape["types"] and posted["type"] not in shape["types"]:
            continue
        if shape["min_level"] is not None and LEVELS.index(posted["level"]) < shape["min_level"]:
            continue
        inside = [float(end - window <= time < end) for window in shape["windows"]]
        if not any(inside):
            continue
        key = repr(sorted((name, posted[name]) for name in shape["group_by"]))
        counts = expected.setdefault(key, [0.0] * len(inside))
        expected[key] = [count + one for count, one in zip(counts, inside, strict=True)]
    assert got == expected


def test_a_window_holds_its_first_instant_and_not_its_end(
    threaded_service: ThreadedService, database_url: str
) -> None:
    tag = uuid.uuid4().hex[:10]
    end = BASE + timedelta(minutes=10)
    at = {"first": end - timedelta(minutes=5), "inside": end - timedelta(seconds=1), "end": end}
    events = [
        {"type": "job", "level": "error", "source": tag, "message": name, "time": t.isoformat()}
        for name, t in at.items()
    ]
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as client:
        assert client.post("/api/v1/events/bulk", json=events).status_code == 201
    query = EventCountQuery(
        EventFilter(sources=(tag,)),
        group_by=(),
        windows=(timedelta(minutes=5), timedelta(seconds=10), timedelta(minutes=6)),
        end=end,
    )
    with psycopg.connect(database_url) as connection:
        assert read_event_counts(connection, query) == [GroupValues({}, (2.0, 1.0, 2.0))]


def test_last_only_selectors_take_the_groups_latest_sample_inside_each_window(
    threaded_service: ThreadedService, database_url: str
) -> None:
    # A selector whose asks are all `last` reads each series' latest sample only.
    name = f"latest_{uuid.uuid4().hex[:10]}"
    end = BASE + timedelta(minutes=20)
    points = [
        ("a", "one", end - timedelta(minutes=4), 1.0),
        ("a", "two", end - timedelta(minutes=3), 2.0),  # a's latest, in another series
        ("a", "one", end, 9.0),  # at the end: outside every window
        ("b", "one", end - timedelta(minutes=2), 5.0),
        ("b", "one", end - timedelta(minutes=2), 6.0),  # the same time: the larger wins,
        ("b", "two", end - timedelta(minutes=2), 4.0),  # within a series and across them
        ("c", "one", end - timedelta(minutes=8), 3.0),  # only in the longest window
    ]
    samples = [
        {
            "name": name,
            "labels": {"host": host, "disk": disk},
            "value": value,
            "time": t.isoformat(),
        }
        for host, disk, t, value in points
    ]
    headers = {"X-API-Key": threaded_service.admin_token}
    with httpx.Client(base_url=threaded_service.base_url, headers=headers, timeout=10) as client:
        assert client.post("/api/v1/metrics/bulk", json=samples).status_code == 201
    windows = (timedelta(minutes=1), timedelta(minutes=3), timedelta(minutes=10))
    query = SelectorQuery(
        name, (), ("host",), tuple(WindowAggregate("last", w) for w in windows), end
    )
    with psycopg.connect(database_url) as connection:
        got = _keyed(read_selector(connection, query))
    assert got == {
        repr([("host", "a")]): [None, 2.0, 2.0],
        repr([("host", "b")]): [None, 6.0, 6.0],
        repr([("host", "c")]): [None, None, 3.0],
    }
