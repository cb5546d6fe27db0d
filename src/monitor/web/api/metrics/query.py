"""Parse the metrics query string (GET /api/v1/metrics and friends), naming every bad parameter.

The parsers take the parameters as a MultiDict: the request's query string,
or each `query=` value of the dashboard's timeseries (and so of a widget's
stored query, checked by that route's parser); so one parser decides what a
metrics query is. `field` turns a parameter's name into the name an error
reports (`name`, or `query[2].name` inside the timeseries' third query).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict

from monitor.domain.intervals import auto_interval, parse_interval, too_many_buckets
from monitor.domain.metrics import (
    AGGREGATIONS,
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    LabelMatcher,
    labels_problem,
    parse_label_matcher,
)
from monitor.domain.query_values import listed
from monitor.storage.metric_query import SeriesQuery
from monitor.web.edge.query_checks import invalid_query, query_time

MAX_POINTS = 11_000
DEFAULT_RANGE = timedelta(hours=1)
# What a metric's series are chosen and combined by; the time frame (from, to,
# interval) is apart because the dashboard shares one among its queries.
SELECTION_PARAMETERS = frozenset({"name", "aggregation", "group_by"})
TIME_PARAMETERS = frozenset({"from", "to", "interval"})
SERIES_PARAMETERS = SELECTION_PARAMETERS | TIME_PARAMETERS
LABEL_PREFIX = "label."

Errors = list[dict[str, Any]]
Args = MultiDict[str, str]


def as_is(name: str) -> str:
    return name


def is_metric_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and re.fullmatch(NAME_PATTERN, name) is not None


@dataclass(frozen=True)
class MetricSelection:
    """Which series a metrics query reads and how it combines them per bucket."""

    name: str
    matchers: tuple[LabelMatcher, ...]  # sorted, so equal selections compare equal
    aggregation: str
    group_by: tuple[str, ...]

    def canonical(self) -> str:
        """The selection as one query string, in one spelling: for cache keys and echoes."""
        pairs = [("name", self.name), ("aggregation", self.aggregation)]
        if self.group_by:
            pairs.append(("group_by", ",".join(self.group_by)))
        pairs.extend(
            (f"{LABEL_PREFIX}{m.name}{'' if m.equal else '!'}", m.value) for m in self.matchers
        )
        return urlencode(pairs)

    def series_query(
        self, time_from: datetime, time_to: datetime, interval: timedelta
    ) -> SeriesQuery:
        return SeriesQuery(
            name=self.name,
            matchers=self.matchers,
            time_from=time_from,
            time_to=time_to,
            interval=interval,
            aggregation=self.aggregation,
            group_by=self.group_by,
        )


def matchers_and_unknown(
    args: Args, allowed: Collection[str], errors: Errors, field: Callable[[str], str] = as_is
) -> tuple[tuple[LabelMatcher, ...], list[str]]:
    """`label.<k>=v` and `label.<k>!=v` matchers (each bad one named in `errors`), and the
    parameters that are neither matchers nor `allowed`."""
    known = frozenset(allowed)
    matchers: list[LabelMatcher] = []
    unknown: list[str] = []
    for key in args:
        if key.startswith(LABEL_PREFIX):
            for value in args.getlist(key):
                try:
                    matchers.append(parse_label_matcher(key[len(LABEL_PREFIX) :], value))
                except ValueError as refused:
                    errors.append({"field": field(key), "message": str(refused)})
                    break
        elif key not in known:
            unknown.append(key)
    return tuple(sorted(matchers, key=lambda m: (m.name, m.value, m.equal))), unknown


def parse_selection(
    args: Args,
    errors: Errors,
    *,
    allowed: Iterable[str] = (),
    field: Callable[[str], str] = as_is,
    unknown_message: Callable[[str], str] = lambda _: "is not a known parameter",
) -> MetricSelection:
    """The selection `args` asks for; its problems (and every parameter neither a
    selection's nor `allowed`) appended to `errors`."""
    matchers, unknown = matchers_and_unknown(
        args, SELECTION_PARAMETERS | set(allowed), errors, field
    )
    errors.extend({"field": field(key), "message": unknown_message(key)} for key in unknown)
    name = args.get("name", "")
    if not is_metric_name(name):
        errors.append(
            {"field": field("name"), "message": "required; must match [a-zA-Z_:][a-zA-Z0-9_:]*"}
        )
    aggregation = args.get("aggregation", "avg")
    if aggregation not in AGGREGATIONS:
        errors.append(
            {"field": field("aggregation"), "message": f"must be one of {', '.join(AGGREGATIONS)}"}
        )
    try:
        group_by = listed([args.get("group_by", "")])
    except ValueError as refused:
        errors.append({"field": field("group_by"), "message": str(refused)})
        group_by = ()
    if labels_problem({label: "" for label in group_by}):
        errors.append({"field": field("group_by"), "message": "label names, comma-separated"})
    return MetricSelection(name, matchers, aggregation, group_by)


def parse_series_query(args: Args, now: datetime) -> SeriesQuery:
    """The series query `args` ask for; a 400 naming every bad parameter otherwise.

    `to` defaults to `now`, `from` to DEFAULT_RANGE before `to`, the interval
    to about AUTO_POINTS buckets; at most MAX_POINTS buckets.
    """
    errors: Errors = []
    selection = parse_selection(args, errors, allowed=TIME_PARAMETERS)
    time_to = query_time(args, "to", errors) or now
    time_from = query_time(args, "from", errors) or time_to - DEFAULT_RANGE
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
    return selection.series_query(time_from, time_to, interval)
