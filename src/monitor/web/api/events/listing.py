"""One page of events, newest first, and the cursor of the page after it.

Shared by `GET /api/v1/events` and the UI's events page, so both answer the
same rows for the same filters.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from monitor.domain.cursors import encode_cursor
from monitor.domain.events import EventFilter
from monitor.storage import events as event_store
from monitor.storage.gateway import Gateway


async def newest_events(
    gateway: Gateway,
    event_filter: EventFilter,
    *,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> tuple[list[event_store.StoredEvent], str | None]:
    """Up to `limit` events older than `before`, and the next page's cursor (None at the end)."""
    events = await event_store.list_events(gateway, event_filter, limit=limit + 1, before=before)
    page = events[:limit]
    next_cursor = encode_cursor(page[-1].time, page[-1].id) if len(events) > limit else None
    return page, next_cursor
