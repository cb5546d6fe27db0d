"""GET /api/v1/dashboard/top/<kind>: ranked lists over a range.

errors (error groups by their events in the range, each with a 24-bucket
trend), sources and types (by event count), metrics (by sample count, or
series by latest value) and slow-requests (percentiles of a numeric
attribute per key). One answer per (kind, parameters, tick), shared by every
viewer; the tick of a relative range is TOP_TICK.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response, tag

from monitor.domain.events import ATTRIBUTE_KEY_MAX_LENGTH, EventFilter
from monitor.domain.keys import Role
from monitor.domain.metrics import MAX_NAME_LENGTH, NAME_PATTERN
from monitor.domain.query_values import listed, whole_number
from monitor.domain.ranges import RangeAsked, Window, resolve
from monitor.storage import dashboard_reads, metric_query
from monitor.storage.dashboard_reads import Period
from monitor.storage.event_count_query import event_count_totals
from monitor.storage.gateway import Gateway
from monitor.web.api.dashboard import answers
from monitor.web.api.dashboard.answers import RANGE_PARAMETERS, shared_answer, unknown_parameters
from monitor.web.api.dashboard.ranges import asked_range
from monitor.web.api.dashboard.top_schemas import TopList, TopQueryDoc
from monitor.web.api.events.groups_json import group_as_json
from monitor.web.api.events.query import GROUP_STATUSES
from monitor.web.edge.auth import require_role
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import QueryArgs, invalid_query

blueprint = Blueprint("dashboard_top", __name__)

# A top list moves every minute: fresh enough for a ranking, and a new
# answer costs one computation a minute per distinct question.
TOP_TICK = timedelta(minutes=1)
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
TREND_BUCKETS = 24
# slow-requests ranks the busiest keys only, so a key with very many distinct
# values (a request id) bounds the work instead of multiplying it.
MAX_SLOW_KEYS = 1000
DEFAULT_ATTR = "duration_ms"
DEFAULT_KEY = "route"

# Each kind and the parameters it takes besides the range and `limit`.
KINDS: dict[str, frozenset[str]] = {
    "errors": frozenset({"status"}),
    "sources": frozenset(),
    "types": frozenset(),
    "metrics": frozenset({"by", "name"}),
    "slow-requests": frozenset({"attr", "key"}),
}
SHOWN_KIND_LENGTH = 100


@dataclass(frozen=True)
class ListParameters:
    """A top list's own parameters once parsed; `canonical()` spells them one way."""

    kind: str
    limit: int
    statuses: tuple[str, ...] = ()
    by: str = "count"
    name: str | None = None
    attr: str = DEFAULT_ATTR
    key: str = DEFAULT_KEY

    def canonical(self) -> list[tuple[str, str]]:
        params = [("limit", str(self.limit))]
        if self.kind == "errors":
            params.append(("status", ",".join(self.statuses)))
        elif self.kind == "metrics":
            params += [("by", self.by), ("name", self.name or "")]
        elif self.kind == "slow-requests":
            params += [("attr", self.attr), ("key", self.key)]
        return params


@dataclass(frozen=True)
class TopAsked:
    """A top list asked for: its kind, own parameters, range and the window answered."""

    kind: str
    parameters: ListParameters
    range: RangeAsked
    window: Window
    sets = frozenset[str]()

    def key_params(self) -> list[tuple[str, str]]:
        return self.range.canonical() + self.parameters.canonical()


def _attribute_key(args: QueryArgs, name: str, default: str, errors: list[dict[str, Any]]) -> str:
    raw = args.get(name)
    if raw is None:
        return default
    if not 1 <= len(raw) <= ATTRIBUTE_KEY_MAX_LENGTH:
        message = f"attribute keys are 1 to {ATTRIBUTE_KEY_MAX_LENGTH} characters"
        errors.append({"field": name, "message": message})
        return default
    return raw


def _parse(kind: str, args: QueryArgs, errors: list[dict[str, Any]]) -> ListParameters:
    """The kind's parameters (those of other kinds are refused as unknown elsewhere)."""
    asked = ListParameters(kind=kind, limit=DEFAULT_LIMIT)
    raw_limit = args.get("limit")
    if raw_limit:
        try:
            asked = replace(asked, limit=whole_number(raw_limit, 1, MAX_LIMIT))
        except ValueError as problem:
            errors.append({"field": "limit", "message": str(problem)})
    if kind == "errors":
        try:
            statuses = tuple(sorted(set(listed(args.getlist("status")))))
        except ValueError as problem:
            errors.append({"field": "status", "message": str(problem)})
            statuses = ()
        if any(status not in GROUP_STATUSES for status in statuses):
            errors.append({"field": "status", "message": f"must be {', '.join(GROUP_STATUSES)}"})
        asked = replace(asked, statuses=statuses)
    elif kind == "metrics":
        by = args.get("by") or "count"
        if by not in ("count", "value"):
            errors.append({"field": "by", "message": "must be count or value"})
        name = args.get("name") or None
        if name is not None and (
            len(name) > MAX_NAME_LENGTH or re.fullmatch(NAME_PATTERN, name) is None
        ):
            errors.append({"field": "name", "message": "must match [a-zA-Z_:][a-zA-Z0-9_:]*"})
        asked = replace(asked, by=by, name=name)
    elif kind == "slow-requests":
        asked = replace(
            asked,
            attr=_attribute_key(args, "attr", DEFAULT_ATTR, errors),
            key=_attribute_key(args, "key", DEFAULT_KEY, errors),
        )
    return asked


