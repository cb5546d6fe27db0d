"""OpenAPI shapes of GET /api/v1/dashboard/overview (the route writes plain dicts)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class RangeQueryDoc(BaseModel):
    """A dashboard range: `range`, or `from` and `to`; default the last 24 h."""

    range: str | None = Field(
        None,
        description="A duration up to 400d, e.g. 15m, 1h, 6h, 24h, 7d; the window ends at the "
        "current tick.",
    )
    from_: datetime | None = Field(
        None, alias="from", description="RFC 3339 with a zone; with `to`, instead of `range`."
    )
    to: datetime | None = Field(None, description="RFC 3339 with a zone; with `from`.")


class Compared(BaseModel):
    value: float
    previous: float = Field(description="The same number for the previous period.")
    change: float = Field(description="value - previous")
    change_ratio: float | None = Field(
        description="change / previous; null when previous is 0 (no ratio exists)."
    )


class EventNumbers(BaseModel):
    total: Compared
    by_level: dict[str, Compared] = Field(description="Every level, 0 when it had no events.")


class IngestRates(BaseModel):
    from_: datetime = Field(alias="from", description="The last minute: [from, to).")
    to: datetime
    events_per_second: Compared = Field(
        description="Events received in the last minute / 60; previous: the minute before."
    )
    samples_per_second: Compared = Field(
        description="Samples timestamped in the last minute / 60; previous: the minute before."
    )


class SourceCount(BaseModel):
    source: str
    count: Compared


class Alerts(BaseModel):
    firing: int
    by_severity: dict[str, int]


class OverviewOut(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    previous_from: datetime
    previous_to: datetime
    events: EventNumbers
    errors_per_minute: Compared = Field(
        description="Events at level error or critical per minute of the range."
    )
    new_error_groups: Compared = Field(
        description="Error groups first seen in the period and open now."
    )
    ingest: IngestRates
    live_series: Compared = Field(
        description="Series that exist (not deleted) at the period's end."
    )
    top_sources: list[SourceCount] = Field(description="The 5 sources with the most events.")
    alerts: Alerts
