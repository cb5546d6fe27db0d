"""The shapes of event requests and responses.

Ingest bodies are decoded by msgspec straight into Structs (decoding and
validating in one pass). OpenAPI is generated from pydantic models, which nest
cleanly there; a test keeps each *Doc model in step with its Struct.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Level = Literal["debug", "info", "warning", "error", "critical"]
TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]*$"


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    """One event as clients send it."""

    type: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=TYPE_PATTERN)]
    level: Level = "info"
    source: Annotated[str, msgspec.Meta(max_length=200)] = ""
    message: Annotated[str, msgspec.Meta(max_length=16_384)] = ""
    time: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    fingerprint: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    trace_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None


class EventsEnvelope(msgspec.Struct, forbid_unknown_fields=True):
    events: list[EventIn]


BulkEventsIn = list[EventIn] | EventsEnvelope


class EventInDoc(BaseModel):
    """OpenAPI's view of EventIn (msgspec Structs leave dangling $refs in quart-schema)."""

    model_config = ConfigDict(extra="forbid", title="EventIn")

    type: str = Field(min_length=1, max_length=100, pattern=TYPE_PATTERN)
    level: Level = "info"
    source: str = Field("", max_length=200)
    message: str = Field("", max_length=16_384)
    time: AwareDatetime | None = Field(
        None, description="RFC 3339; default now. Must lie within retention and the future skew."
    )
    attributes: dict[str, Any] = Field(default_factory=dict)
    fingerprint: str | None = Field(None, min_length=1, max_length=200)
    trace_id: str | None = Field(None, min_length=1, max_length=128)


class EventsEnvelopeDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", title="EventsEnvelope")

    events: list[EventInDoc]


class EventOut(BaseModel):
    id: uuid.UUID
    time: datetime
    received_at: datetime
    type: str
    level: Level
    source: str
    message: str
    attributes: dict[str, Any]
    fingerprint: str | None
    trace_id: str | None
    group_id: int | None


class BulkAccepted(BaseModel):
    accepted: int
    ids: list[uuid.UUID] = Field(description="The new events' ids, in input order.")


class EventPage(BaseModel):
    events: list[EventOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )


class EventQuery(BaseModel):
    """Filters shared by the list, stats and groups (documentation of the query string)."""

    type: str | None = Field(None, description="Exact type; repeat or comma-separate for several.")
    level: Level | None = Field(None, description="Exact level; repeat or comma-separate.")
    min_level: Level | None = Field(None, description="This level or more severe.")
    source: str | None = Field(None, description="Exact source; repeat or comma-separate.")
    from_: datetime | None = Field(None, alias="from", description="RFC 3339, inclusive.")
    to: datetime | None = Field(None, description="RFC 3339, exclusive.")
    q: str | None = Field(None, description="Case-insensitive substring of the message.")
    limit: int | None = Field(None, ge=1, le=1000, description="Page size (default 100).")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page.")


class CountItem(BaseModel):
    key: str
    count: int


class SeriesPoint(BaseModel):
    time: datetime
    count: int


class EventStatsOut(BaseModel):
    total: int
    by_level: dict[str, int]
    by_type: list[CountItem]
    by_source: list[CountItem]
    interval: str
    series: list[SeriesPoint]


class GroupOut(BaseModel):
    id: int
    fingerprint: str
    type: str
    source: str
    level: Level
    message: str
    first_seen: datetime
    last_seen: datetime
    count: int = Field(description="All-time number of events in the group.")
    count_in_range: int | None = Field(description="Matching events within the requested range.")
    status: Literal["open", "resolved", "ignored"]


class GroupList(BaseModel):
    groups: list[GroupOut]


class GroupStatusIn(BaseModel):
    status: Literal["open", "resolved", "ignored"]
