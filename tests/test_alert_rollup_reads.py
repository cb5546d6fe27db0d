"""Alert reads from rollups equal the same reads from raw samples, in the real database.

`read_selector` answers avg, sum, min, max, count and last from 1-minute
rollups for the whole minutes of a window that the rollup watermark has
passed, and from raw samples elsewhere (storage/alert_values.py). Here the
same query is read twice: with a watermark (rollups where they fit) and
without one (raw samples only). Samples land on and around minute edges,
windows need not be whole minutes, and minutes at or past the watermark hold
samples their rollup does not (as after the rollup job's last run).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.domain.metrics import LabelMatcher
from monitor.domain.partitions import partitions_spanning
from monitor.storage import partitions as partition_store
from monitor.storage import rollups
from monitor.storage.alert_values import (
    ROLLUP_HORIZON,
    ROLLUP_MIN_SPAN,
    SelectorQuery,
    WindowAggregate,
    _layout,
    read_selector,
)
from monitor.storage.gateway import open_gateway

# This module's own clock: fixed instants, far from any other test's data.
BASE = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
SPAN_S = 3 * 3600

AGGREGATIONS = ["avg", "sum", "min", "max", "count", "last", "rate", "p50", "p99"]
# Sums: of the same samples (or, for rate, the same increases), but added in another
# order (minute by minute, or as the rows reach the aggregate): equal up to rounding.
SUMMED = {"avg", "sum", "rate"}

instants = st.one_of(
    st.integers(0, SPAN_S // 60).map(lambda minute: minute * 60.0),  # on a minute's edge
    st.integers(1, SPAN_S // 60).map(lambda minute: minute * 60.0 - 1e-6),  # just before
    st.floats(0, SPAN_S, allow_nan=False).map(lambda s: round(s, 6)),
)
series_specs = st.lists(
    st.fixed_dictionaries(
        {
            "labels": st.dictionaries(
                st.sampled_from(["host", "region"]), st.sampled_from(["a", "b"]), max_size=2
            ),
            "points": st.lists(
                st.tuples(instants, st.floats(-1000, 1000, allow_nan=False)),
                min_size=1,
                max_size=40,
            ),
        }
    ),
    min_size=1,
    max_size=4,
)
windows = st.one_of(
    st.sampled_from([10, 45, 60, 90, 120, 300, 599.5, 900, 3600]),
    st.integers(1, 120).map(lambda minutes: minutes * 60),
).map(lambda seconds: timedelta(seconds=seconds))
shapes = st.fixed_dictionaries(
    {
        "asks": st.lists(
            st.builds(WindowAggregate, st.sampled_from(AGGREGATIONS), windows),
            min_size=1,
            max_size=6,
        ),
        "end": instants,
        # The rollup watermark relative to the end: behind it (a lagging rollup job) or past it.
        "mark": st.one_of(st.integers(-900, 180).map(float), st.floats(-900, 180, allow_nan=False)),
        "late": st.lists(
            st.tuples(st.floats(0, 600, allow_nan=False), st.floats(-5, 5)), max_size=8
        ),
        "group_by": st.sampled_from([(), ("host",), ("host", "region")]),
        "matchers": st.lists(
            st.builds(
                LabelMatcher,
                st.sampled_from(["host", "region"]),
                st.sampled_from(["a", "b"]),
                st.booleans(),
            ),
            max_size=1,
        ),
    }
)


@pytest.fixture(scope="module")
def rollup_database(database_url: str) -> Iterator[str]:
    async def partitions() -> None:
        async with open_gateway(
            database_url, pool_size=1, statement_timeout=30, acquire_timeout=10, connect_timeout=10
        ) as gateway:
            await partition_store.create_partitions(
                gateway,
                "samples",
                partitions_spanning(BASE - timedelta(hours=2), BASE + timedelta(hours=5)),
            )

    trio.run(partitions)
    yield database_url


def _at(seconds: float) -> datetime:
    return BASE + timedelta(seconds=seconds)


def _store(
    connection: psycopg.Connection[Any],
    name: str,
    specs: list[dict[str, Any]],
    late: list[tuple[datetime, float]],
) -> None:
    """Samples as ingest commits them (rollups refreshed in the same transaction), then
    `late` samples into the first series that no rollup has seen yet."""
    connection.execute("insert into metrics (name, type) values (%s, 'gauge')", (name,))
    rolled: list[tuple[int, str, datetime]] = []
    first_id = None
    for spec in specs:
        row = connection.execute(
            "insert into series (name, labels) values (%s, %s) "
            "on conflict (name, source, labels) where deleted_at is null "
            "do update set name = excluded.name returning id",
            (name, psycopg.types.json.Jsonb(spec["labels"])),
        ).fetchone()
        assert row is not None
        series_id = int(row[0])
        first_id = series_id if first_id is None else first_id
        points = [(series_id, _at(offset), value) for offset, value in spec["points"]]
        with connection.cursor().copy("copy samples (series_id, time, value) from stdin") as copy:
            for point in points:
                copy.write_row(point)
        rolled.extend((series_id, name, time) for _, time, _ in points)
    rollups.lock_shared(connection)
    rollups.refresh_late(connection, rolled)
    assert first_id is not None
    with connection.cursor().copy("copy samples (series_id, time, value) from stdin") as copy:
        for time, value in late:
            copy.write_row((first_id, time, value))
    connection.commit()


def _same(aggregation: str, rolled: float | None, raw: float | None) -> bool:
    if rolled is None or raw is None:
        return rolled is raw
    if aggregation in SUMMED:
        # Two orders of adding at most 168 terms of at most 2,000 each (values within
        # ±1,000; increases at most 2,000) differ by at most 2 * 168 * eps * 168 * 2,000.
        return math.isclose(rolled, raw, rel_tol=1e-12, abs_tol=5e-8)
    return rolled == raw


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=series_specs, shape=shapes)
def test_a_read_from_rollups_equals_the_read_from_raw_samples(
    rollup_database: str, specs: list[dict[str, Any]], shape: dict[str, Any]
) -> None:
    name = f"rolled_{uuid.uuid4().hex[:12]}"
    end = _at(shape["end"])
    mark = end + timedelta(seconds=shape["mark"])
    # Samples the rollup job has not reached: in minutes at or past the watermark.
    unrolled = rollups.floor_to(mark, rollups.MINUTE)
    late = [(unrolled + timedelta(seconds=offset), value) for offset, value in shape["late"]]
    query = SelectorQuery(
        name=name,
        matchers=tuple(shape["matchers"]),
        group_by=shape["group_by"],
        asks=tuple(shape["asks"]),
        end=end,
    )
    with psycopg.connect(rollup_database) as connection:
        _store(connection, name, specs, late)
        from_rollups = read_selector(connection, query, {rollups.MINUTE: mark})
        from_raw = read_selector(connection, query, {})
    assert [group.labels for group in from_rollups] == [group.labels for group in from_raw]
    for rolled, raw in zip(from_rollups, from_raw, strict=True):
        for ask, a, b in zip(query.asks, rolled.values, raw.values, strict=True):
            assert _same(ask.aggregation, a, b), (ask, rolled.labels, a, b)


def _query(end: datetime, *asks: WindowAggregate) -> SelectorQuery:
    return SelectorQuery("m", (), (), asks, end)


def test_whole_minutes_before_the_watermark_come_from_rollups() -> None:
    end = datetime(2026, 3, 9, 10, 30, 29, tzinfo=UTC)
    layout = _layout(
        _query(end, WindowAggregate("avg", timedelta(minutes=45))),
        minute_mark=datetime(2026, 3, 9, 10, 29, 40, tzinfo=UTC),
    )
    # [9:45:29, 9:46) raw, 9:46 to 10:29 rolled, [10:29, 10:30:29) raw: the watermark
    # has not passed the minute 10:29, whose rollup may still be incomplete.
    assert layout.cuts[0].cut == datetime(2026, 3, 9, 9, 46, tzinfo=UTC)
    assert layout.rolled_to == datetime(2026, 3, 9, 10, 29, tzinfo=UTC)
    assert layout.raw_ranges == (
        (end - timedelta(minutes=45), datetime(2026, 3, 9, 9, 46, tzinfo=UTC)),
        (datetime(2026, 3, 9, 10, 29, tzinfo=UTC), end),
    )


def test_short_spans_of_whole_minutes_are_read_raw() -> None:
    end = datetime(2026, 3, 9, 10, 30, 29, tzinfo=UTC)
    short = WindowAggregate("avg", ROLLUP_MIN_SPAN)  # 19 whole minutes in it
    layout = _layout(_query(end, short), minute_mark=end)
    assert layout.cuts[0].cut == layout.rolled_to
    assert layout.raw_ranges == ((end - ROLLUP_MIN_SPAN, end),)


def test_percentiles_rates_and_a_missing_watermark_read_raw_samples() -> None:
    end = datetime(2026, 3, 9, 10, 30, 29, tzinfo=UTC)
    window = timedelta(minutes=45)
    asks = (WindowAggregate("p95", window), WindowAggregate("rate", window))
    layout = _layout(_query(end, *asks), minute_mark=end)
    assert all(cut.cut == layout.rolled_to for cut in layout.cuts)
    assert layout.raw_ranges == ((end - window, end),)
    unmarked = _layout(_query(end, WindowAggregate("max", window)), minute_mark=None)
    assert unmarked.cuts[0].cut == unmarked.rolled_to
    assert unmarked.raw_ranges == ((end - window, end),)


def test_rollups_older_than_the_horizon_are_not_read() -> None:
    end = datetime(2026, 3, 9, 10, 30, 29, tzinfo=UTC)
    layout = _layout(_query(end, WindowAggregate("sum", timedelta(days=1))), minute_mark=end)
    assert layout.cuts[0].cut == rollups.ceil_to(end - ROLLUP_HORIZON, rollups.MINUTE)
    assert layout.raw_ranges[0] == (end - timedelta(days=1), layout.cuts[0].cut)
