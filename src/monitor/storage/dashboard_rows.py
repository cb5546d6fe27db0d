"""Dashboard and widget rows, and the steps every change to them shares.

storage/dashboards.py (dashboards, layout, import) and storage/widgets.py
(one widget at a time) make their changes from these. Locks: a change to
widgets locks its dashboard's row first (`dashboard_row(..., lock=True)`), so
the overlap check and the widget count see every other widget change on
that dashboard; rows are always locked dashboard before widget, so two
changes cannot deadlock. Refusals raise the exceptions of
domain/dashboards.py inside the transaction, which rolls it back: a refused
change leaves nothing behind, audit row included.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from monitor.domain.dashboards import Conflict, StaleVersion, VersionCondition
from monitor.domain.grid import (
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    MAX_ROWS,
    Placement,
    first_free_row,
    overlapping,
)
from monitor.storage.gateway import Connection

K = TypeVar("K", bound=Hashable)

DASHBOARD_COLUMNS = sql.SQL(
    "d.id, d.name, d.description, d.is_default, d.version, d.created_at, d.created_by, "
    "d.updated_at, d.updated_by, "
    "(select count(*) from widgets c where c.dashboard_id = d.id)::integer as widget_count"
)
WIDGET_COLUMNS = sql.SQL(
    "w.id, w.dashboard_id, w.title, w.kind, w.query, w.options, w.x, w.y, w.w, w.h, "
    "w.version, w.created_at, w.created_by, w.updated_at, w.updated_by"
)


@dataclass(frozen=True)
class DashboardRecord:
    id: int
    name: str
    description: str
    is_default: bool
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    widget_count: int

    def snapshot(self) -> dict[str, Any]:
        """What the audit log keeps of it."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "is_default": self.is_default,
            "version": self.version,
        }


@dataclass(frozen=True)
class WidgetRecord:
    id: int
    dashboard_id: int
    title: str
    kind: str
    query: dict[str, Any]
    options: dict[str, Any]
    x: int
    y: int
    w: int
    h: int
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @property
    def placement(self) -> Placement:
        return Placement(self.x, self.y, self.w, self.h)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dashboard_id": self.dashboard_id,
            "title": self.title,
            "kind": self.kind,
            "query": self.query,
            "options": self.options,
            **self.placement.as_dict(),
            "version": self.version,
        }


@dataclass(frozen=True)
class DashboardDocument:
    """A dashboard with its widgets, top to bottom, left to right."""

    dashboard: DashboardRecord
    widgets: list[WidgetRecord]


@dataclass(frozen=True)
class DashboardFields:
    name: str
    description: str
    is_default: bool | None  # None: as it is (false for a new dashboard)


@dataclass(frozen=True)
class WidgetFields:
    title: str
    kind: str
    query: Mapping[str, Any]
    options: Mapping[str, Any]
    placement: Placement | None  # None: below every other widget (creation only)
    dashboard_id: int | None  # None: the default dashboard (create) or where it is (update)
    size: tuple[int, int] = (DEFAULT_WIDTH, DEFAULT_HEIGHT)  # (w, h) when placed below


@dataclass(frozen=True)
class LayoutMove:
    widget_id: int
    x: int
    y: int
    w: int | None  # None: as it is
    h: int | None


def dashboard_row(
    connection: Connection, dashboard_id: int, *, lock: bool
) -> DashboardRecord | None:
    query = sql.SQL("select {} from dashboards d where d.id = %s{}").format(
        DASHBOARD_COLUMNS, sql.SQL(" for update of d") if lock else sql.SQL("")
    )
    with connection.cursor(row_factory=class_row(DashboardRecord)) as cursor:
        return cursor.execute(query, (dashboard_id,)).fetchone()


def widgets_of(connection: Connection, dashboard_id: int, *, lock: bool) -> list[WidgetRecord]:
    query = sql.SQL(
        "select {} from widgets w where w.dashboard_id = %s order by y, x, id{}"
    ).format(WIDGET_COLUMNS, sql.SQL(" for update") if lock else sql.SQL(""))
    with connection.cursor(row_factory=class_row(WidgetRecord)) as cursor:
        return cursor.execute(query, (dashboard_id,)).fetchall()


def widget_row(connection: Connection, widget_id: int, *, lock: bool) -> WidgetRecord | None:
    query = sql.SQL("select {} from widgets w where w.id = %s{}").format(
        WIDGET_COLUMNS, sql.SQL(" for update") if lock else sql.SQL("")
    )
    with connection.cursor(row_factory=class_row(WidgetRecord)) as cursor:
        return cursor.execute(query, (widget_id,)).fetchone()


def document_of(connection: Connection, dashboard_id: int) -> DashboardDocument | None:
    dashboard = dashboard_row(connection, dashboard_id, lock=False)
    if dashboard is None:
        return None
    return DashboardDocument(dashboard, widgets_of(connection, dashboard_id, lock=False))


def check_version(
    what: str, item_id: int, version: int, condition: VersionCondition | None
) -> None:
    if condition is not None and not condition.allows(version):
        raise StaleVersion(what, item_id, version)


def bump_versions(connection: Connection, dashboard_ids: Sequence[int], label: str) -> None:
    """One more version for dashboards whose widgets changed."""
    connection.execute(
        "update dashboards set version = version + 1, updated_at = now(), updated_by = %s "
        "where id = any(%s)",
        (label, list(dashboard_ids)),
    )


def check_overlaps(placed: Mapping[K, Placement], naming: str = "widget") -> None:
    pairs = overlapping(placed)
    if pairs:
        shown = "; ".join(f"{naming} {a} and {naming} {b}" for a, b in pairs[:10])
        raise Conflict(f"widgets may not share a cell of the grid: {shown}", "widget-overlap")


def insert_widget(
    connection: Connection,
    dashboard_id: int,
    fields: WidgetFields,
    placement: Placement,
    label: str,
) -> WidgetRecord:
    query = sql.SQL("""
        insert into widgets as w (dashboard_id, title, kind, query, options, x, y, w, h,
                                  created_by, updated_by)
        values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        returning {}
    """).format(WIDGET_COLUMNS)
    with connection.cursor(row_factory=class_row(WidgetRecord)) as cursor:
        record = cursor.execute(
            query,
            (
                dashboard_id,
                fields.title,
                fields.kind,
                Jsonb(fields.query),
                Jsonb(fields.options),
                placement.x,
                placement.y,
                placement.w,
                placement.h,
                label,
                label,
            ),
        ).fetchone()
    assert record is not None
    return record


def place_below(placements: Sequence[Placement], item: WidgetFields) -> Placement:
    row = first_free_row(placements)
    width, height = item.size
    if row + height > MAX_ROWS:
        raise Conflict(
            f"no room below the last widget for {item.title!r}; give it x and y", "grid-full"
        )
    return Placement(0, row, width, height)


def xywh(placement: Placement) -> tuple[int, int, int, int]:
    return placement.x, placement.y, placement.w, placement.h
