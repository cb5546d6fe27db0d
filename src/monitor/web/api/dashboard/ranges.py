"""The `range` / `from` / `to` parameters every dashboard read route takes."""

from __future__ import annotations

from datetime import datetime

from quart import request

from monitor.domain.query_times import parse_query_time
from monitor.domain.ranges import RangeAsked, RangeProblem, parse_range
from monitor.web.edge.query_checks import invalid_query


def _time(name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse_query_time(raw)
    except ValueError as problem:
        raise invalid_query([{"field": name, "message": str(problem)}]) from None


def asked_range() -> RangeAsked:
    """The request's range; a 400 problem naming the parameter when it cannot be answered."""
    start, end = _time("from"), _time("to")
    try:
        return parse_range(request.args.get("range"), start, end)
    except RangeProblem as problem:
        raise invalid_query([{"field": problem.field, "message": str(problem)}]) from None
