"""The overview's shaping of API answers: error rate per bucket, change in words, range words."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from monitor.domain.changes import compared
from monitor.domain.events import LEVELS
from monitor.web.ui.overview_view import error_rate_chart, level_chart, span_words, tiles

counts = st.integers(min_value=0, max_value=10**9)


@st.composite
def by_level_answers(draw: st.DrawFn) -> dict[str, Any]:
    """A timeseries answer (kind=events, group_by=level): some levels, equal lengths."""
    buckets = draw(st.integers(min_value=0, max_value=30))
    levels = draw(st.lists(st.sampled_from(LEVELS), unique=True))
    series = []
    for level in levels:
        values = draw(st.lists(counts, min_size=buckets, max_size=buckets))
        series.append({"group": level, "other": False, "total": sum(values), "counts": values})
    return {
        "buckets": [60 * n for n in range(buckets)],
        "interval": "1m",
        "series": series,
    }


@given(by_level_answers())
def test_the_error_rate_is_the_share_of_error_and_critical_per_bucket(
    answer: dict[str, Any],
) -> None:
    rates = error_rate_chart(answer)["series"][0]["values"]
    assert len(rates) == len(answer["buckets"])
    for index, rate in enumerate(rates):
        column = {s["group"]: s["counts"][index] for s in answer["series"]}
        total = sum(column.values())
        bad = column.get("error", 0) + column.get("critical", 0)
        if total == 0:
            assert rate is None
        else:
            assert rate is not None and 0 <= rate <= 100
            assert abs(rate - 100 * bad / total) <= 0.005


@given(by_level_answers())
def test_the_level_chart_has_every_level_in_order(answer: dict[str, Any]) -> None:
    chart = level_chart(answer)
    assert [s["label"] for s in chart["series"]] == list(LEVELS)
    assert all(len(s["values"]) == len(answer["buckets"]) for s in chart["series"])


def _overview(total: tuple[int, int], errors: tuple[int, int]) -> dict[str, Any]:
    zero = compared(0, 0)
    by_level = {level: zero for level in LEVELS}
    by_level["error"] = compared(*errors)
    return {
        "events": {"total": compared(*total), "by_level": by_level},
        "new_error_groups": zero,
        "ingest": {"events_per_second": zero, "samples_per_second": zero},
        "live_series": zero,
        "alerts": {"firing": 0, "by_severity": {}},
    }


@given(counts, counts, counts, counts)
def test_tiles_always_say_their_change_in_words(
    now: int, before: int, errors_now: int, errors_before: int
) -> None:
    shown = {
        tile.label: tile
        for tile in tiles(
            _overview((now, before), (min(errors_now, now), min(errors_before, before)))
        )
    }
    events = shown["Events"]
    assert events.value == f"{now:,}"
    if now == before:
        assert events.change.startswith("no change") and events.trend == "flat"
    elif before == 0:
        assert events.change == "up from none"
    else:
        assert events.change.startswith("up " if now > before else "down ")
        assert events.change.endswith(f"from {before:,}")
    assert shown["Error rate"].value.endswith(" %")


def test_ranges_read_as_people_say_them() -> None:
    assert span_words(timedelta(hours=24)) == "24 h"
    assert span_words(timedelta(days=7)) == "7 days"
    assert span_words(timedelta(minutes=15)) == "15 min"
    assert span_words(timedelta(seconds=90)) == "1m30s"
