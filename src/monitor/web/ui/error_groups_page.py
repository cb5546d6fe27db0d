"""The Error groups pages: the list by events in a range, one group, and its status form.

The list is the dashboard API's own `top/errors` answer (shared per
1-minute tick with every API client asking the same), at most LIST_LIMIT
groups; each group's status is then read as it is now, so a change shows at
once and a group that left the chosen status leaves the list (decision
0050). One group is read directly: its row, its trend over the range, its
newest events.

Changing a status goes through the API's own steps
(web/api/events/group_status.py), so the same input is refused and the
same audit row is written. Without JavaScript the form's POST answers 303
back to the page it came from, which says what changed; through htmx only
the group's status is swapped.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import msgspec
from markupsafe import Markup
from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from monitor.domain.keys import Role
from monitor.domain.ranges import resolve
from monitor.domain.sessions import safe_next
from monitor.storage import dashboard_reads
from monitor.storage import events as event_store
from monitor.storage.dashboard_reads import Period
from monitor.storage.errors import StorageUnavailable
from monitor.storage.events import EventGroup, StoredEvent
from monitor.web.api.dashboard import answers, top
from monitor.web.api.dashboard.answers import RANGE_PARAMETERS, shared_body, unknown_parameters
from monitor.web.api.dashboard.ranges import asked_range
from monitor.web.api.events.group_status import MAX_GROUP_ID, change_status, status_from_form
from monitor.web.api.events.query import GROUP_STATUSES
from monitor.web.api.events.rows import level_name
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import QueryArgs, invalid_query
from monitor.web.edge.sessions import csrf_token, current_session
from monitor.web.ui.navigation import page_named
from monitor.web.ui.overview_view import RANGE_CHOICES, span_words, utc_label
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page, wants_fragment
from monitor.web.ui.sparkline import sparkline

blueprint = Blueprint("ui_error_groups", __name__)

ERROR_GROUPS = page_named("error-groups")
TOP_ERRORS_ROUTE = "/dashboard/top/errors"  # the API route's key for its shared answers
# The page shows the busiest 50 (and says so): 100 rows, the most the API's top list
# gives, took ~2x the 50 ms aim to render on a busy machine.
LIST_LIMIT = 50
RECENT_EVENTS = 20
STATUS_FILTERS = (*GROUP_STATUSES, "all")
DEFAULT_STATUS = "open"
CHANGED = "changed"  # the group a status form just changed, for the page's notice
LIST_PARAMETERS = RANGE_PARAMETERS | {"status", CHANGED}
GROUP_PARAMETERS = RANGE_PARAMETERS | {CHANGED}
EVENTS_PATH = "/ui/events"
_GROUP_PATH = re.compile(re.escape(ERROR_GROUPS.path) + r"/[0-9]{1,20}")

_decode = msgspec.json.Decoder().decode

# Each status's <option>s, that one selected: written once, not once per row of a list.
STATUS_OPTIONS = {
    current: Markup("").join(
        Markup('<option value="{0}"{1}>{0}</option>').format(
            choice, Markup(" selected") if choice == current else ""
        )
        for choice in GROUP_STATUSES
    )
    for current in GROUP_STATUSES
}


@contextlib.contextmanager
def _database_needed() -> Iterator[None]:
    """An outage is a 503 page with Retry-After, as the API answers it."""
    try:
        yield
    except StorageUnavailable as outage:
        raise ProblemError(
            503,
            "the database cannot be reached just now; try again in a moment",
            kind="storage-unavailable",
            headers={"Retry-After": str(outage.retry_after_seconds)},
        ) from None


def _status_filter(args: QueryArgs, errors: list[dict[str, Any]]) -> str:
    given = args.getlist("status")
    if len(given) > 1:
        errors.append({"field": "status", "message": "give one status"})
        return DEFAULT_STATUS
    status = (given[0] if given else "") or DEFAULT_STATUS
    if status not in STATUS_FILTERS:
        errors.append({"field": "status", "message": f"must be one of {', '.join(STATUS_FILTERS)}"})
    return status


def _changed_id(args: QueryArgs) -> int | None:
    raw = args.get(CHANGED, "")
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) <= MAX_GROUP_ID else None


def _range_pairs(args: QueryArgs) -> list[tuple[str, str]]:
    return [(name, value) for name in sorted(RANGE_PARAMETERS) for value in args.getlist(name)]


def _here() -> str:
    """This page's address without the notice, for a status form to come back to."""
    kept = [(name, value) for name, value in request.args.items(multi=True) if name != CHANGED]
    return request.path + ("?" + urlencode(kept) if kept else "")


def return_to(raw: str | None, group_id: int) -> str:
    """Where a status form's POST sends the browser: the list or a group's page, as `raw`
    names it (its filters kept, its notice now about this group), else the list. On the
    list, at the group's row: still there, it shows the new status; gone (it left the
    status shown), the browser stays at the top, where the notice is."""
    parts = urlsplit(safe_next(raw))
    on_list = parts.path == ERROR_GROUPS.path
    if not on_list and _GROUP_PATH.fullmatch(parts.path) is None:
        parts, on_list = urlsplit(ERROR_GROUPS.path), True
    kept = [(name, value) for name, value in parse_qsl(parts.query) if name != CHANGED]
    location = parts.path + "?" + urlencode([*kept, (CHANGED, str(group_id))])
    return location + (f"#group-{group_id}" if on_list else "")


