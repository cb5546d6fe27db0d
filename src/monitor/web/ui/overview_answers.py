"""What the overview page shows: the dashboard API's own answers, shared per tick.

The page asks the questions a client of the API would ask (the overview,
events per bucket by level, the top open error groups) and takes each
answer through `shared_body`, so a page view costs what those API calls
cost: once per tick for everybody, whether they ask through the API or the
page. The latest critical events are one more shared answer, for the
overview's own window. The ingest chart is this instance's last minute
(`/dashboard/realtime`), read from memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from werkzeug.datastructures import MultiDict

from monitor.domain.events import LEVEL_NUMBER, EventFilter
from monitor.domain.ranges import Window
from monitor.storage import events as event_store
from monitor.storage.gateway import Gateway
from monitor.web.api.dashboard import overview, timeseries, top
from monitor.web.api.dashboard.answers import RANGE_PARAMETERS, shared_body
from monitor.web.deps import current_deps
from monitor.web.edge.query_checks import QueryArgs

TOP_ERRORS = 5
LATEST_CRITICAL = 10
CRITICAL_ROUTE = "/ui/overview/critical"

_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True)
class OverviewAnswers:
    overview: dict[str, Any]  # GET /api/v1/dashboard/overview
    by_level: dict[str, Any]  # GET /api/v1/dashboard/timeseries?kind=events&group_by=level
    top_errors: dict[str, Any]  # GET /api/v1/dashboard/top/errors?status=open&limit=5
    critical: list[dict[str, Any]]  # the newest critical events of the overview's window
    realtime: dict[str, Any]  # GET /api/v1/dashboard/realtime
    fresh_for: float  # seconds until the overview's tick ends and its numbers move


@dataclass(frozen=True)
class CriticalAsked:
    """The newest critical events of a window: answered once per overview tick."""

    window: Window
    sets = frozenset[str]()

    def key_params(self) -> list[tuple[str, str]]:
        return [
            ("from", self.window.start.isoformat()),
            ("to", self.window.end.isoformat()),
            ("limit", str(LATEST_CRITICAL)),
        ]


async def compute_critical(gateway: Gateway, asked: CriticalAsked) -> list[dict[str, Any]]:
    found = await event_store.list_events(
        gateway,
        EventFilter(
            levels=(LEVEL_NUMBER["critical"],),
            time_from=asked.window.start,
            time_to=asked.window.end,
        ),
        limit=LATEST_CRITICAL,
        before=None,
    )
    return [
        {
            "id": event.id,
            "time": event.time,
            "type": event.type,
            "source": event.source,
            "message": event.message,
        }
        for event in found
    ]


def _range_pairs(args: QueryArgs) -> list[tuple[str, str]]:
    return [(name, value) for name in RANGE_PARAMETERS for value in args.getlist(name)]


async def overview_answers(args: QueryArgs, now: datetime) -> OverviewAnswers:
    """Every answer the page shows for `args` (the overview's parameters) at `now`; a 400
    problem naming each bad parameter, as the API would give it."""
    asked = overview.parse_overview(args, now)  # refuses unknown parameters first
    ranged = _range_pairs(args)
    chart = timeseries.parse_timeseries(
        MultiDict([("kind", "events"), ("group_by", "level"), *ranged]), now
    )
    errors = top.parse_top(
        "errors", MultiDict([*ranged, ("status", "open"), ("limit", str(TOP_ERRORS))]), now
    )
    # One after another: a miss computes its answer on pooled connections of its own,
    # and a hit (nearly every view) costs nothing to wait for.
    numbers = await shared_body(overview.ROUTE, asked, overview.compute_overview)
    by_level = await shared_body(timeseries.ROUTE, chart, timeseries.compute_timeseries)
    top_errors = await shared_body("/dashboard/top/errors", errors, top.compute_top)
    critical = await shared_body(CRITICAL_ROUTE, CriticalAsked(asked.window), compute_critical)
    return OverviewAnswers(
        overview=_decode(numbers),
        by_level=_decode(by_level),
        top_errors=_decode(top_errors),
        critical=_decode(critical),
        realtime=current_deps().realtime.snapshot(),
        fresh_for=asked.window.fresh_for,
    )
