"""OpenAPI shapes of GET /api/v1/dashboard/top/{kind} (the route writes plain dicts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from monitor.domain.events import ATTRIBUTE_KEY_MAX_LENGTH
from monitor.domain.metrics import NAME_PATTERN


class TopQueryDoc(BaseModel):
    """The query string of GET /api/v1/dashboard/top/{kind}: a range, `limit`, and the
    parameters of that kind (another kind's parameter is refused)."""

    range: str | None = Field(
        None, description="A duration up to 400d, e.g. 15m, 1h, 24h, 7d; default 24h."
    )
    from_: datetime | None = Field(
        None, alias="from", description="RFC 3339 with a zone; with `to`, instead of `range`."
    )
    to: datetime | None = Field(None, description="RFC 3339 with a zone; with `from`.")
    limit: int = Field(10, ge=1, le=100, description="How many to list.")
    status: str | None = Field(
        None, description="errors: open, resolved and/or ignored (comma-separated); default all."
    )
    by: Literal["count", "value"] = Field(
        "count",
        description="metrics: rank metrics by sample count, or series by latest value.",
    )
    name: str | None = Field(None, pattern=NAME_PATTERN, description="metrics: one metric only.")
    attr: str = Field(
        "duration_ms",
        min_length=1,
        max_length=ATTRIBUTE_KEY_MAX_LENGTH,
        description="slow-requests: the numeric attribute.",
    )
    key: str = Field(
        "route",
        min_length=1,
        max_length=ATTRIBUTE_KEY_MAX_LENGTH,
        description="slow-requests: the attribute to group by.",
    )


class TopList(BaseModel):
    top: Literal["errors", "sources", "types", "metrics", "slow-requests"]
    from_: datetime = Field(alias="from")
    to: datetime
    items: list[dict[str, Any]] = Field(
        description="Ranked, first the highest. errors: the error group (as /events/groups "
        "lists it) with `trend`; sources, types: `source` or `type` and `count`; metrics: "
        "`name`, `type`, `unit`, `samples` (by=count) or a series with its latest `value` "
        "and `time` (by=value); slow-requests: `key`, `count`, `p50`, `p95`, `p99`, `max`."
    )
