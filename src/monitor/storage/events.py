"""SQL for events and error groups: group-commit COPY, queries, stats."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb, set_json_dumps

from monitor.domain.events import EventFilter, attribute_match_candidates
from monitor.messages import EventRow
from monitor.storage.errors import RowsRejected
from monitor.storage.gateway import Connection, Gateway

EPOCH = "1970-01-01T00:00:00Z"
COPY_COLUMNS = (
    "id",
    "time",
    "received_at",
    "type",
    "level",
    "source",
    "message",
    "attributes",
    "fingerprint",
    "trace_id",
    "group_id",
)
COPY_TYPES = (
    "uuid",
    "timestamptz",
    "timestamptz",
    "text",
    "int2",
    "text",
    "text",
    "jsonb",
    "text",
    "text",
    "int8",
)
_COPY_STATEMENT = sql.SQL("copy events ({}) from stdin (format binary)").format(
    sql.SQL(", ").join(sql.Identifier(column) for column in COPY_COLUMNS)
)
_EVENT_COLUMNS = sql.SQL(
    "id, time, received_at, type, level, source, message, attributes, fingerprint, "
    "trace_id, group_id"
)
_GROUP_COLUMNS = sql.SQL(
    "g.id, g.fingerprint, g.type, g.source, g.level, g.message, g.first_seen, g.last_seen, "
    "g.count, g.status"
)


def _json_passthrough(value: Any) -> bytes | str:
    """Attributes arrive already encoded by the web edge; anything else is dumped here."""
    if isinstance(value, bytes):
        return value
    import json

    return json.dumps(value)


@dataclass(frozen=True)
class StoredEvent:
    id: uuid.UUID
    time: datetime
    received_at: datetime
    type: str
    level: int
    source: str
    message: str
    attributes: dict[str, Any]
    fingerprint: str | None
    trace_id: str | None
    group_id: int | None


@dataclass(frozen=True)
class EventGroup:
    id: int
    fingerprint: str
    type: str
    source: str
    level: int
    message: str
    first_seen: datetime
    last_seen: datetime
    count: int
    status: str
    count_in_range: int | None = None


@dataclass(frozen=True)
class _GroupDraft:
    fingerprint: str
    type: str
    source: str
    level: int
    message: str
    first_seen: datetime
    last_seen: datetime
    count: int


def _group_drafts(rows: Sequence[EventRow]) -> list[_GroupDraft]:
    drafts: dict[str, _GroupDraft] = {}
    for row in rows:
        if not row.grouped or row.fingerprint is None:
            continue
        seen = drafts.get(row.fingerprint)
        if seen is None:
            drafts[row.fingerprint] = _GroupDraft(
                row.fingerprint, row.type, row.source, row.level, row.message, row.time, row.time, 1
            )
        else:
            drafts[row.fingerprint] = _GroupDraft(
                seen.fingerprint,
                seen.type,
                seen.source,
                max(seen.level, row.level),
                seen.message,
                min(seen.first_seen, row.time),
                max(seen.last_seen, row.time),
                seen.count + 1,
            )
    # Sorted, so concurrent transactions lock group rows in the same order.
    return [drafts[key] for key in sorted(drafts)]


def _upsert_groups(connection: Connection, drafts: list[_GroupDraft]) -> dict[str, int]:
    if not drafts:
        return {}
    rows = connection.execute(
        """
        insert into event_groups as g
            (fingerprint, type, source, level, message, first_seen, last_seen, count)
        select * from unnest(
            %s::text[], %s::text[], %s::text[], %s::int2[], %s::text[],
            %s::timestamptz[], %s::timestamptz[], %s::int8[]
        ) order by 1
        on conflict (fingerprint) do update set
            level = greatest(g.level, excluded.level),
            first_seen = least(g.first_seen, excluded.first_seen),
            last_seen = greatest(g.last_seen, excluded.last_seen),
            count = g.count + excluded.count,
            -- a resolved group that happens again is open again (a regression)
            status = case when g.status = 'resolved' then 'open' else g.status end
        returning fingerprint, id
        """,
        (
            [d.fingerprint for d in drafts],
            [d.type for d in drafts],
            [d.source for d in drafts],
            [d.level for d in drafts],
            [d.message for d in drafts],
            [d.first_seen for d in drafts],
            [d.last_seen for d in drafts],
            [d.count for d in drafts],
        ),
    ).fetchall()
    return {str(fingerprint): int(group_id) for fingerprint, group_id in rows}


def _copy_rows(connection: Connection, rows: Sequence[EventRow], group_ids: dict[str, int]) -> None:
    set_json_dumps(_json_passthrough, connection)
    with connection.cursor() as cursor, cursor.copy(_COPY_STATEMENT) as copy:
        copy.set_types(list(COPY_TYPES))
        for row in rows:
            group_id = group_ids.get(row.fingerprint) if row.grouped and row.fingerprint else None
            copy.write_row((*row[:10], group_id))


async def commit_events(gateway: Gateway, rows: Sequence[EventRow]) -> dict[str, int]:
    """Insert `rows` and update their error groups in one transaction.

    Returns fingerprint → group id for the grouped rows. Raises RowsRejected
    when PostgreSQL refuses the data itself, StorageUnavailable on an outage.
    """

    def work(connection: Connection) -> dict[str, int]:
        try:
            group_ids = _upsert_groups(connection, _group_drafts(rows))
            _copy_rows(connection, rows, group_ids)
        except (psycopg.DataError, psycopg.IntegrityError) as refused:
            raise RowsRejected(str(refused).strip()) from refused
        return group_ids

    return await gateway.run(work)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filter_clauses(
    event_filter: EventFilter, alias: str = ""
) -> tuple[list[sql.Composable], list[Any]]:
    """WHERE clauses (to be joined with AND) and their parameters."""

    def column(name: str) -> sql.Composable:
        return sql.Identifier(alias, name) if alias else sql.Identifier(name)

    clauses: list[sql.Composable] = []
    params: list[Any] = []
    if event_filter.types:
        clauses.append(sql.SQL("{} = any(%s)").format(column("type")))
        params.append(list(event_filter.types))
    if event_filter.levels:
        clauses.append(sql.SQL("{} = any(%s::int2[])").format(column("level")))
        params.append(list(event_filter.levels))
    if event_filter.min_level is not None:
        clauses.append(sql.SQL("{} >= %s").format(column("level")))
        params.append(event_filter.min_level)
    if event_filter.sources:
        clauses.append(sql.SQL("{} = any(%s)").format(column("source")))
        params.append(list(event_filter.sources))
    if event_filter.time_from is not None:
        clauses.append(sql.SQL("{} >= %s").format(column("time")))
        params.append(event_filter.time_from)
    if event_filter.time_to is not None:
        clauses.append(sql.SQL("{} < %s").format(column("time")))
        params.append(event_filter.time_to)
    if event_filter.text:
        clauses.append(sql.SQL("{} ilike %s").format(column("message")))
        params.append(f"%{_escape_like(event_filter.text)}%")
    for key, value in event_filter.attributes:
        # Containment finds candidates through the GIN index; the text
        # comparison then keeps exactly the values whose JSON text is `value`.
        candidates = attribute_match_candidates(value)
        containment = sql.SQL(" or ").join(
            sql.SQL("{} @> %s").format(column("attributes")) for _ in candidates
        )
        clauses.append(
            sql.SQL("(({}) and {} ->> %s = %s)").format(containment, column("attributes"))
        )
        params.extend(Jsonb({key: candidate}) for candidate in candidates)
        params.extend((key, value))
    return clauses, params


def _where(clauses: list[sql.Composable]) -> sql.Composable:
    if not clauses:
        return sql.SQL("")
    return sql.SQL(" where ") + sql.SQL(" and ").join(clauses)


async def list_events(
    gateway: Gateway,
    event_filter: EventFilter,
    *,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
) -> list[StoredEvent]:
    """Newest first by (time, id); `before` continues after a page's last event."""
    clauses, params = filter_clauses(event_filter)
    if before is not None:
        clauses.append(sql.SQL("(time, id) < (%s, %s)"))
        params.extend(before)
    query = sql.SQL("select {} from events{} order by time desc, id desc limit %s").format(
        _EVENT_COLUMNS, _where(clauses)
    )
    params.append(limit)

    def work(connection: Connection) -> list[StoredEvent]:
        with connection.cursor(row_factory=class_row(StoredEvent)) as cursor:
            return cursor.execute(query, params).fetchall()

    return await gateway.run(work)


