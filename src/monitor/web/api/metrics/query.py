"""Parse the metrics query string (GET /api/v1/metrics and friends), naming every bad parameter.

The parsers take the parameters as a MultiDict: the request's query string,
or a widget's stored query (web/api/dashboards/widget_queries.py).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from werkzeug.datastructures import MultiDict

from monitor.domain.intervals import auto_interval, parse_interval, too_many_buckets
from monitor.domain.metrics import (
    AGGREGATIONS,
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    LabelMatcher,
    labels_problem,
)
from monitor.domain.query_times import parse_query_time
from monitor.domain.query_values import listed
from monitor.storage.metric_query import SeriesQuery
from monitor.web.edge.query_checks import invalid_query

Args = MultiDict[str, str]
MAX_POINTS = 11_000
DEFAULT_RANGE = timedelta(hours=1)
SERIES_PARAMETERS = frozenset({"name", "from", "to", "interval", "aggregation", "group_by"})


def is_metric_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and re.fullmatch(NAME_PATTERN, name) is not None


def matchers_and_unknown(
    args: Args, allowed: frozenset[str], errors: list[dict[str, Any]]
) -> tuple[tuple[LabelMatcher, ...], list[str]]:
    """`label.<k>=v` and `label.<k>!=v` matchers (each bad one named in `errors`), and the
    parameters that are neither matchers nor in `allowed`."""
    matchers: list[LabelMatcher] = []
    unknown: list[str] = []
    for key in args:
        if key.startswith("label."):
            label = key[len("label.") :]
            equal = not label.endswith("!")
            label = label.removesuffix("!")
            for value in args.getlist(key):
                problem = labels_problem({label: value})
                if problem is not None:
                    errors.append({"field": key, "message": problem})
                    break
                matchers.append(LabelMatcher(label, value, equal))
        elif key not in allowed:
            unknown.append(key)
    return tuple(sorted(matchers, key=lambda m: (m.name, m.value, m.equal))), unknown


def _time(args: Args, name: str, errors: list[dict[str, Any]]) -> datetime | None:
    raw = args.get(name)
    if not raw:
        return None
    try:
        return parse_query_time(raw)
    except ValueError as problem:
        errors.append({"field": name, "message": str(problem)})
        return None


def parse_series_query(args: Args, now: datetime) -> SeriesQuery:
    """The series query `args` ask for (default: the hour before `now`); a 400 naming
    every bad parameter otherwise."""
    errors: list[dict[str, Any]] = []
    matchers, unknown = matchers_and_unknown(args, SERIES_PARAMETERS, errors)
    errors.extend({"field": key, "message": "is not a known parameter"} for key in unknown)
    name = args.get("name", "")
    if not is_metric_name(name):
        errors.append({"field": "name", "message": "required; must match [a-zA-Z_:][a-zA-Z0-9_:]*"})
    aggregation = args.get("aggregation", "avg")
    if aggregation not in AGGREGATIONS:
        errors.append(
            {"field": "aggregation", "message": f"must be one of {', '.join(AGGREGATIONS)}"}
        )
    try:
        group_by = listed([args.get("group_by", "")])
    except ValueError as refused:
        errors.append({"field": "group_by", "message": str(refused)})
        group_by = ()
    if labels_problem({label: "" for label in group_by}):
        errors.append({"field": "group_by", "message": "label names, comma-separated"})
    time_to = _time(args, "to", errors) or now
    time_from = _time(args, "from", errors) or time_to - DEFAULT_RANGE
    if time_from >= time_to:
        errors.append({"field": "to", "message": "must be after from"})
    interval = auto_interval(time_to - time_from)
    given = args.get("interval") or None
    if given:
        try:
            interval = parse_interval(given)
        except ValueError as refused:
            errors.append({"field": "interval", "message": str(refused)})
    if not errors:
        too_many = too_many_buckets(
            time_to - time_from, interval, MAX_POINTS, given=given, what="points per series"
        )
        if too_many is not None:
            errors.append({"field": "interval", "message": too_many})
    if errors:
        raise invalid_query(errors)
    return SeriesQuery(
        name=name,
        matchers=matchers,
        time_from=time_from,
        time_to=time_to,
        interval=interval,
        aggregation=aggregation,
        group_by=group_by,
    )
