"""The `range` / `from` / `to` parameters every dashboard read route takes."""

from __future__ import annotations

from typing import Any

from monitor.domain.ranges import RangeAsked, RangeProblem, parse_range
from monitor.web.edge.query_checks import QueryArgs, invalid_query, query_time


def asked_range(args: QueryArgs) -> RangeAsked:
    """The range `args` ask for; a 400 problem naming the parameter when it cannot be answered."""
    errors: list[dict[str, Any]] = []
    start = query_time(args, "from", errors)
    # The first bad time is the problem named: a range is one question, refused as one.
    end = None if errors else query_time(args, "to", errors)
    if errors:
        raise invalid_query(errors)
    try:
        return parse_range(args.get("range"), start, end)
    except RangeProblem as problem:
        raise invalid_query([{"field": problem.field, "message": str(problem)}]) from None