async def _notice(changed: int | None) -> str | None:
    if changed is None:
        return None
    group = await event_store.get_group(current_deps().gateway, changed)
    return None if group is None else f"Group #{group.id} is now {group.status}."


def _parsed_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def _page(template: str, **context: Any) -> Response:
    session = await current_session()
    assert session is not None  # session_page saw it
    return await render_page(
        template,
        session=session,
        current=ERROR_GROUPS,
        may_change=session.principal.role.may(Role.WRITE),
        status_options=STATUS_OPTIONS,
        # The same in every status form of the page: escaped once.
        status_form_fields=Markup(
            '<input type="hidden" name="csrf_token" value="{}">'
            '<input type="hidden" name="return_to" value="{}">'
        ).format(csrf_token(current_deps().secret_keys, session), _here()),
        here=_here(),
        utc_label=utc_label,
        **context,
    )


@blueprint.get(ERROR_GROUPS.path)
@session_page(ERROR_GROUPS.role)
async def error_groups() -> Response:
    args = request.args
    errors = unknown_parameters(args, LIST_PARAMETERS)
    status = _status_filter(args, errors)
    if errors:
        raise invalid_query(errors)
    asked = top.parse_top(
        "errors",
        MultiDict(
            [
                *_range_pairs(args),
                *([] if status == "all" else [("status", status)]),
                ("limit", str(LIST_LIMIT)),
            ]
        ),
        answers.now(),
    )
    gateway = current_deps().gateway
    with _database_needed():
        ranked = _decode(await shared_body(TOP_ERRORS_ROUTE, asked, top.compute_top))
        now_status = await event_store.group_statuses(
            gateway, [item["id"] for item in ranked["items"]]
        )
        notice = await _notice(_changed_id(args))
    groups = [
        {
            **item,
            "status": now_status[item["id"]],
            "first_seen": _parsed_time(item["first_seen"]),
            "last_seen": _parsed_time(item["last_seen"]),
            "spark": sparkline(item["trend"]),
        }
        for item in ranked["items"]
        if item["id"] in now_status and status in ("all", now_status[item["id"]])
    ]
    start, end = _parsed_time(ranked["from"]), _parsed_time(ranked["to"])
    return await _page(
        "error_groups.html",
        groups=groups,
        status_filter=status,
        status_filters=STATUS_FILTERS,
        chosen_range=args.get("range"),
        range_choices=RANGE_CHOICES,
        absolute_range="from" in args,
        period=span_words(end - start),
        window_from=start,
        window_to=end,
        bucket_words=span_words((end - start) / top.TREND_BUCKETS),
        list_limit=LIST_LIMIT,
        notice=notice,
    )


async def _group_reads(
    group_id: int, period: Period
) -> tuple[EventGroup | None, list[int], list[StoredEvent]]:
    """The group, its trend and its newest events."""
    gateway = current_deps().gateway
    with _database_needed():
        group = await event_store.get_group(gateway, group_id)
        if group is None:
            return None, [], []
        trend = await dashboard_reads.group_trend(
            gateway, group_id, period, buckets=top.TREND_BUCKETS
        )
        recent = await event_store.recent_group_events(gateway, group_id, limit=RECENT_EVENTS)
    return group, trend, recent


@blueprint.get(ERROR_GROUPS.path + "/<int:group_id>")
@session_page(ERROR_GROUPS.role)
async def error_group(group_id: int) -> Response:
    args = request.args
    errors = unknown_parameters(args, GROUP_PARAMETERS)
    if errors:
        raise invalid_query(errors)
    window = resolve(asked_range(args), top.TOP_TICK, answers.now())
    if group_id > MAX_GROUP_ID:
        raise ProblemError(404, f"no error group with id {group_id}", kind="not-found")
    group, trend, recent = await _group_reads(group_id, Period(window.start, window.end))
    if group is None:
        raise ProblemError(404, f"no error group with id {group_id}", kind="not-found")
    changed = _changed_id(args)
    return await _page(
        "error_group.html",
        group=group,
        level=level_name(group.level),
        spark=sparkline(trend),
        trend=trend,
        recent=recent,
        recent_limit=RECENT_EVENTS,
        events_path=EVENTS_PATH,
        chosen_range=args.get("range"),
        range_choices=RANGE_CHOICES,
        absolute_range="from" in args,
        period=span_words(window.end - window.start),
        window_from=window.start,
        window_to=window.end,
        bucket_words=span_words((window.end - window.start) / top.TREND_BUCKETS),
        notice=f"Group #{group.id} is now {group.status}." if changed == group_id else None,
    )


@blueprint.post(ERROR_GROUPS.path + "/<int:group_id>/status")
@session_page(Role.WRITE)
async def set_status(group_id: int) -> Response:
    form = await request.form
    status = status_from_form(form.get("status"))
    with _database_needed():
        group = await change_status(group_id, status)
    if wants_fragment():
        return await _page(
            "error_group_status.html", group={"id": group.id, "status": group.status}
        )
    location = return_to(form.get("return_to"), group.id)
    return Response("", status=303, headers={"Location": location, "Cache-Control": "no-store"})
