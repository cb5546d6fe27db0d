"""Dashboards and widgets: their limits, versions, and the reasons a change is refused.

Versions: every dashboard and widget carries a `version`, 1 when created and
one more at each change. A dashboard's version counts changes to the
dashboard *and to its widgets* (what `GET /api/v1/dashboards/<id>` shows, so
a layout read with it is still the layout while the version is the same); a
widget's counts its own. A change made with a version condition (If-Match)
happens only if the stored version satisfies it.

One dashboard is the default (shown first). It stays so until another is
made the default: unsetting it or deleting it is refused, so there is always
exactly one once the first exists (migration 0010 creates it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.domain.audit import Actor
from monitor.domain.json_documents import JsonLimits

MAX_DASHBOARDS = 500
MAX_WIDGETS_PER_DASHBOARD = 100
# A query is an object of scalars and lists; one level more lets the shape check
# (domain/widget_queries.py) name a value nested by mistake.
QUERY_LIMITS = JsonLimits(max_bytes=8 * 1024, max_depth=3)
OPTIONS_LIMITS = JsonLimits(max_bytes=16 * 1024, max_depth=8)

EXPORT_FORMAT = "monitor.dashboard"
EXPORT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class VersionCondition:
    """Which stored versions a change may apply to (from If-Match). `tags` None: any."""

    tags: frozenset[str] | None

    def allows(self, version: int) -> bool:
        return self.tags is None or str(version) in self.tags


def actor_label(actor: Actor) -> str:
    """Who last changed a dashboard or widget, as listings show it."""
    if actor.kind == "key":
        return f"{actor.name} ({actor.prefix})"
    return actor.kind if actor.name is None else f"{actor.kind}:{actor.name}"


class DashboardRefused(Exception):
    """A change to dashboards or widgets that the stored state does not allow."""


class NotFound(DashboardRefused):
    def __init__(self, what: str, item_id: int) -> None:
        super().__init__(f"no {what} with id {item_id}")
        self.what = what
        self.item_id = item_id


class StaleVersion(DashboardRefused):
    """The version condition names none of the stored version; nothing changed."""

    def __init__(self, what: str, item_id: int, current: int) -> None:
        super().__init__(f"the {what} {item_id} is at version {current}")
        self.what = what
        self.item_id = item_id
        self.current = current


class Conflict(DashboardRefused):
    """The change would break a rule of the stored whole: a name in use, the one
    default, a limit, two widgets on one cell. `kind` names the rule."""

    def __init__(self, detail: str, kind: str) -> None:
        super().__init__(detail)
        self.kind = kind


class InvalidChange(DashboardRefused):
    """The request names things that are not there (a widget not on the dashboard)."""

    def __init__(self, errors: Sequence[Mapping[str, Any]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = list(errors)