async def get_event(gateway: Gateway, event_id: uuid.UUID) -> StoredEvent | None:
    def work(connection: Connection) -> StoredEvent | None:
        with connection.cursor(row_factory=class_row(StoredEvent)) as cursor:
            return cursor.execute(
                sql.SQL("select {} from events where id = %s").format(_EVENT_COLUMNS), (event_id,)
            ).fetchone()

    return await gateway.run(work)


async def delete_event(gateway: Gateway, event_id: uuid.UUID) -> bool:
    def work(connection: Connection) -> bool:
        return connection.execute("delete from events where id = %s", (event_id,)).rowcount > 0

    return await gateway.run(work)


@dataclass(frozen=True)
class EventStats:
    total: int
    by_level: dict[int, int]
    by_type: list[tuple[str, int]]
    by_source: list[tuple[str, int]]
    series: list[tuple[datetime, int]]


async def event_stats(
    gateway: Gateway, event_filter: EventFilter, *, interval: timedelta, top: int
) -> EventStats:
    clauses, params = filter_clauses(event_filter)
    where = _where(clauses)

    def work(connection: Connection) -> EventStats:
        by_level = {
            int(level): int(count)
            for level, count in connection.execute(
                sql.SQL("select level, count(*) from events{} group by level").format(where), params
            )
        }
        by_type = [
            (str(name), int(count))
            for name, count in connection.execute(
                sql.SQL(
                    "select type, count(*) from events{} group by type "
                    "order by count(*) desc, type limit %s"
                ).format(where),
                [*params, top],
            )
        ]
        by_source = [
            (str(name), int(count))
            for name, count in connection.execute(
                sql.SQL(
                    "select source, count(*) from events{} group by source "
                    "order by count(*) desc, source limit %s"
                ).format(where),
                [*params, top],
            )
        ]
        series = [
            (bucket, int(count))
            for bucket, count in connection.execute(
                sql.SQL(
                    "select date_bin(%s, time, %s::timestamptz) as bucket, count(*) "
                    "from events{} group by bucket order by bucket"
                ).format(where),
                [interval, EPOCH, *params],
            )
        ]
        return EventStats(
            total=sum(by_level.values()),
            by_level=by_level,
            by_type=by_type,
            by_source=by_source,
            series=series,
        )

    return await gateway.run(work)


