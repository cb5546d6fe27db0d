"""The events list's filters on a dashboard route, and their canonical form for cache keys.

The filters are parsed by the events list's own parser; their time part
(`from`/`to`) is the dashboard's range, applied by the window instead.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from monitor.domain.events import LEVELS, EventFilter
from monitor.web.api.events.query import event_filter_and_errors
from monitor.web.edge.query_checks import QueryArgs

# Filters whose values form a set: their order in the query string changes nothing.
SET_FILTERS = frozenset({"type", "level", "source"})


def parse_dashboard_filter(
    args: QueryArgs, own_parameters: frozenset[str], errors: list[dict[str, Any]]
) -> EventFilter:
    """The event filters of `args` without their time part; problems go to `errors`."""
    event_filter, problems = event_filter_and_errors(own_parameters, args)
    errors.extend(problems)
    return dataclasses.replace(event_filter, time_from=None, time_to=None)


def within(event_filter: EventFilter, start: datetime, end: datetime) -> EventFilter:
    return dataclasses.replace(event_filter, time_from=start, time_to=end)


def filter_key_params(event_filter: EventFilter) -> list[tuple[str, str]]:
    """The filter as query parameters in one spelling (see SET_FILTERS for the sets)."""
    params = [("type", kind) for kind in event_filter.types]
    params += [("level", LEVELS[level]) for level in event_filter.levels]
    params += [("source", source) for source in event_filter.sources]
    if event_filter.min_level is not None:
        params.append(("min_level", LEVELS[event_filter.min_level]))
    if event_filter.text is not None:
        params.append(("q", event_filter.text))
    params += [(f"attr.{key}", value) for key, value in event_filter.attributes]
    return params
