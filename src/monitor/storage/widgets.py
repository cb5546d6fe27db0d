"""SQL for widgets one at a time: read, list, create, replace (or move), delete.

Each change locks the widget's dashboard first (both, lowest id first, when a
widget moves between dashboards), checks the place and the version
condition, bumps the versions of the widget and of its dashboards, and
writes its audit row, in one transaction.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from monitor.domain.audit import Attribution, AuditEntry
from monitor.domain.dashboards import (
    MAX_WIDGETS_PER_DASHBOARD,
    Conflict,
    NotFound,
    VersionCondition,
    actor_label,
)
from monitor.domain.grid import Placement
from monitor.storage.audit import record_change
from monitor.storage.dashboard_rows import (
    WIDGET_COLUMNS,
    WidgetFields,
    WidgetRecord,
    bump_versions,
    check_overlaps,
    check_version,
    dashboard_row,
    insert_widget,
    place_below,
    widget_row,
    widgets_of,
    xywh,
)
from monitor.storage.gateway import Connection, Gateway

# A widget whose dashboard changed between reading it and locking it is read again.
MOVE_RETRIES = 3


async def get_widget(gateway: Gateway, widget_id: int) -> WidgetRecord | None:
    return await gateway.run(lambda connection: widget_row(connection, widget_id, lock=False))


async def list_widgets(
    gateway: Gateway, *, dashboard_id: int | None, after: int | None, limit: int
) -> list[WidgetRecord]:
    """Widgets by id, of one dashboard or of all; `after` continues after a page's last id."""
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    if dashboard_id is not None:
        clauses.append(sql.SQL("w.dashboard_id = %s"))
        params.append(dashboard_id)
    if after is not None:
        clauses.append(sql.SQL("w.id > %s"))
        params.append(after)
    where = sql.SQL(" where ") + sql.SQL(" and ").join(clauses) if clauses else sql.SQL("")
    query = sql.SQL("select {} from widgets w{} order by w.id limit %s").format(
        WIDGET_COLUMNS, where
    )
    params.append(limit)

    def work(connection: Connection) -> list[WidgetRecord]:
        with connection.cursor(row_factory=class_row(WidgetRecord)) as cursor:
            return cursor.execute(query, params).fetchall()

    return await gateway.run(work)


def _default_dashboard_id(connection: Connection) -> int:
    row = connection.execute("select id from dashboards where is_default").fetchone()
    if row is None:
        raise Conflict("there is no default dashboard; give dashboard_id", "default-required")
    return int(row[0])


def _check_room_for_widget(connection: Connection, dashboard_id: int) -> None:
    row = connection.execute(
        "select count(*) from widgets where dashboard_id = %s", (dashboard_id,)
    ).fetchone()
    assert row is not None
    if row[0] >= MAX_WIDGETS_PER_DASHBOARD:
        raise Conflict(
            f"dashboard {dashboard_id} holds {row[0]} widgets; at most {MAX_WIDGETS_PER_DASHBOARD}",
            "limit",
        )


async def create_widget(gateway: Gateway, fields: WidgetFields, *, by: Attribution) -> WidgetRecord:
    """A new widget on its dashboard (the default when none is given)."""
    label = actor_label(by.actor)

    def work(connection: Connection) -> WidgetRecord:
        dashboard_id = fields.dashboard_id or _default_dashboard_id(connection)
        if dashboard_row(connection, dashboard_id, lock=True) is None:
            raise NotFound("dashboard", dashboard_id)
        _check_room_for_widget(connection, dashboard_id)
        others = widgets_of(connection, dashboard_id, lock=False)
        placement = fields.placement or place_below([w.placement for w in others], fields)
        placed: dict[int | str, Placement] = {w.id: w.placement for w in others}
        check_overlaps({**placed, "new": placement})
        created = insert_widget(connection, dashboard_id, fields, placement, label)
        bump_versions(connection, [dashboard_id], label)
        record_change(
            connection,
            AuditEntry(by, "widget", str(created.id), "create", after=created.snapshot()),
        )
        return created

    return await gateway.run(work)


