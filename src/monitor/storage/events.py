"""SQL for events and error groups: group-commit COPY, queries, stats."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.adapt import AdaptersMap, PyFormat
from psycopg.rows import class_row
from psycopg.types.json import Json, Jsonb, set_json_dumps

from monitor.domain.audit import Attribution, AuditEntry
from monitor.domain.events import LEVELS, EventFilter, attribute_match_candidates
from monitor.domain.rows import EventRow
from monitor.storage import event_counts
from monitor.storage.audit import record_change
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


def _group_ids(connection: Connection, drafts: list[_GroupDraft]) -> dict[str, int]:
    """Ids of the drafts' groups, creating missing ones, without locking existing rows.

    Existing groups are only read here; their counters are updated by
    `_count_into_groups` as the transaction's last statement, so concurrent
    ingest transactions hold group row locks only for a moment.
    """
    if not drafts:
        return {}
    fingerprints = [d.fingerprint for d in drafts]
    found = {
        str(fingerprint): int(group_id)
        for fingerprint, group_id in connection.execute(
            "select fingerprint, id from event_groups where fingerprint = any(%s)",
            (fingerprints,),
        )
    }
    missing = [d for d in drafts if d.fingerprint not in found]
    if missing:
        # New groups start at zero; the counting update below adds this batch.
        connection.execute(
            """
            insert into event_groups
                (fingerprint, type, source, level, message, first_seen, last_seen, count)
            select f, t, s, l, m, fs, ls, 0 from unnest(
                %s::text[], %s::text[], %s::text[], %s::int2[], %s::text[],
                %s::timestamptz[], %s::timestamptz[]
            ) as u(f, t, s, l, m, fs, ls)
            order by f
            on conflict (fingerprint) do nothing
            """,
            (
                [d.fingerprint for d in missing],
                [d.type for d in missing],
                [d.source for d in missing],
                [d.level for d in missing],
                [d.message for d in missing],
                [d.first_seen for d in missing],
                [d.last_seen for d in missing],
            ),
        )
        found.update(
            (str(fingerprint), int(group_id))
            for fingerprint, group_id in connection.execute(
                "select fingerprint, id from event_groups where fingerprint = any(%s)",
                ([d.fingerprint for d in missing],),
            )
        )
    return found


def _count_into_groups(
    connection: Connection, drafts: list[_GroupDraft], group_ids: dict[str, int]
) -> None:
    if not drafts:
        return
    ordered = sorted(drafts, key=lambda d: group_ids[d.fingerprint])  # one lock order for all
    connection.execute(
        """
        update event_groups as g set
            level = greatest(g.level, u.level),
            first_seen = least(g.first_seen, u.first_seen),
            last_seen = greatest(g.last_seen, u.last_seen),
            count = g.count + u.count,
            -- a resolved group that happens again is open again (a regression)
            status = case when g.status = 'resolved' then 'open' else g.status end,
            regressed_at = case when g.status = 'resolved' then now() else g.regressed_at end
        from unnest(%s::int8[], %s::int2[], %s::timestamptz[], %s::timestamptz[], %s::int8[])
            as u(id, level, first_seen, last_seen, count)
        where g.id = u.id
        """,
        (
            [group_ids[d.fingerprint] for d in ordered],
            [d.level for d in ordered],
            [d.first_seen for d in ordered],
            [d.last_seen for d in ordered],
            [d.count for d in ordered],
        ),
    )


# Made once: set_json_dumps builds a new dumper class on every call, each a
# subclass of the one registered before, so calling it per commit grew the
# process by ~7 KB an ingest request (and made every dump a little slower).
_PASSTHROUGH = AdaptersMap(psycopg.adapters)
set_json_dumps(_json_passthrough, _PASSTHROUGH)


def _copy_rows(connection: Connection, rows: Sequence[EventRow], group_ids: dict[str, int]) -> None:
    with connection.cursor() as cursor:
        for wrapper in (Json, Jsonb):  # for this COPY's cursor only
            for form in (PyFormat.BINARY, PyFormat.TEXT):
                cursor.adapters.register_dumper(wrapper, _PASSTHROUGH.get_dumper(wrapper, form))
        with cursor.copy(_COPY_STATEMENT) as copy:
            copy.set_types(list(COPY_TYPES))
            for row in rows:
                fingerprint = row.fingerprint if row.grouped else None
                group_id = group_ids.get(fingerprint) if fingerprint else None
                copy.write_row((*row[:10], group_id))


async def commit_events(gateway: Gateway, rows: Sequence[EventRow]) -> dict[str, int]:
    """Insert `rows` and update their error groups in one transaction.

    Returns fingerprint → group id for the grouped rows. Raises RowsRejected
    when PostgreSQL refuses the data itself, StorageUnavailable on an outage.
    """

    def work(connection: Connection) -> dict[str, int]:
        drafts = _group_drafts(rows)
        try:
            group_ids = _group_ids(connection, drafts)
            _copy_rows(connection, rows, group_ids)
            _count_into_groups(connection, drafts, group_ids)
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
    # A single value is compared with `=`, so the (column, time) index can
    # return rows newest first; `= any(...)` cannot.
    if event_filter.types:
        clauses.append(_one_of(column("type"), event_filter.types, params))
    if event_filter.levels:
        clauses.append(_one_of(column("level"), event_filter.levels, params, "int2"))
    if event_filter.min_level is not None:
        clauses.append(sql.SQL("{} >= %s").format(column("level")))
        params.append(event_filter.min_level)
    if event_filter.sources:
        clauses.append(_one_of(column("source"), event_filter.sources, params))
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
        # Containment of each JSON value whose text is `value` ("500" → "500"
        # or 500), served by the GIN index. (An extra `->>` text check would be
        # exact for 500.0 too, but ruins the planner's row estimates.)
        candidates = attribute_match_candidates(value)
        clauses.append(
            sql.SQL("({})").format(
                sql.SQL(" or ").join(
                    sql.SQL("{} @> %s").format(column("attributes")) for _ in candidates
                )
            )
        )
        params.extend(Jsonb({key: candidate}) for candidate in candidates)
    return clauses, params


def _one_of(
    column: sql.Composable, values: Sequence[Any], params: list[Any], cast: str = "text"
) -> sql.Composable:
    if len(values) == 1:
        params.append(values[0])
        return sql.SQL("{} = %s").format(column)
    params.append(list(values))
    return sql.SQL("{} = any(%s::{}[])").format(column, sql.SQL(cast))


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


async def delete_event(gateway: Gateway, event_id: uuid.UUID, *, by: Attribution) -> bool:
    """Delete one event; False when there is none. It leaves the event counts if it was
    counted, and the audit row keeps what it was."""

    def work(connection: Connection) -> bool:
        event_counts.lock_shared(connection)
        row = connection.execute(
            "delete from events where id = %s"
            " returning type, source, time, level, group_id, ingest_xid",
            (event_id,),
        ).fetchone()
        if row is None:
            return False
        kind, source, time, level, group_id, ingest_xid = row
        event_counts.uncount_deleted(
            connection,
            time=time,
            level=level,
            source=source,
            event_type=kind,
            ingest_xid=ingest_xid,
        )
        summary = {
            "id": event_id,
            "type": kind,
            "source": source,
            "time": time,
            "level": LEVELS[level],
            "group_id": group_id,
        }
        record_change(connection, AuditEntry(by, "event", str(event_id), "delete", before=summary))
        return True

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
    top_n = top
    clauses, params = filter_clauses(event_filter)
    where = _where(clauses)

    query = sql.SQL(
        "select grouping(level), grouping(type), grouping(source), level, type, source, "
        "date_bin(%s, time, %s::timestamptz) as bucket, count(*) from events{} "
        "group by grouping sets ((level), (type), (source), (bucket))"
    ).format(where)

    def work(connection: Connection) -> EventStats:
        # One scan, one snapshot: every count comes from the same rows.
        by_level: dict[int, int] = {}
        by_type: dict[str, int] = {}
        by_source: dict[str, int] = {}
        series: dict[datetime, int] = {}
        for (
            level_set,
            type_set,
            source_set,
            level,
            kind,
            source,
            bucket,
            count,
        ) in connection.execute(query, [interval, EPOCH, *params]):
            if not level_set:
                by_level[int(level)] = int(count)
            elif not type_set:
                by_type[str(kind)] = int(count)
            elif not source_set:
                by_source[str(source)] = int(count)
            else:
                series[bucket] = int(count)

        def top(counts: dict[str, int]) -> list[tuple[str, int]]:
            return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top_n]

        return EventStats(
            total=sum(by_level.values()),
            by_level=by_level,
            by_type=top(by_type),
            by_source=top(by_source),
            series=sorted(series.items()),
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


def _group_summary(group: EventGroup) -> dict[str, object]:
    return {
        "id": group.id,
        "fingerprint": group.fingerprint,
        "type": group.type,
        "source": group.source,
        "status": group.status,
    }


async def set_group_status(
    gateway: Gateway, group_id: int, status: str, *, by: Attribution
) -> EventGroup | None:
    """Set a group's status; None when there is no such group.

    Setting the status it already has changes nothing, so it writes no audit row.
    """
    select = sql.SQL("select {} from event_groups g where id = %s for update").format(
        _GROUP_COLUMNS
    )
    update = sql.SQL("update event_groups g set status = %s where id = %s returning {}").format(
        _GROUP_COLUMNS
    )

    def work(connection: Connection) -> EventGroup | None:
        with connection.cursor(row_factory=class_row(EventGroup)) as cursor:
            before = cursor.execute(select, (group_id,)).fetchone()
            if before is None or before.status == status:
                return before
            after = cursor.execute(update, (status, group_id)).fetchone()
        assert after is not None
        record_change(
            connection,
            AuditEntry(
                by,
                "event_group",
                str(group_id),
                "update",
                before=_group_summary(before),
                after=_group_summary(after),
            ),
        )
        return after

    return await gateway.run(work)


async def get_group(gateway: Gateway, group_id: int) -> EventGroup | None:
    query = sql.SQL("select {} from event_groups g where id = %s").format(_GROUP_COLUMNS)

    def work(connection: Connection) -> EventGroup | None:
        with connection.cursor(row_factory=class_row(EventGroup)) as cursor:
            return cursor.execute(query, (group_id,)).fetchone()

    return await gateway.run(work)


async def group_statuses(gateway: Gateway, group_ids: Sequence[int]) -> dict[int, str]:
    """The status each of these groups has now (a ranking shared per tick may be older)."""
    if not group_ids:
        return {}

    def work(connection: Connection) -> dict[int, str]:
        found = connection.execute(
            "select id, status from event_groups where id = any(%s)", (list(group_ids),)
        ).fetchall()
        return {int(group_id): str(status) for group_id, status in found}

    return await gateway.run(work)


async def recent_group_events(gateway: Gateway, group_id: int, *, limit: int) -> list[StoredEvent]:
    """A group's newest events (index events_group_time)."""
    query = sql.SQL(
        "select {} from events where group_id = %s order by time desc, id desc limit %s"
    ).format(_EVENT_COLUMNS)

    def work(connection: Connection) -> list[StoredEvent]:
        with connection.cursor(row_factory=class_row(StoredEvent)) as cursor:
            return cursor.execute(query, (group_id, limit)).fetchall()

    return await gateway.run(work)
