"""The Events page (read): events newest first, filtered by a GET form, with a live tail;
and one event's detail.

The filters are the API's (`GET /api/v1/events`, the same parser and the
same query, web/api/events/listing.py), kept in the URL so that a list can
be shared and back and forward work; paging is the API's keyset cursor.
A bad filter answers 400 with the form and the reasons. The live tail is
static/events.js: it subscribes on the websocket with what `live_filter`
gives it and prepends the events that match.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, request

from monitor.domain.events import LEVELS
from monitor.storage import events as event_store
from monitor.storage.errors import StorageUnavailable
from monitor.web.api.events.listing import newest_events
from monitor.web.api.events.query import parse_event_filter, parse_page
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.sessions import current_session
from monitor.web.ui.event_filters import api_query, live_filter, shown_filters
from monitor.web.ui.navigation import page_named
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page

blueprint = Blueprint("ui_events", __name__)

EVENTS = page_named("events")
PAGE_SIZE = 50
# The live tail keeps at most this many rows (static/events.js reads it from the page).
LIVE_ROWS = 200


@contextlib.contextmanager
def shown_as_a_page_if_down() -> Iterator[None]:
    """A database outage as a 503 page in the shell (with Retry-After), not a JSON problem."""
    try:
        yield
    except StorageUnavailable as outage:
        raise ProblemError(
            503,
            "the database cannot be reached just now; try again shortly",
            kind="storage-unavailable",
            headers={"Retry-After": str(outage.retry_after_seconds)},
        ) from None


def _older_link(cursor: str) -> str:
    kept = [(name, value) for name, value in request.args.items(multi=True) if name != "cursor"]
    return EVENTS.path + "?" + urlencode([*kept, ("cursor", cursor)])


@blueprint.get(EVENTS.path)
@session_page(EVENTS.role)
async def events_page() -> Response:
    common: dict[str, Any] = {
        "session": await current_session(),
        "current": EVENTS,
        "filters": shown_filters(request.args),
        "levels": LEVELS,
        "live_rows": LIVE_ROWS,
    }
    query, form_errors = api_query(request.args, page_size=PAGE_SIZE)
    problems = [f"{item['field']}: {item['message']}" for item in form_errors]
    try:
        event_filter = parse_event_filter(query)
        limit, before = parse_page(query)
    except ProblemError as invalid:
        if invalid.status != 400:
            raise
        problems += [f"{item['field']}: {item['message']}" for item in invalid.errors or []]
    if problems:
        return await render_page("events.html", status=400, rows=[], problems=problems, **common)
    with shown_as_a_page_if_down():
        rows, next_cursor = await newest_events(
            current_deps().gateway, event_filter, limit=limit, before=before
        )
    return await render_page(
        "events.html",
        rows=rows,
        problems=[],
        older_link=_older_link(next_cursor) if next_cursor else None,
        # Live rows belong on the newest page only, above its newest row.
        live=live_filter(event_filter) if before is None else None,
        **common,
    )


def attribute_text(value: Any) -> str:
    """An attribute's value as JSON (so "500" and 500 look different), nested ones indented."""
    indent = 2 if isinstance(value, dict | list) and value else None
    return json.dumps(value, ensure_ascii=False, indent=indent)


@blueprint.get(EVENTS.path + "/<event_id>")
@session_page(EVENTS.role)
async def event_page(event_id: str) -> Response:
    try:
        wanted = uuid.UUID(event_id)
    except ValueError:
        wanted = None
    with shown_as_a_page_if_down():
        event = await event_store.get_event(current_deps().gateway, wanted) if wanted else None
    if event is None:
        raise ProblemError(404, f"no event with id {event_id[:64]}", kind="not-found")
    return await render_page(
        "event.html",
        session=await current_session(),
        current=EVENTS,
        event=event,
        level=LEVELS[event.level],
        attributes=sorted((key, attribute_text(value)) for key, value in event.attributes.items()),
    )
