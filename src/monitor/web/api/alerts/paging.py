"""The query strings of the alert lists: filters, page size and cursor, every problem named."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quart import request

from monitor.domain.alert_rules import SEVERITIES
from monitor.domain.alert_states import State
from monitor.domain.cursors import decode_numbered_cursor
from monitor.domain.query_values import listed, whole_number
from monitor.storage.alert_reads import InstanceFilter
from monitor.web.edge.query_checks import QueryArgs, invalid_query, query_time

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_ID = 2**63 - 1
PAGE_PARAMETERS = frozenset({"limit", "cursor"})
INSTANCE_PARAMETERS = PAGE_PARAMETERS | {"state", "rule_id", "severity", "from", "to"}
STATES = tuple(state.value for state in State)


def unknown_parameters(
    args: QueryArgs, known: frozenset[str], errors: list[dict[str, Any]]
) -> None:
    errors.extend(
        {"field": name, "message": "is not a known parameter"} for name in args if name not in known
    )


def page_of(
    args: QueryArgs, errors: list[dict[str, Any]]
) -> tuple[int, tuple[datetime, int] | None]:
    limit = DEFAULT_LIMIT
    raw_limit = args.get("limit")
    if raw_limit:
        try:
            limit = whole_number(raw_limit, 1, MAX_LIMIT)
        except ValueError as problem:
            errors.append({"field": "limit", "message": str(problem)})
    before = None
    cursor = args.get("cursor")
    if cursor:
        try:
            before = decode_numbered_cursor(cursor)
        except ValueError:
            errors.append({"field": "cursor", "message": "is not a cursor this service returned"})
    return limit, before


def choices_of(
    args: QueryArgs, name: str, allowed: tuple[str, ...], errors: list[dict[str, Any]]
) -> tuple[str, ...]:
    try:
        values = listed(args.getlist(name))
    except ValueError as problem:
        errors.append({"field": name, "message": str(problem)})
        return ()
    wrong = [value for value in values if value not in allowed]
    if wrong:
        errors.append({"field": name, "message": f"must be one of {', '.join(allowed)}"})
    return values


def _ids(args: QueryArgs, name: str, errors: list[dict[str, Any]]) -> tuple[int, ...]:
    try:
        values = listed(args.getlist(name))
        return tuple(whole_number(value, 1, MAX_ID) for value in values)
    except ValueError as problem:
        errors.append({"field": name, "message": str(problem)})
        return ()


def parse_instance_query(
    args: QueryArgs | None = None,
) -> tuple[InstanceFilter, int, tuple[datetime, int] | None]:
    """(filter, page size, position after which the page starts) or a 400 naming each problem."""
    args = request.args if args is None else args
    errors: list[dict[str, Any]] = []
    unknown_parameters(args, INSTANCE_PARAMETERS, errors)
    time_from = query_time(args, "from", errors)
    time_to = query_time(args, "to", errors)
    if time_from and time_to and time_from >= time_to:
        errors.append({"field": "to", "message": "must be after from"})
    found = InstanceFilter(
        states=choices_of(args, "state", STATES, errors),
        rule_ids=_ids(args, "rule_id", errors),
        severities=choices_of(args, "severity", SEVERITIES, errors),
        time_from=time_from,
        time_to=time_to,
    )
    limit, before = page_of(args, errors)
    if errors:
        raise invalid_query(errors)
    return found, limit, before


def parse_history_query(args: QueryArgs | None = None) -> tuple[int, int | None]:
    """(page size, the id after which the page starts) or a 400 naming each problem."""
    args = request.args if args is None else args
    errors: list[dict[str, Any]] = []
    unknown_parameters(args, PAGE_PARAMETERS, errors)
    limit, before = page_of(args, errors)
    if errors:
        raise invalid_query(errors)
    return limit, None if before is None else before[1]
