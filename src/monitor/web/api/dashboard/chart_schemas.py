"""OpenAPI's view of the chart routes (timeseries, heatmap): query strings and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Level = Literal["debug", "info", "warning", "error", "critical"]


class _RangeDoc(BaseModel):
    kind: Literal["events", "metric"] = Field(description="What to chart.")
    range: str | None = Field(
        None, description="A duration back from now, such as 15m, 1h, 24h or 7d (default 24h)."
    )
    from_: datetime | None = Field(None, alias="from", description="RFC 3339; with `to`.")
    to: datetime | None = Field(None, description="RFC 3339, exclusive; with `from`.")


class _EventFiltersDoc(_RangeDoc):
    type: str | None = Field(None, description="kind=events: exact type; repeat or comma-separate.")
    level: Level | None = Field(
        None, description="kind=events: exact level; repeat or comma-separate."
    )
    min_level: Level | None = Field(None, description="kind=events: this level or more severe.")
    source: str | None = Field(
        None,
        description="kind=events: exact source (repeat or comma-separate); kind=metric "
        "(heatmap): the series' source.",
    )
    q: str | None = Field(
        None, description="kind=events: case-insensitive substring of the message."
    )


class _FrameDoc(BaseModel):
    interval: str | None = Field(
        None,
        description="Bucket width, a duration such as 1m or 1h; default chosen for "
        "at most `max_points` buckets.",
    )
    max_points: int | None = Field(None, ge=2, description="At most this many buckets.")


class TimeseriesQueryDoc(_EventFiltersDoc, _FrameDoc):
    """The query string of GET /api/v1/dashboard/timeseries (also `attr.<key>=v` for events,
    `label.<k>=v` and `label.<k>!=v` for a metric query on the URL)."""

    max_points: int | None = Field(None, ge=2, le=2000, description="Default 300.")
    group_by: str | None = Field(
        None, description="kind=events: level, type or source. kind=metric: label names."
    )
    query: list[str] | None = Field(
        None,
        description="kind=metric: a metrics query (the parameters of GET /api/v1/metrics "
        "but from/to/interval), URL-encoded; repeat for several (at most 10).",
    )
    name: str | None = Field(None, description="kind=metric without `query`: the metric.")
    aggregation: str | None = Field(None, description="kind=metric without `query`.")


class HeatmapQueryDoc(_EventFiltersDoc, _FrameDoc):
    """The query string of GET /api/v1/dashboard/heatmap (also `attr.<key>=v` for events,
    `label.<k>=v` and `label.<k>!=v` for a metric)."""

    max_points: int | None = Field(
        None, ge=2, le=500, description="kind=metric: time buckets (default 100)."
    )
    tz: str | None = Field(None, description="kind=events: an IANA time zone (default UTC).")
    name: str | None = Field(None, description="kind=metric: the metric.")
    buckets: int | None = Field(
        None, ge=1, le=100, description="kind=metric: value buckets (default 20)."
    )
    scale: Literal["linear", "log"] | None = Field(
        None, description="kind=metric: how value buckets are cut (default linear)."
    )


class EventSeriesOut(BaseModel):
    group: str | None = Field(description="The level, type or source; null when not grouped.")
    other: bool = Field(description="True for the sum of the groups beyond the 10 largest.")
    groups: int | None = Field(None, description="With `other`: how many groups it sums.")
    total: int
    counts: list[int] = Field(description="One count per bucket.")


class MetricSeriesOut(BaseModel):
    labels: dict[str, str]
    values: list[float | None] = Field(description="One value per bucket; null when empty.")


class MetricQueryOut(BaseModel):
    query: str = Field(description="The query, in canonical form.")
    name: str
    aggregation: str
    group_by: list[str]
    series: list[MetricSeriesOut]


class TimeseriesOut(BaseModel):
    kind: Literal["events", "metric"]
    interval: str
    interval_s: int
    from_: datetime = Field(alias="from")
    to: datetime
    buckets: list[int] = Field(description="Each bucket's start, Unix seconds.")
    group_by: str | None = Field(None, description="kind=events.")
    series: list[EventSeriesOut] | None = Field(None, description="kind=events.")
    queries: list[MetricQueryOut] | None = Field(None, description="kind=metric, in query order.")


class HeatmapOut(BaseModel):
    kind: Literal["events", "metric"]
    from_: datetime = Field(alias="from")
    to: datetime
    counts: list[list[int]] = Field(
        description="events: [weekday][hour]; metric: [time bucket][value bucket]."
    )
    tz: str | None = Field(None, description="kind=events.")
    weekdays: list[str] | None = Field(None, description="kind=events: Monday first.")
    hours: list[int] | None = Field(None, description="kind=events: 0 to 23.")
    total: int | None = Field(None, description="kind=events.")
    name: str | None = Field(None, description="kind=metric.")
    scale: Literal["linear", "log"] | None = None
    interval: str | None = None
    interval_s: int | None = None
    times: list[int] | None = Field(None, description="kind=metric: time buckets, Unix seconds.")
    edges: list[float] | None = Field(
        None, description="kind=metric: value bucket edges; [] when the range has no sample."
    )
    excluded: list[int] | None = Field(
        None, description="kind=metric, log scale: zero and negative samples per time bucket."
    )
    samples: int | None = Field(None, description="kind=metric: samples in the range.")