async def top_groups(
    gateway: Gateway, event_filter: EventFilter, *, statuses: Sequence[str], limit: int
) -> list[EventGroup]:
    """Groups ordered by how many of their events match the filter."""
    clauses, params = filter_clauses(event_filter, alias="e")
    clauses.append(sql.SQL("e.group_id is not null"))
    if statuses:
        clauses.append(sql.SQL("g.status = any(%s)"))
        params.append(list(statuses))
    query = sql.SQL(
        "select {}, count(*) as count_in_range from events e "
        "join event_groups g on g.id = e.group_id{} "
        "group by g.id order by count_in_range desc, g.id limit %s"
    ).format(_GROUP_COLUMNS, _where(clauses))
    params.append(limit)

    def work(connection: Connection) -> list[EventGroup]:
        with connection.cursor(row_factory=class_row(EventGroup)) as cursor:
            return cursor.execute(query, params).fetchall()

    return await gateway.run(work)


async def set_group_status(gateway: Gateway, group_id: int, status: str) -> EventGroup | None:
    def work(connection: Connection) -> EventGroup | None:
        with connection.cursor(row_factory=class_row(EventGroup)) as cursor:
            return cursor.execute(
                sql.SQL("update event_groups g set status = %s where id = %s returning {}").format(
                    _GROUP_COLUMNS
                ),
                (status, group_id),
            ).fetchone()

    return await gateway.run(work)