async def _errors(gateway: Gateway, period: Period, asked: ListParameters) -> dict[str, Any]:
    groups = await dashboard_reads.top_groups_with_trend(
        gateway, period, statuses=asked.statuses, limit=asked.limit, buckets=TREND_BUCKETS
    )
    width = (period.end - period.start) / TREND_BUCKETS
    return {
        "trend_buckets": TREND_BUCKETS,
        "trend_bucket_s": width.total_seconds(),
        "items": [{**group_as_json(group), "trend": group.trend} for group in groups],
    }


async def _event_counts(gateway: Gateway, period: Period, asked: ListParameters) -> dict[str, Any]:
    totals = await event_count_totals(
        gateway, EventFilter(), start=period.start, end=period.end, top=asked.limit
    )
    field = "source" if asked.kind == "sources" else "type"
    ranked = totals.by_source if asked.kind == "sources" else totals.by_type
    return {
        "total": totals.total,
        "items": [{field: value, "count": count} for value, count in ranked],
    }


async def _metrics(gateway: Gateway, period: Period, asked: ListParameters) -> dict[str, Any]:
    if asked.by == "value":
        latest = await metric_query.highest_latest_values(
            gateway, start=period.start, end=period.end, name=asked.name, limit=asked.limit
        )
        return {"by": "value", "items": latest}
    counts = await metric_query.sample_counts(
        gateway, start=period.start, end=period.end, name=asked.name, limit=asked.limit
    )
    return {"by": "count", "items": counts}


async def _slow_requests(gateway: Gateway, period: Period, asked: ListParameters) -> dict[str, Any]:
    found = await dashboard_reads.slowest_keys(
        gateway,
        period,
        attr=asked.attr,
        key=asked.key,
        limit=asked.limit,
        max_keys=MAX_SLOW_KEYS,
    )
    return {"attr": asked.attr, "key": asked.key, "items": found}


_COMPUTE: dict[str, Callable[[Gateway, Period, ListParameters], Awaitable[dict[str, Any]]]] = {
    "errors": _errors,
    "sources": _event_counts,
    "types": _event_counts,
    "metrics": _metrics,
    "slow-requests": _slow_requests,
}


def parse_top(kind: str, args: QueryArgs, now: datetime) -> TopAsked:
    """The list of `kind` (one of KINDS) `args` ask for at `now`; a 400 problem naming
    each bad parameter."""
    errors = unknown_parameters(args, RANGE_PARAMETERS | {"limit"} | KINDS[kind])
    try:
        asked_window = asked_range(args)
    except ProblemError as problem:
        errors.extend(dict(error) for error in problem.errors or ())
    parameters = _parse(kind, args, errors)
    if errors:
        raise invalid_query(errors)
    return TopAsked(kind, parameters, asked_window, resolve(asked_window, TOP_TICK, now))


async def compute_top(gateway: Gateway, asked: TopAsked) -> dict[str, Any]:
    period = Period(asked.window.start, asked.window.end)
    found = await _COMPUTE[asked.kind](gateway, period, asked.parameters)
    return {"top": asked.kind, "from": period.start, "to": period.end} | found


@blueprint.get("/top/<kind>")
@require_role(Role.READ)
@tag(["dashboard"])
@document_querystring(TopQueryDoc)
@document_response(TopList, 200)
async def top(kind: str) -> Response:
    """A ranked list over a range (default the last 24 h): errors, sources, types, metrics
    or slow-requests; another kind is a 404 naming these. Shared per 1-minute tick; ETag/304.
    """
    if kind not in KINDS:
        shown = kind if len(kind) <= SHOWN_KIND_LENGTH else kind[:SHOWN_KIND_LENGTH] + "…"
        raise ProblemError(
            404,
            f"there is no top list {shown!r}; the lists are: {', '.join(KINDS)}",
            kind="not-found",
        )
    asked = parse_top(kind, request.args, answers.now())
    return await shared_answer(f"/dashboard/top/{kind}", asked, compute_top)
