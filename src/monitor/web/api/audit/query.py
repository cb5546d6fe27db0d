"""Parse the audit log's query string, naming every bad parameter in one 400."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from quart import request

from monitor.domain.audit import AuditFilter
from monitor.domain.cursors import decode_numbered_cursor
from monitor.domain.query_values import listed, whole_number
from monitor.web.edge.query_checks import QueryArgs, invalid_query, query_time

PARAMETERS = frozenset({"resource", "action", "actor", "from", "to", "limit", "cursor"})
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append({"field": field, "message": message})


def _listed(args: QueryArgs, name: str, errors: _Errors) -> tuple[str, ...]:
    try:
        return listed(args.getlist(name))
    except ValueError as problem:
        errors.add(name, str(problem))
        return ()


def _actors(args: QueryArgs) -> tuple[str, ...]:
    # Taken whole, not split at commas: a key's name may contain one. How often
    # a parameter may repeat is bounded at the edge (query_values.MAX_REPEATS).
    return tuple(value for value in args.getlist("actor") if value.strip())


def parse_audit_query(
    args: QueryArgs | None = None,
) -> tuple[AuditFilter, int, tuple[datetime, int] | None]:
    """(filter, page size, position after which the page starts) or a 400 problem.

    `args` is the request's query string unless given (the web UI's page adjusts it first).
    """
    if args is None:
        args = request.args
    errors = _Errors()
    for name in args:
        if name not in PARAMETERS:
            errors.add(name, "is not a known parameter")
    time_from = query_time(args, "from", errors.items)
    time_to = query_time(args, "to", errors.items)
    if time_from and time_to and time_from >= time_to:
        errors.add("to", "must be after from")
    limit = DEFAULT_LIMIT
    raw_limit = args.get("limit")
    if raw_limit:
        try:
            limit = whole_number(raw_limit, 1, MAX_LIMIT)
        except ValueError as problem:
            errors.add("limit", str(problem))
    before = None
    cursor = args.get("cursor")
    if cursor:
        try:
            before = decode_numbered_cursor(cursor)
        except ValueError:
            errors.add("cursor", "is not a cursor this service returned")
    audit_filter = AuditFilter(
        resources=_listed(args, "resource", errors),
        actions=_listed(args, "action", errors),
        actors=_actors(args),
        time_from=time_from,
        time_to=time_to,
    )
    if errors.items:
        raise invalid_query(errors.items)
    return audit_filter, limit, before
