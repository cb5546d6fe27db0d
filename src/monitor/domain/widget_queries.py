"""A widget's query: the parameters of the route that draws it, held as a JSON object.

`{"kind": "events", "level": ["error", "critical"], "range": "24h"}` stands
for `?kind=events&level=error&level=critical&range=24h`. Each value is text,
a number, true/false, or a list of those (a repeated parameter); the query
string they make must pass the rules every query string passes at the edge
(domain/query_values.py), so a widget can hold nothing its route would refuse
there.

Which route draws a widget follows from its kind (and, where a kind can draw
more than one thing, from the query's own `kind`):

- `events`: the events list's parameters → GET /api/v1/events;
- `timeseries`: `kind` events or metric and that chart's parameters
  → GET /api/v1/dashboard/timeseries;
- `stat`, `gauge`: `kind` events or metric, as for timeseries (the widget
  shows one number of the series); or `kind` overview and the overview's
  parameters (`kind` itself is not sent) → GET /api/v1/dashboard/overview;
- `top`: `type` (errors, sources, types, metrics, slow-requests) and the
  list's parameters → GET /api/v1/dashboard/top/<type>;
- `heatmap`: `kind` events or metric and the heatmap's parameters
  → GET /api/v1/dashboard/heatmap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

from monitor.domain.query_values import query_string_problems

WidgetKind = Literal["timeseries", "stat", "top", "heatmap", "events", "gauge"]
WIDGET_KINDS: tuple[WidgetKind, ...] = ("timeseries", "stat", "top", "heatmap", "events", "gauge")
CHART_KINDS = ("events", "metric")
SINGLE_VALUE_KINDS = (*CHART_KINDS, "overview")
TOP_TYPES = ("errors", "sources", "types", "metrics", "slow-requests")

# The routes a widget can be drawn by (the keys of the checks in
# web/api/dashboards/widget_queries.py).
EVENTS_LIST = "events"
TIMESERIES = "dashboard.timeseries"
OVERVIEW = "dashboard.overview"
TOP = "dashboard.top"
HEATMAP = "dashboard.heatmap"


@dataclass(frozen=True)
class QueryTarget:
    """The route that draws a widget and the query string it sends there."""

    route: str  # one of the names above
    path: str  # the URL path, e.g. /api/v1/dashboard/top/errors
    params: tuple[tuple[str, str], ...]

    def first(self, name: str) -> str | None:
        return next((value for key, value in self.params if key == name), None)


class QueryProblems(ValueError):
    """What is wrong with a widget's query: (parameter, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))
        self.problems = problems


def _parameter_text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return json.dumps(value)
    return None


def query_parameters(query: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """The (name, value) pairs a query object stands for; QueryProblems naming each bad one."""
    pairs: list[tuple[str, str]] = []
    problems: list[tuple[str, str]] = []
    scalar = "must be text, a finite number, true/false, or a list of those"
    for name, value in query.items():
        values = value if isinstance(value, list) else [value]
        texts = [_parameter_text(item) for item in values]
        if any(text is None for text in texts):
            problems.append((name, scalar))
            continue
        pairs.extend((name, text) for text in texts if text is not None)
    if not problems:
        encoded = urlencode(pairs, errors="surrogatepass").encode("ascii")
        problems.extend((p.field, p.message) for p in query_string_problems(encoded))
    if problems:
        raise QueryProblems(problems)
    return tuple(pairs)


def _one_of(
    params: tuple[tuple[str, str], ...], name: str, allowed: tuple[str, ...]
) -> tuple[str, list[tuple[str, str]]]:
    given = [value for key, value in params if key == name]
    if len(given) != 1 or given[0] not in allowed:
        return "", [(name, f"required once: one of {', '.join(allowed)}")]
    return given[0], []


def _without(params: tuple[tuple[str, str], ...], name: str) -> tuple[tuple[str, str], ...]:
    return tuple((key, value) for key, value in params if key != name)


def widget_target(kind: WidgetKind, query: Mapping[str, object]) -> QueryTarget:
    """The route that draws a widget of `kind` with `query`; QueryProblems when none can."""
    params = query_parameters(query)
    if kind == "events":
        return QueryTarget(EVENTS_LIST, "/api/v1/events", params)
    if kind in ("timeseries", "heatmap"):
        _, problems = _one_of(params, "kind", CHART_KINDS)
        if problems:
            raise QueryProblems(problems)
        route, path = (
            (TIMESERIES, "/api/v1/dashboard/timeseries")
            if kind == "timeseries"
            else (HEATMAP, "/api/v1/dashboard/heatmap")
        )
        return QueryTarget(route, path, params)
    if kind in ("stat", "gauge"):
        shown, problems = _one_of(params, "kind", SINGLE_VALUE_KINDS)
        if problems:
            raise QueryProblems(problems)
        if shown == "overview":
            return QueryTarget(OVERVIEW, "/api/v1/dashboard/overview", _without(params, "kind"))
        return QueryTarget(TIMESERIES, "/api/v1/dashboard/timeseries", params)
    top_type, problems = _one_of(params, "type", TOP_TYPES)
    if problems:
        raise QueryProblems(problems)
    return QueryTarget(TOP, f"/api/v1/dashboard/top/{top_type}", _without(params, "type"))
