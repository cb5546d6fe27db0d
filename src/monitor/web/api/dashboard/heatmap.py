"""GET /api/v1/dashboard/heatmap: events by weekday and hour, or a metric's values over time.

`kind=events`: the events list's filters, counted per local weekday and hour
in the IANA time zone `tz` (default UTC). `kind=metric`: the samples of a
metric selector (name, label matchers, source) counted per time bucket and
value bucket, the value buckets cut over the values observed in the range
(domain/value_buckets.py). Answers are shared for the window's tick (see
answers.py).
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response, tag

from monitor.domain.events import EventFilter
from monitor.domain.keys import Role
from monitor.domain.query_values import whole_number
from monitor.domain.value_buckets import SCALES, Scale
from monitor.storage import metric_query
from monitor.storage.event_count_query import event_count_heatmap
from monitor.storage.gateway import Gateway
from monitor.web.api.dashboard import answers
from monitor.web.api.dashboard.answers import shared_answer
from monitor.web.api.dashboard.chart_kind import parse_chart
from monitor.web.api.dashboard.chart_schemas import HeatmapOut, HeatmapQueryDoc
from monitor.web.api.dashboard.event_filters import (
    SET_FILTERS,
    filter_key_params,
    parse_dashboard_filter,
)
from monitor.web.api.dashboard.ranges import asked_range
from monitor.web.api.dashboard.time_frame import (
    PARAMETERS as FRAME_PARAMETERS,
)
from monitor.web.api.dashboard.time_frame import (
    Framed,
    PointLimits,
    TimeFrame,
    fitted_time_frame,
    parse_time_frame,
)
from monitor.web.api.metrics.query import LABEL_PREFIX, is_metric_name, matchers_and_unknown
from monitor.web.api.metrics.samples import MAX_SOURCE_LENGTH
from monitor.web.edge.auth import require_role
from monitor.web.edge.query_checks import QueryArgs, invalid_query

blueprint = Blueprint("dashboard_heatmap", __name__)

ROUTE = "/dashboard/heatmap"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# kind=events has no interval of its own; its window moves in the ticks of a chart
# of the same range with this many points.
EVENT_TICK_POINTS = 300
POINTS = PointLimits(default=100, largest=500)
DEFAULT_VALUE_BUCKETS = 20
MAX_VALUE_BUCKETS = 100
MAX_ZONE_LENGTH = 64

Errors = list[dict[str, Any]]


# --- kind=events ----------------------------------------------------------------------------


@functools.cache
def _zone_names() -> frozenset[str]:
    # `localtime` names the host's zone, not an IANA one.
    return frozenset(zoneinfo.available_timezones()) - {"localtime"}


def _time_zone(args: QueryArgs, errors: Errors) -> str:
    name = args.get("tz") or "UTC"
    if len(name) > MAX_ZONE_LENGTH or name not in _zone_names():
        errors.append(
            {"field": "tz", "message": "must be an IANA time zone, such as Europe/Berlin or UTC"}
        )
    return name


@dataclass(frozen=True)
class EventHeatmapAsked(Framed):
    event_filter: EventFilter
    time_zone: str
    frame: TimeFrame
    sets = SET_FILTERS

    def key_params(self) -> list[tuple[str, str]]:
        return [
            ("kind", "events"),
            *self.frame.asked.canonical(),
            ("tz", self.time_zone),
            *filter_key_params(self.event_filter),
        ]


def _parse_events(args: QueryArgs, now: datetime) -> EventHeatmapAsked:
    errors: Errors = []
    event_filter = parse_dashboard_filter(args, frozenset({"kind", "range", "tz"}), errors)
    time_zone = _time_zone(args, errors)
    if errors:
        raise invalid_query(errors)
    frame = fitted_time_frame(asked_range(args), now, EVENT_TICK_POINTS)
    return EventHeatmapAsked(event_filter, time_zone, frame)


async def _count_events(gateway: Gateway, asked: EventHeatmapAsked) -> dict[str, Any]:
    frame, time_zone = asked.frame, asked.time_zone
    try:
        found = await event_count_heatmap(
            gateway,
            asked.event_filter,
            start=frame.window.start,
            end=frame.window.end,
            time_zone=time_zone,
        )
    except ValueError as refused:  # a zone Python knows and PostgreSQL does not
        raise invalid_query([{"field": "tz", "message": str(refused)}]) from None
    return {
        "kind": "events",
        "tz": time_zone,
        "from": frame.window.start,
        "to": frame.window.end,
        "weekdays": WEEKDAYS,
        "hours": list(range(24)),
        "counts": found.counts,
        "total": sum(map(sum, found.counts)),
    }


# --- kind=metric ----------------------------------------------------------------------------

_METRIC_PARAMETERS = FRAME_PARAMETERS | {"kind", "name", "source", "buckets", "scale"}


def _selector(args: QueryArgs, errors: Errors) -> metric_query.MetricSelector:
    matchers, unknown = matchers_and_unknown(args, _METRIC_PARAMETERS, errors)
    errors.extend({"field": key, "message": "is not a known parameter"} for key in unknown)
    name = args.get("name", "")
    if not is_metric_name(name):
        errors.append({"field": "name", "message": "required; must match [a-zA-Z_:][a-zA-Z0-9_:]*"})
    source = args.get("source")
    if source is not None and len(source) > MAX_SOURCE_LENGTH:
        errors.append({"field": "source", "message": f"at most {MAX_SOURCE_LENGTH} characters"})
    return metric_query.MetricSelector(name, matchers, source)


def _value_buckets(args: QueryArgs, errors: Errors) -> int:
    raw = args.get("buckets") or None
    if raw is None:
        return DEFAULT_VALUE_BUCKETS
    try:
        return whole_number(raw, 1, MAX_VALUE_BUCKETS)
    except ValueError as problem:
        errors.append({"field": "buckets", "message": str(problem)})
        return DEFAULT_VALUE_BUCKETS


def _scale(args: QueryArgs, errors: Errors) -> Scale:
    raw = args.get("scale") or "linear"
    if raw not in SCALES:
        errors.append({"field": "scale", "message": f"must be one of {', '.join(SCALES)}"})
        return "linear"
    return raw


def _selector_key_params(selector: metric_query.MetricSelector) -> list[tuple[str, str]]:
    params = [("name", selector.name)]
    params += [
        (f"{LABEL_PREFIX}{m.name}{'' if m.equal else '!'}", m.value) for m in selector.matchers
    ]
    if selector.source is not None:
        params.append(("source", selector.source))
    return params


@dataclass(frozen=True)
class MetricHeatmapAsked(Framed):
    selector: metric_query.MetricSelector
    value_buckets: int
    scale: Scale
    frame: TimeFrame
    sets = frozenset[str]()

    def key_params(self) -> list[tuple[str, str]]:
        return [
            ("kind", "metric"),
            *self.frame.key_params(),
            *_selector_key_params(self.selector),
            ("buckets", str(self.value_buckets)),
            ("scale", self.scale),
        ]


def _parse_metric(args: QueryArgs, now: datetime) -> MetricHeatmapAsked:
    errors: Errors = []
    selector = _selector(args, errors)
    value_buckets = _value_buckets(args, errors)
    scale = _scale(args, errors)
    frame = parse_time_frame(args, now, errors, POINTS)
    if errors or frame is None:
        raise invalid_query(errors)
    return MetricHeatmapAsked(selector, value_buckets, scale, frame)


async def _distribution(gateway: Gateway, asked: MetricHeatmapAsked) -> dict[str, Any]:
    selector, frame, scale = asked.selector, asked.frame, asked.scale
    found = await metric_query.value_distribution(
        gateway,
        selector,
        time_from=frame.window.start,
        time_to=frame.window.end,
        interval=frame.interval,
        buckets=asked.value_buckets,
        scale=scale,
    )
    described = frame.description()
    times: list[int] = described.pop("buckets")
    width = max(0, len(found.edges) - 1)
    return {
        "kind": "metric",
        "name": selector.name,
        "scale": scale,
        **described,
        "times": times,
        "edges": found.edges,
        "counts": [found.counts.get(moment, [0] * width) for moment in times],
        "excluded": [found.excluded.get(moment, 0) for moment in times],
        "samples": found.samples,
    }


# --- the route ------------------------------------------------------------------------------

HeatmapAsked = EventHeatmapAsked | MetricHeatmapAsked


def parse_heatmap(args: QueryArgs, now: datetime) -> HeatmapAsked:
    """The heatmap `args` ask for at `now`; a 400 problem naming each bad parameter."""
    return parse_chart(args, now, _parse_events, _parse_metric)


async def compute_heatmap(gateway: Gateway, asked: HeatmapAsked) -> dict[str, Any]:
    """The answer; a 400 naming `tz` for a zone PostgreSQL does not know."""
    if isinstance(asked, EventHeatmapAsked):
        return await _count_events(gateway, asked)
    return await _distribution(gateway, asked)


@blueprint.get("/heatmap")
@require_role(Role.READ)
@tag(["dashboard"])
@document_querystring(HeatmapQueryDoc)
@document_response(HeatmapOut, 200)
async def heatmap() -> Response:
    """Heatmap data: events by weekday and hour (`kind=events`), or a metric's value
    distribution over time (`kind=metric`).

    Events: the events list's filters, counted per weekday and hour in the
    IANA zone `tz` (default UTC). Metric: `name`, `label.<k>=v` /
    `label.<k>!=v`, `source`; `buckets` value buckets (default 20, at most
    100) over the values seen in the range, `scale=linear|log` (on a log
    scale, zero and negative samples are counted in `excluded`, not in a
    bucket).
    """
    return await shared_answer(ROUTE, parse_heatmap(request.args, answers.now()), compute_heatmap)
