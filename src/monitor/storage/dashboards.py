"""SQL for dashboards: create, replace, delete, layout, export's reading and import.

A change to the set of dashboards (create, import, rename, moving the
default, delete) holds one transaction-level advisory lock, so the name
check, the count limit and the one default see every other such change.
Each change is versioned and audited in its own transaction; one that
changes nothing bumps no version and writes no row. (Widgets one at a time:
storage/widgets.py; rows and shared steps: storage/dashboard_rows.py.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from monitor.domain.audit import Attribution, AuditEntry
from monitor.domain.dashboards import (
    MAX_DASHBOARDS,
    MAX_WIDGETS_PER_DASHBOARD,
    Conflict,
    InvalidChange,
    NotFound,
    VersionCondition,
    actor_label,
)
from monitor.domain.grid import Placement, placement_problems
from monitor.storage.audit import record_change
from monitor.storage.dashboard_rows import (
    DASHBOARD_COLUMNS,
    DashboardDocument,
    DashboardFields,
    DashboardRecord,
    LayoutMove,
    WidgetFields,
    bump_versions,
    check_overlaps,
    check_version,
    dashboard_row,
    document_of,
    insert_widget,
    place_below,
    widgets_of,
    xywh,
)
from monitor.storage.gateway import Connection, Gateway

# Serialises changes to the set of dashboards between requests and instances.
DASHBOARDS_LOCK_ID = 7_236_300


async def list_dashboards(gateway: Gateway) -> list[DashboardRecord]:
    """Every dashboard (at most MAX_DASHBOARDS), the default first, then by name."""
    query = sql.SQL("select {} from dashboards d order by d.is_default desc, lower(d.name), d.id")

    def work(connection: Connection) -> list[DashboardRecord]:
        with connection.cursor(row_factory=class_row(DashboardRecord)) as cursor:
            return cursor.execute(query.format(DASHBOARD_COLUMNS)).fetchall()

    return await gateway.run(work)


async def get_dashboard(gateway: Gateway, dashboard_id: int) -> DashboardDocument | None:
    return await gateway.run(lambda connection: document_of(connection, dashboard_id))


def _lock_dashboard_set(connection: Connection) -> None:
    connection.execute("select pg_advisory_xact_lock(%s)", (DASHBOARDS_LOCK_ID,))


def _check_name_free(connection: Connection, name: str, *, other_than: int | None) -> None:
    row = connection.execute(
        "select id from dashboards where lower(name) = lower(%s) and id is distinct from %s",
        (name, other_than),
    ).fetchone()
    if row is not None:
        raise Conflict(f"the name {name!r} is taken by dashboard {row[0]}", "name-taken")


def _check_room_for_dashboard(connection: Connection) -> None:
    row = connection.execute("select count(*) from dashboards").fetchone()
    assert row is not None
    if row[0] >= MAX_DASHBOARDS:
        raise Conflict(f"there are {row[0]} dashboards; at most {MAX_DASHBOARDS}", "limit")


def _take_default(connection: Connection, dashboard_id: int | None, label: str) -> int | None:
    """Unset the current default (unless it is `dashboard_id`); its id, if one was unset."""
    row = connection.execute(
        """
        update dashboards set is_default = false, version = version + 1,
            updated_at = now(), updated_by = %s
        where is_default and id is distinct from %s
        returning id
        """,
        (label, dashboard_id),
    ).fetchone()
    return None if row is None else int(row[0])


def _locked(
    connection: Connection, dashboard_id: int, condition: VersionCondition | None
) -> DashboardRecord:
    """The dashboard, its row locked, at a version `condition` allows."""
    found = dashboard_row(connection, dashboard_id, lock=True)
    if found is None:
        raise NotFound("dashboard", dashboard_id)
    check_version("dashboard", dashboard_id, found.version, condition)
    return found


def _default_required(dashboard_id: int, instead: str) -> Conflict:
    return Conflict(
        f"dashboard {dashboard_id} is the default; make another dashboard the default {instead}",
        "default-required",
    )


def _insert_dashboard(
    connection: Connection, name: str, description: str, is_default: bool, label: str
) -> DashboardRecord:
    row = connection.execute(
        """
        insert into dashboards (name, description, is_default, created_by, updated_by)
        values (%s, %s, %s, %s, %s) returning id
        """,
        (name, description, is_default, label, label),
    ).fetchone()
    assert row is not None
    created = dashboard_row(connection, int(row[0]), lock=False)
    assert created is not None
    return created


async def create_dashboard(
    gateway: Gateway, fields: DashboardFields, *, by: Attribution
) -> DashboardRecord:
    """A new, empty dashboard. Made the default if asked (or if none is)."""
    label = actor_label(by.actor)

    def work(connection: Connection) -> DashboardRecord:
        _lock_dashboard_set(connection)
        _check_room_for_dashboard(connection)
        _check_name_free(connection, fields.name, other_than=None)
        moved_from = _take_default(connection, None, label) if fields.is_default else None
        has_default = connection.execute(
            "select exists (select 1 from dashboards where is_default)"
        ).fetchone() == (True,)
        created = _insert_dashboard(
            connection, fields.name, fields.description, not has_default, label
        )
        after: dict[str, Any] = created.snapshot()
        if moved_from is not None:
            after["default_moved_from"] = moved_from
        record_change(
            connection, AuditEntry(by, "dashboard", str(created.id), "create", after=after)
        )
        return created

    return await gateway.run(work)


async def update_dashboard(
    gateway: Gateway,
    dashboard_id: int,
    fields: DashboardFields,
    *,
    condition: VersionCondition | None,
    by: Attribution,
) -> DashboardRecord:
    """Rename, describe, or make it the default. NotFound, StaleVersion, Conflict."""
    label = actor_label(by.actor)

    def work(connection: Connection) -> DashboardRecord:
        _lock_dashboard_set(connection)
        before = _locked(connection, dashboard_id, condition)
        if fields.is_default is False and before.is_default:
            raise _default_required(dashboard_id, "instead (there is always one)")
        is_default = before.is_default or bool(fields.is_default)
        if (fields.name, fields.description, is_default) == (
            before.name,
            before.description,
            before.is_default,
        ):
            return before
        if fields.name.lower() != before.name.lower():
            _check_name_free(connection, fields.name, other_than=dashboard_id)
        moved_from = _take_default(connection, dashboard_id, label) if is_default else None
        connection.execute(
            """
            update dashboards set name = %s, description = %s, is_default = %s,
                version = version + 1, updated_at = now(), updated_by = %s
            where id = %s
            """,
            (fields.name, fields.description, is_default, label, dashboard_id),
        )
        after = dashboard_row(connection, dashboard_id, lock=False)
        assert after is not None
        snapshot: dict[str, Any] = after.snapshot()
        if moved_from is not None:
            snapshot["default_moved_from"] = moved_from
        record_change(
            connection,
            AuditEntry(
                by,
                "dashboard",
                str(dashboard_id),
                "update",
                before=before.snapshot(),
                after=snapshot,
            ),
        )
        return after

    return await gateway.run(work)


async def delete_dashboard(
    gateway: Gateway,
    dashboard_id: int,
    *,
    condition: VersionCondition | None,
    by: Attribution,
) -> None:
    """Delete a dashboard and its widgets; the default cannot be (Conflict)."""

    def work(connection: Connection) -> None:
        _lock_dashboard_set(connection)
        before = _locked(connection, dashboard_id, condition)
        if before.is_default:
            raise _default_required(dashboard_id, "before deleting it")
        widgets = widgets_of(connection, dashboard_id, lock=True)
        connection.execute("delete from dashboards where id = %s", (dashboard_id,))
        record_change(
            connection,
            AuditEntry(
                by,
                "dashboard",
                str(dashboard_id),
                "delete",
                before={**before.snapshot(), "widgets": [w.snapshot() for w in widgets]},
            ),
        )

    await gateway.run(work)


async def set_layout(
    gateway: Gateway,
    dashboard_id: int,
    moves: Sequence[LayoutMove],
    *,
    condition: VersionCondition | None,
    by: Attribution,
) -> DashboardDocument:
    """Move and resize many widgets of one dashboard at once, all or nothing.

    Widgets not named stay where they are. InvalidChange names a widget that
    is not on this dashboard or a place off the grid; Conflict names overlaps.
    """
    label = actor_label(by.actor)

    def work(connection: Connection) -> DashboardDocument:
        dashboard = _locked(connection, dashboard_id, condition)
        widgets = {w.id: w for w in widgets_of(connection, dashboard_id, lock=True)}
        placed = {wid: w.placement for wid, w in widgets.items()}
        errors: list[dict[str, Any]] = []
        for index, move in enumerate(moves):
            current = widgets.get(move.widget_id)
            if current is None:
                errors.append(
                    {
                        "field": f"widgets.{index}.id",
                        "message": f"no widget {move.widget_id} on dashboard {dashboard_id}",
                    }
                )
                continue
            w = current.w if move.w is None else move.w
            h = current.h if move.h is None else move.h
            for field, message in placement_problems(move.x, move.y, w, h):
                errors.append({"field": f"widgets.{index}.{field}", "message": message})
            placed[move.widget_id] = Placement(move.x, move.y, w, h)
        if errors:
            raise InvalidChange(errors)
        check_overlaps(placed)
        changed = [widgets[wid] for wid in widgets if placed[wid] != widgets[wid].placement]
        if not changed:
            return DashboardDocument(dashboard, list(widgets.values()))
        connection.cursor().executemany(
            """
            update widgets set x = %s, y = %s, w = %s, h = %s, version = version + 1,
                updated_at = now(), updated_by = %s
            where id = %s
            """,
            [(*xywh(placed[w.id]), label, w.id) for w in changed],
        )
        bump_versions(connection, [dashboard_id], label)
        record_change(
            connection,
            AuditEntry(
                by,
                "dashboard",
                str(dashboard_id),
                "layout",
                before={"widgets": [{"id": w.id, **w.placement.as_dict()} for w in changed]},
                after={"widgets": [{"id": w.id, **placed[w.id].as_dict()} for w in changed]},
            ),
        )
        document = document_of(connection, dashboard_id)
        assert document is not None
        return document

    return await gateway.run(work)


async def import_dashboard(
    gateway: Gateway,
    fields: DashboardFields,
    widgets: Sequence[WidgetFields],
    *,
    by: Attribution,
) -> DashboardDocument:
    """A new dashboard (not the default) holding `widgets`, all or nothing."""
    label = actor_label(by.actor)

    def work(connection: Connection) -> DashboardDocument:
        if len(widgets) > MAX_WIDGETS_PER_DASHBOARD:
            raise Conflict(
                f"{len(widgets)} widgets; a dashboard holds at most {MAX_WIDGETS_PER_DASHBOARD}",
                "limit",
            )
        _lock_dashboard_set(connection)
        _check_room_for_dashboard(connection)
        _check_name_free(connection, fields.name, other_than=None)
        placements = _placed_in_order(widgets)
        check_overlaps(dict(enumerate(placements)), naming="widgets item")
        created = _insert_dashboard(connection, fields.name, fields.description, False, label)
        for item, placement in zip(widgets, placements, strict=True):
            insert_widget(connection, created.id, item, placement, label)
        document = document_of(connection, created.id)
        assert document is not None
        record_change(
            connection,
            AuditEntry(
                by,
                "dashboard",
                str(created.id),
                "import",
                after={
                    **document.dashboard.snapshot(),
                    "widgets": [w.snapshot() for w in document.widgets],
                },
            ),
        )
        return document

    return await gateway.run(work)


def _placed_in_order(widgets: Sequence[WidgetFields]) -> list[Placement]:
    """Each widget's place; one given none goes below those before it."""
    placements: list[Placement] = []
    for item in widgets:
        if item.placement is not None:
            placements.append(item.placement)
        else:
            placements.append(place_below(placements, item))
    return placements
