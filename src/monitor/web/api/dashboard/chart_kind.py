"""`kind=events|metric`: what a chart route reads, and so which parser reads the rest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from monitor.web.edge.query_checks import QueryArgs, invalid_query

KINDS = ("events", "metric")
EventsAsked = TypeVar("EventsAsked")
MetricAsked = TypeVar("MetricAsked")


def parse_chart(
    args: QueryArgs,
    now: datetime,
    events: Callable[[QueryArgs, datetime], EventsAsked],
    metric: Callable[[QueryArgs, datetime], MetricAsked],
) -> EventsAsked | MetricAsked:
    """The chart `args` ask for, parsed by the parser of its `kind`; a 400 problem when
    `kind` is missing or unknown."""
    kind = args.get("kind", "")
    if kind not in KINDS:
        raise invalid_query([{"field": "kind", "message": f"required; one of {', '.join(KINDS)}"}])
    return events(args, now) if kind == "events" else metric(args, now)
