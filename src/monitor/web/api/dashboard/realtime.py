"""GET /api/v1/dashboard/realtime: this instance's last minute, second by second.

Read from in-process counters (`monitor.realtime`), never from the database,
and never cached: each answer is now.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from quart import Blueprint, Response, request
from quart_schema import document_response, tag

from monitor.domain.keys import Role
from monitor.web.api.bulk_json import json_response
from monitor.web.deps import current_deps
from monitor.web.edge.auth import require_role
from monitor.web.edge.query_checks import invalid_query

blueprint = Blueprint("dashboard_realtime", __name__)


class EventsPerSecond(BaseModel):
    debug: list[int]
    info: list[int]
    warning: list[int]
    error: list[int]
    critical: list[int]


class LatencyOverWindow(BaseModel):
    requests: int = Field(description="Ingest requests acknowledged within the window.")
    p50: float | None
    p99: float | None


class IngestLatency(BaseModel):
    p50: list[float | None] = Field(description="Per second; null for a second without ingest.")
    p99: list[float | None]
    window: LatencyOverWindow = Field(description="The whole window's samples together.")


class Realtime(BaseModel):
    instance: str = Field(description="Which instance answered: host name and port.")
    now: float = Field(description="The instance's clock when it answered (Unix seconds).")
    seconds: list[int] = Field(description="The 60 seconds of the window (Unix), oldest first.")
    events_per_s: EventsPerSecond = Field(description="Events committed, by level.")
    samples_per_s: list[int] = Field(description="Metric samples committed.")
    http_requests_per_s: list[int] = Field(description="HTTP requests answered, any status.")
    http_4xx_per_s: list[int]
    http_5xx_per_s: list[int]
    websockets_open: list[int] = Field(description="The most open at once in each second.")
    ingest_latency_ms: IngestLatency = Field(
        description="From an ingest request's start to its commit's acknowledgement."
    )


@blueprint.get("/dashboard/realtime")
@require_role(Role.READ)
@tag(["dashboard"])
@document_response(Realtime, 200)
async def realtime() -> Response:
    """This instance's last 60 seconds, per second: events by level, samples, HTTP requests
    and errors, open websockets, ingest latency.

    Counted in process, no database query; behind a load balancer each instance
    answers for itself and names itself in `instance`. Never cached
    (`Cache-Control: no-store`). Latency quantiles are within 9 % of the exact
    value (log-spaced buckets).
    """
    if request.args:
        raise invalid_query(
            [{"field": key, "message": "is not a known parameter"} for key in request.args]
        )
    response = json_response(current_deps().realtime.snapshot())
    response.headers["Cache-Control"] = "no-store"
    return response
