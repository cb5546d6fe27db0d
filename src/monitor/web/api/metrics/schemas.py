"""Shapes of metric requests (msgspec, for decoding) and their OpenAPI documentation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from monitor.domain.metrics import NAME_PATTERN

MetricType = Literal["gauge", "counter", "histogram"]


class SampleIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NAME_PATTERN)]
    value: float
    type: MetricType | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    source: Annotated[str, msgspec.Meta(max_length=200)] = ""
    unit: Annotated[str, msgspec.Meta(min_length=1, max_length=50)] | None = None
    time: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


class SampleWire(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """SampleIn as a bulk body is first decoded: checks left to build_batch.

    `labels` stays raw JSON and `time` text, and names are not matched here:
    build_batch checks each distinct series, time and name once instead of
    once per sample. `gc=False`: its fields are strings and numbers (no cycle
    is possible), and thousands of tracked objects per request would make the
    garbage collector run often.
    """

    name: str
    value: float
    type: MetricType | None = None
    labels: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"{}"))
    source: str = ""
    unit: str | None = None
    time: str | None = None


class SamplesEnvelope(msgspec.Struct, forbid_unknown_fields=True):
    samples: list[SampleWire]


BulkSamplesIn = list[SampleWire] | SamplesEnvelope


class IncrementIn(msgspec.Struct, forbid_unknown_fields=True):
    by: float = 1.0
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    source: Annotated[str, msgspec.Meta(max_length=200)] = ""


class SampleInDoc(BaseModel):
    """OpenAPI's view of SampleIn (kept in step by a test)."""

    model_config = ConfigDict(extra="forbid", title="SampleIn")

    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    value: float = Field(description="A finite number.")
    type: MetricType | None = Field(
        None, description="The metric's type; default its recorded type, or gauge if new."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="At most 20 labels.")
    source: str = Field("", max_length=200)
    unit: str | None = Field(None, min_length=1, max_length=50)
    time: AwareDatetime | None = Field(None, description="RFC 3339; default now.")


class SamplesEnvelopeDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", title="SamplesEnvelope")

    samples: list[SampleInDoc]


class IncrementInDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", title="IncrementIn")

    by: float = 1.0
    labels: dict[str, str] = Field(default_factory=dict)
    source: str = Field("", max_length=200)


class Accepted(BaseModel):
    accepted: int


class Incremented(BaseModel):
    name: str
    labels: dict[str, str]
    source: str
    value: float
    time: datetime


class GroupSeries(BaseModel):
    labels: dict[str, str]
    points: list[tuple[int, float]] = Field(description="[unix seconds, value] per bucket.")


class SeriesResult(BaseModel):
    name: str
    aggregation: str
    interval: str = Field(description="The bucket width as a duration, like 1m or 1h30m.")
    interval_s: int
    from_: datetime = Field(alias="from")
    to: datetime
    series: list[GroupSeries]


class MetricQueryDoc(BaseModel):
    """The query string of GET /api/v1/metrics (label.<k>=v and label.<k>!=v also work)."""

    name: str = Field(pattern=NAME_PATTERN)
    from_: datetime | None = Field(None, alias="from", description="Default: `to` minus 1 h.")
    to: datetime | None = Field(None, description="Default: now.")
    interval: str | None = Field(
        None,
        description="Bucket width: a duration like 10s, 1m or 1h30m, or a plain number of seconds; "
        "default chosen.",
    )
    aggregation: Literal[
        "avg", "sum", "min", "max", "count", "last", "rate", "p50", "p90", "p95", "p99"
    ] = "avg"
    group_by: str | None = Field(None, description="Comma-separated label names.")


class LatestQueryDoc(BaseModel):
    """The query string of GET /api/v1/metrics/latest (label.<k>=v and label.<k>!=v also work)."""

    name: str | None = Field(None, pattern=NAME_PATTERN)
    source: str | None = Field(None, max_length=200)
    limit: int = Field(1000, ge=1, le=10_000)


class LatestItem(BaseModel):
    series_id: int
    name: str
    source: str
    labels: dict[str, str]
    time: datetime
    value: float


class LatestList(BaseModel):
    series: list[LatestItem]


class MetricName(BaseModel):
    name: str
    type: MetricType
    unit: str | None
    series: int


class MetricNames(BaseModel):
    metrics: list[MetricName]


class MetricSources(BaseModel):
    sources: list[str]


class LabelNamesQueryDoc(BaseModel):
    """The query string of GET /api/v1/metrics/labels."""

    name: str | None = Field(None, pattern=NAME_PATTERN, description="Only this metric's series.")
    source: str | None = Field(None, max_length=200, description="Only this source's series.")
    limit: int = Field(100, ge=1, le=1000)


class LabelValuesQueryDoc(LabelNamesQueryDoc):
    """The query string of GET /api/v1/metrics/labels/{label}/values."""

    match: str | None = Field(None, max_length=200, description="Only values starting with this.")


class LabelNames(BaseModel):
    labels: list[str] = Field(description="Sorted by code point.")
    truncated: bool = Field(description="More names exist than `limit`.")


class LabelValues(BaseModel):
    label: str
    values: list[str] = Field(description="Sorted by code point.")
    truncated: bool = Field(description="More values exist than `limit`.")


class MetricStats(BaseModel):
    metrics: int
    series: int
    samples_estimate: int
    ingest: dict[str, Any]
