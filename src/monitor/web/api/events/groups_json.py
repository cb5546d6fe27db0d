"""An error group as the API answers it: the events routes' groups and the dashboard's top list."""

from __future__ import annotations

from typing import Any

from monitor.storage.events import EventGroup
from monitor.web.api.events.rows import level_name


def group_as_json(group: EventGroup) -> dict[str, Any]:
    return {
        "id": group.id,
        "fingerprint": group.fingerprint,
        "type": group.type,
        "source": group.source,
        "level": level_name(group.level),
        "message": group.message,
        "first_seen": group.first_seen,
        "last_seen": group.last_seen,
        "count": group.count,
        "count_in_range": group.count_in_range,
        "status": group.status,
    }
