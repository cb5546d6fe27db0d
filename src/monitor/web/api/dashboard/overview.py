"""GET /api/v1/dashboard/overview: the numbers of a range, each next to the previous period's.

One answer per (range, 10 s tick), shared by every viewer (answers.py). The
ingest rates are read from the database, not from this process's counters:
the answer is shared by every instance, so it must count what all of them
received. Events are counted by `received_at` (a BRIN index keeps that to
the newest block ranges); samples have no arrival time, so those
timestamped in the last minute are counted (BRIN on time), which is the
ingest rate for senders that stamp samples as they send them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import trio
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response, tag

from monitor.domain.changes import compared
from monitor.domain.events import LEVEL_NUMBER, LEVELS, EventFilter
from monitor.domain.keys import Role
from monitor.domain.ranges import RangeAsked, Window, resolve
from monitor.domain.ticks import OVERVIEW_TICK_CAP, align_window
from monitor.storage import dashboard_reads, metric_query
from monitor.storage.dashboard_reads import Period
from monitor.storage.event_count_query import PeriodTotals, busiest, event_count_periods
from monitor.storage.gateway import Gateway
from monitor.web.api.dashboard import answers
from monitor.web.api.dashboard.answers import RANGE_PARAMETERS, shared_answer, unknown_parameters
from monitor.web.api.dashboard.overview_schemas import OverviewOut, RangeQueryDoc
from monitor.web.api.dashboard.ranges import asked_range
from monitor.web.edge.auth import require_role
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import QueryArgs, invalid_query

blueprint = Blueprint("dashboard_overview", __name__)

ROUTE = "/dashboard/overview"
TOP_SOURCES = 5
RATE_WINDOW = timedelta(minutes=1)
ERROR_LEVELS = (LEVEL_NUMBER["error"], LEVEL_NUMBER["critical"])
T = TypeVar("T")


@dataclass(frozen=True)
class OverviewAsked:
    range: RangeAsked
    window: Window
    periods: OverviewPeriods
    sets = frozenset[str]()

    def key_params(self) -> list[tuple[str, str]]:
        return self.range.canonical()


@dataclass(frozen=True)
class OverviewPeriods:
    current: Period
    previous: Period  # as long as `current`, ending where it starts
    last_minute: Period  # the ingest rates': ends at the current tick's start
    minute_before: Period


def periods_of(window: Window, moment: datetime) -> OverviewPeriods:
    span = window.end - window.start
    minute_end = align_window(OVERVIEW_TICK_CAP, OVERVIEW_TICK_CAP, moment).end
    return OverviewPeriods(
        current=Period(window.start, window.end),
        previous=Period(window.start - span, window.start),
        last_minute=Period(minute_end - RATE_WINDOW, minute_end),
        minute_before=Period(minute_end - 2 * RATE_WINDOW, minute_end - RATE_WINDOW),
    )


async def _together(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Run the reads at once (each on its own pooled connection); their results in order."""
    results: list[Any] = [None] * len(calls)

    async def run(index: int, call: Callable[[], Awaitable[Any]]) -> None:
        results[index] = await call()

    try:
        async with trio.open_nursery() as nursery:
            for index, call in enumerate(calls):
                nursery.start_soon(run, index, call)
    except BaseExceptionGroup as group:
        # One failure stands for all (a database outage fails every read): raised
        # alone, the web edge answers it as usual (503), not as a 500 for the group.
        _, failures = group.split(trio.Cancelled)
        if failures is None:
            raise
        leaf: BaseException = failures
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        raise leaf from None
    return results


def _errors_per_minute(totals: PeriodTotals, period: Period) -> float:
    errors = sum(totals.by_level.get(level, 0) for level in ERROR_LEVELS)
    return errors / ((period.end - period.start) / timedelta(minutes=1))


def _per_second(count: int) -> float:
    return count / RATE_WINDOW.total_seconds()


async def compute_overview(gateway: Gateway, asked: OverviewAsked) -> dict[str, Any]:
    periods = asked.periods
    current, previous = periods.current, periods.previous
    # Independent reads, each on its own pooled connection, at once; the two
    # periods' event counts in one statement.
    (now_totals, before_totals), groups, received, samples, series, firing = await _together(
        lambda: event_count_periods(
            gateway, EventFilter(), [(current.start, current.end), (previous.start, previous.end)]
        ),
        lambda: dashboard_reads.new_open_groups(gateway, [current, previous]),
        lambda: dashboard_reads.events_received(
            gateway, [periods.last_minute, periods.minute_before]
        ),
        lambda: metric_query.samples_in(
            gateway,
            [
                (periods.last_minute.start, periods.last_minute.end),
                (periods.minute_before.start, periods.minute_before.end),
            ],
        ),
        lambda: metric_query.live_series_at(gateway, [current.end, current.start]),
        lambda: dashboard_reads.firing_alerts(gateway),
    )
    return {
        "from": current.start,
        "to": current.end,
        "previous_from": previous.start,
        "previous_to": previous.end,
        "events": {
            "total": compared(now_totals.total, before_totals.total),
            "by_level": {
                name: compared(now_totals.by_level.get(n, 0), before_totals.by_level.get(n, 0))
                for n, name in enumerate(LEVELS)
            },
        },
        "errors_per_minute": compared(
            _errors_per_minute(now_totals, current), _errors_per_minute(before_totals, previous)
        ),
        "new_error_groups": compared(*groups),
        "ingest": {
            "from": periods.last_minute.start,
            "to": periods.last_minute.end,
            "events_per_second": compared(*map(_per_second, received)),
            "samples_per_second": compared(*map(_per_second, samples)),
        },
        "live_series": compared(*series),
        "top_sources": [
            {"source": source, "count": compared(count, before_totals.by_source.get(source, 0))}
            for source, count in busiest(now_totals.by_source, TOP_SOURCES)
        ],
        "alerts": {"firing": sum(firing.values()), "by_severity": firing},
    }


def parse_overview(args: QueryArgs, now: datetime) -> OverviewAsked:
    """The overview `args` ask for at `now`; a 400 problem naming each bad parameter."""
    errors = unknown_parameters(args, RANGE_PARAMETERS)
    try:
        asked = asked_range(args)
    except ProblemError as problem:
        errors.extend(dict(error) for error in problem.errors or ())
    if errors:
        raise invalid_query(errors)
    window = resolve(asked, OVERVIEW_TICK_CAP, now, cap=OVERVIEW_TICK_CAP)
    return OverviewAsked(asked, window, periods_of(window, now))


@blueprint.get("/overview")
@require_role(Role.READ)
@tag(["dashboard"])
@document_querystring(RangeQueryDoc)
@document_response(OverviewOut, 200)
async def overview() -> Response:
    """The numbers of a range (default the last 24 h), each with the previous period's.

    Events in all and per level, errors per minute, new open error groups,
    ingest rates over the last minute, live series, the top 5 sources and
    firing alerts. Computed once per 10 s tick and shared; ETag/304.
    """
    return await shared_answer(ROUTE, parse_overview(request.args, answers.now()), compute_overview)