def _lock_widget(
    connection: Connection, widget_id: int, target_dashboard: int | None
) -> WidgetRecord:
    """The widget, locked after its dashboard (and `target_dashboard`), in id order."""
    for _ in range(MOVE_RETRIES):
        found = widget_row(connection, widget_id, lock=False)
        if found is None:
            raise NotFound("widget", widget_id)
        for dashboard_id in sorted({found.dashboard_id, target_dashboard or found.dashboard_id}):
            if dashboard_row(connection, dashboard_id, lock=True) is None:
                if dashboard_id == found.dashboard_id:  # deleted meanwhile, with its widgets
                    raise NotFound("widget", widget_id)
                raise NotFound("dashboard", dashboard_id)
        locked = widget_row(connection, widget_id, lock=True)
        if locked is None:
            raise NotFound("widget", widget_id)
        if locked.dashboard_id == found.dashboard_id:
            return locked
    raise Conflict(f"widget {widget_id} kept moving between dashboards; try again", "busy")


async def update_widget(
    gateway: Gateway,
    widget_id: int,
    fields: WidgetFields,
    *,
    condition: VersionCondition | None,
    by: Attribution,
) -> WidgetRecord:
    """Replace a widget's fields (moving it to `fields.dashboard_id` if given)."""
    label = actor_label(by.actor)
    placement = fields.placement
    if placement is None:
        raise ValueError("an update gives the widget's place")

    def work(connection: Connection) -> WidgetRecord:
        before = _lock_widget(connection, widget_id, fields.dashboard_id)
        check_version("widget", widget_id, before.version, condition)
        target = fields.dashboard_id or before.dashboard_id
        after = replace(
            before,
            dashboard_id=target,
            title=fields.title,
            kind=fields.kind,
            query=dict(fields.query),
            options=dict(fields.options),
            x=placement.x,
            y=placement.y,
            w=placement.w,
            h=placement.h,
        )
        if after == before:
            return before
        if target != before.dashboard_id:
            _check_room_for_widget(connection, target)
        others = [w for w in widgets_of(connection, target, lock=False) if w.id != widget_id]
        check_overlaps({**{w.id: w.placement for w in others}, widget_id: placement})
        query = sql.SQL("""
            update widgets w set dashboard_id = %s, title = %s, kind = %s, query = %s,
                options = %s, x = %s, y = %s, w = %s, h = %s, version = version + 1,
                updated_at = now(), updated_by = %s
            where id = %s returning {}
        """).format(WIDGET_COLUMNS)
        with connection.cursor(row_factory=class_row(WidgetRecord)) as cursor:
            updated = cursor.execute(
                query,
                (
                    target,
                    after.title,
                    after.kind,
                    Jsonb(after.query),
                    Jsonb(after.options),
                    *xywh(after.placement),
                    label,
                    widget_id,
                ),
            ).fetchone()
        assert updated is not None
        bump_versions(connection, sorted({before.dashboard_id, target}), label)
        record_change(
            connection,
            AuditEntry(
                by,
                "widget",
                str(widget_id),
                "update",
                before=before.snapshot(),
                after=updated.snapshot(),
            ),
        )
        return updated

    return await gateway.run(work)


async def delete_widget(
    gateway: Gateway,
    widget_id: int,
    *,
    condition: VersionCondition | None,
    by: Attribution,
) -> None:
    label = actor_label(by.actor)

    def work(connection: Connection) -> None:
        before = _lock_widget(connection, widget_id, None)
        check_version("widget", widget_id, before.version, condition)
        connection.execute("delete from widgets where id = %s", (widget_id,))
        bump_versions(connection, [before.dashboard_id], label)
        record_change(
            connection,
            AuditEntry(by, "widget", str(widget_id), "delete", before=before.snapshot()),
        )

    await gateway.run(work)
