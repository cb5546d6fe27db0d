"""Parse the event query string into an EventFilter, naming every bad parameter.

The parsers read the request's query string unless given `args`: a widget's
stored query is checked with them too (web/api/dashboards/widget_queries.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from quart import request
from werkzeug.datastructures import MultiDict

from monitor.domain.cursors import decode_cursor
from monitor.domain.events import (
    ATTRIBUTE_KEY_MAX_LENGTH,
    LEVEL_NUMBER,
    EventFilter,
    attribute_match_candidates,
)
from monitor.domain.intervals import parse_interval, too_many_buckets
from monitor.domain.query_values import listed, whole_number
from monitor.web.edge.query_checks import invalid_query, query_time

Args = MultiDict[str, str]
FILTER_PARAMETERS = frozenset({"type", "level", "min_level", "source", "from", "to", "q"})
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_BUCKETS = 10_000
MAX_TEXT_LENGTH = 200
DEFAULT_INTERVAL = "1h"
DEFAULT_STATS_RANGE = timedelta(hours=24)
GROUP_STATUSES = ("open", "resolved", "ignored")


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append({"field": field, "message": message})

    def raise_if_any(self) -> None:
        if self.items:
            raise invalid_query(self.items)


def _values(args: Args, name: str, errors: _Errors) -> tuple[str, ...]:
    # Lengths and NUL were checked for every parameter at the edge (request_checks).
    try:
        return listed(args.getlist(name))
    except ValueError as problem:
        errors.add(name, str(problem))
        return ()


def _level(name: str, raw: str, errors: _Errors) -> int | None:
    number = LEVEL_NUMBER.get(raw.lower())
    if number is None:
        errors.add(name, f"must be one of {', '.join(LEVEL_NUMBER)}")
    return number


def _int(args: Args, name: str, default: int, low: int, high: int, errors: _Errors) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return whole_number(raw, low, high)
    except ValueError as problem:
        errors.add(name, str(problem))
        return default


def _filter(args: Args, errors: _Errors, allowed_extra: frozenset[str]) -> EventFilter:
    attributes: list[tuple[str, str]] = []
    for name in args:
        if name.startswith("attr."):
            key = name[len("attr.") :]
            value = args.get(name, "")
            if not key or len(key) > ATTRIBUTE_KEY_MAX_LENGTH:
                errors.add(name, f"attribute keys are 1 to {ATTRIBUTE_KEY_MAX_LENGTH} characters")
                continue
            try:
                attribute_match_candidates(value)
            except ValueError as problem:
                errors.add(name, str(problem))
                continue
            attributes.append((key, value))
        elif name not in FILTER_PARAMETERS and name not in allowed_extra:
            errors.add(name, "is not a known parameter")
    levels = tuple(
        level
        for level in (_level("level", raw, errors) for raw in _values(args, "level", errors))
        if level is not None
    )
    min_level_raw = args.get("min_level")
    min_level = _level("min_level", min_level_raw, errors) if min_level_raw else None
    text = args.get("q") or None
    if text is not None and len(text) > MAX_TEXT_LENGTH:
        errors.add("q", f"must be at most {MAX_TEXT_LENGTH} characters")
        text = None
    time_from = query_time(args, "from", errors.items)
    time_to = query_time(args, "to", errors.items)
    if time_from and time_to and time_from >= time_to:
        errors.add("to", "must be after from")
    return EventFilter(
        types=_values(args, "type", errors),
        levels=levels,
        min_level=min_level,
        sources=_values(args, "source", errors),
        time_from=time_from,
        time_to=time_to,
        text=text,
        attributes=tuple(sorted(attributes)),
    )


def parse_event_filter(args: Args | None = None) -> EventFilter:
    errors = _Errors()
    event_filter = _filter(
        request.args if args is None else args, errors, frozenset({"limit", "cursor"})
    )
    errors.raise_if_any()
    return event_filter


def event_filter_and_errors(
    allowed_extra: frozenset[str], args: Args | None = None
) -> tuple[EventFilter, list[dict[str, Any]]]:
    """The event filters, and what is wrong with them ([] when nothing), for a route that
    takes them beside parameters of its own (`allowed_extra`)."""
    errors = _Errors()
    event_filter = _filter(request.args if args is None else args, errors, allowed_extra)
    return event_filter, errors.items


def parse_page(args: Args | None = None) -> tuple[int, tuple[datetime, uuid.UUID] | None]:
    args = request.args if args is None else args
    errors = _Errors()
    limit = _int(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, errors)
    before = None
    cursor = args.get("cursor")
    if cursor:
        try:
            before = decode_cursor(cursor)
        except ValueError:
            errors.add("cursor", "is not a cursor this service returned")
    errors.raise_if_any()
    return limit, before


def _default_range(event_filter: EventFilter, now: datetime, errors: _Errors) -> EventFilter:
    time_to = event_filter.time_to or now
    time_from = event_filter.time_from or min(time_to, now) - DEFAULT_STATS_RANGE
    if event_filter.time_to is None and time_from >= time_to:
        errors.add("from", "must be before to, which defaults to now")
    return EventFilter(**{**event_filter.__dict__, "time_from": time_from, "time_to": time_to})


def parse_stats_query() -> tuple[EventFilter, timedelta]:
    errors = _Errors()
    event_filter = _default_range(
        _filter(request.args, errors, frozenset({"interval"})), datetime.now(UTC), errors
    )
    given = request.args.get("interval") or None
    try:
        interval = parse_interval(given or DEFAULT_INTERVAL)
    except ValueError as refused:
        errors.add("interval", str(refused))
        errors.raise_if_any()
    assert event_filter.time_from is not None and event_filter.time_to is not None
    problem = too_many_buckets(
        event_filter.time_to - event_filter.time_from, interval, MAX_BUCKETS, given=given
    )
    if problem is not None:
        errors.add("interval", problem)
    errors.raise_if_any()
    return event_filter, interval


def parse_groups_query() -> tuple[EventFilter, tuple[str, ...], int]:
    errors = _Errors()
    event_filter = _default_range(
        _filter(request.args, errors, frozenset({"status", "limit"})), datetime.now(UTC), errors
    )
    statuses = _values(request.args, "status", errors)
    for status in statuses:
        if status not in GROUP_STATUSES:
            errors.add("status", f"must be one of {', '.join(GROUP_STATUSES)}")
    limit = _int(request.args, "limit", 20, 1, 200, errors)
    errors.raise_if_any()
    return event_filter, statuses, limit


def event_filter_of_pairs(pairs: Sequence[tuple[str, str]]) -> EventFilter:
    """The events list's filters from (name, value) pairs, as an alert rule keeps them.

    Raises ValueError naming what is wrong (a rule's filters are checked when it
    is saved, so this is a stored rule the parser no longer accepts)."""
    event_filter, errors = event_filter_and_errors(frozenset(), MultiDict(list(pairs)))
    if errors:
        raise ValueError("; ".join(f"{item['field']}: {item['message']}" for item in errors))
    return event_filter
