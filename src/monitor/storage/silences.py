"""SQL for silences: create, list by state, read, expire early (issue 18).

A silence is not changed once made (as in Alertmanager, a changed silence is
a new one); `expire` ends it now — a pending one (not started yet) ends at
its start, so it never holds. Each change writes its audit row in its own
transaction. Expired silences are kept, so the instance history can still
name the silence that muted it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from monitor.domain.audit import Attribution, AuditEntry
from monitor.domain.dashboards import Conflict, NotFound, actor_label
from monitor.domain.label_matchers import Matcher
from monitor.domain.muting import Silence
from monitor.storage.audit import record_change
from monitor.storage.gateway import Connection, Gateway

SilenceState = Literal["pending", "active", "expired"]
SILENCE_STATES: tuple[SilenceState, ...] = ("pending", "active", "expired")
MAX_LIVE_SILENCES = 10_000  # pending or active at once

_COLUMNS = sql.SQL(
    "id, matchers, starts_at, ends_at, comment, created_at, created_by, expired_at, expired_by"
)


@dataclass(frozen=True)
class SilenceRecord:
    id: int
    matchers: list[dict[str, str]]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_at: datetime
    created_by: str
    expired_at: datetime | None
    expired_by: str | None

    def state(self, now: datetime) -> SilenceState:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def silence(self) -> Silence:
        matchers = tuple(
            Matcher.of(item["name"], item["op"], item["value"])  # type: ignore[arg-type]
            for item in self.matchers
        )
        return Silence(self.id, matchers, self.starts_at, self.ends_at)

    def snapshot(self) -> dict[str, Any]:
        return {
            "matchers": self.matchers,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "comment": self.comment,
        }


_STATE_SQL = {
    "pending": "starts_at > %(now)s",
    "active": "starts_at <= %(now)s and ends_at > %(now)s",
    "expired": "ends_at <= %(now)s",
}


async def create(
    gateway: Gateway,
    matchers: list[dict[str, str]],
    starts_at: datetime,
    ends_at: datetime,
    comment: str,
    *,
    by: Attribution,
) -> SilenceRecord:
    label = actor_label(by.actor)

    def work(connection: Connection) -> SilenceRecord:
        live = connection.execute("select count(*) from silences where ends_at > now()").fetchone()
        if live is not None and live[0] >= MAX_LIVE_SILENCES:
            raise Conflict(f"at most {MAX_LIVE_SILENCES} silences pending or active", "too_many")
        with connection.cursor(row_factory=class_row(SilenceRecord)) as cursor:
            created = cursor.execute(
                sql.SQL(
                    "insert into silences (matchers, starts_at, ends_at, comment, created_by) "
                    "values (%s, %s, %s, %s, %s) returning {}"
                ).format(_COLUMNS),
                (Jsonb(matchers), starts_at, ends_at, comment, label),
            ).fetchone()
        assert created is not None
        record_change(
            connection,
            AuditEntry(by, "silence", str(created.id), "create", after=created.snapshot()),
        )
        return created

    return await gateway.run(work)


def read_silences(
    connection: Connection,
    *,
    now: datetime,
    states: tuple[SilenceState, ...],
    limit: int,
    before_id: int | None,
) -> list[SilenceRecord]:
    """Silences in `states`, newest first, `limit` of them before `before_id`."""
    wanted = sql.SQL(" or ").join(sql.SQL(_STATE_SQL[state]) for state in states)
    query = sql.SQL(
        "select {} from silences where ({}) and (%(before)s::bigint is null or id < %(before)s) "
        "order by id desc limit %(limit)s"
    ).format(_COLUMNS, wanted)
    with connection.cursor(row_factory=class_row(SilenceRecord)) as cursor:
        return cursor.execute(query, {"now": now, "before": before_id, "limit": limit}).fetchall()


async def list_silences(
    gateway: Gateway,
    *,
    now: datetime,
    states: tuple[SilenceState, ...],
    limit: int,
    before_id: int | None,
) -> list[SilenceRecord]:
    """Silences in `states`, newest first, `limit` of them before `before_id`."""
    return await gateway.run(
        lambda connection: read_silences(
            connection, now=now, states=states, limit=limit, before_id=before_id
        )
    )


def read_live_silences(connection: Connection, now: datetime) -> list[SilenceRecord]:
    """Every silence that holds now or will: what muting is judged against."""
    return read_silences(
        connection, now=now, states=("pending", "active"), limit=MAX_LIVE_SILENCES, before_id=None
    )


async def live_silences(gateway: Gateway, now: datetime) -> list[SilenceRecord]:
    """Every silence that holds now or will: what muting is judged against."""
    return await gateway.run(lambda connection: read_live_silences(connection, now))


async def get(gateway: Gateway, silence_id: int) -> SilenceRecord | None:
    query = sql.SQL("select {} from silences where id = %s").format(_COLUMNS)

    def work(connection: Connection) -> SilenceRecord | None:
        with connection.cursor(row_factory=class_row(SilenceRecord)) as cursor:
            return cursor.execute(query, (silence_id,)).fetchone()

    return await gateway.run(work)


async def expire(
    gateway: Gateway, silence_id: int, *, now: datetime, by: Attribution
) -> SilenceRecord:
    """End the silence now (a pending one at its start); 409 when it has ended already."""
    label = actor_label(by.actor)

    def work(connection: Connection) -> SilenceRecord:
        with connection.cursor(row_factory=class_row(SilenceRecord)) as cursor:
            before = cursor.execute(
                sql.SQL("select {} from silences where id = %s for update").format(_COLUMNS),
                (silence_id,),
            ).fetchone()
            if before is None:
                raise NotFound("silence", silence_id)
            if before.ends_at <= now:
                raise Conflict(f"silence {silence_id} has ended already", "silence_ended")
            after = cursor.execute(
                sql.SQL(
                    "update silences set ends_at = greatest(starts_at, %s), expired_at = %s, "
                    "expired_by = %s where id = %s returning {}"
                ).format(_COLUMNS),
                (now, now, label, silence_id),
            ).fetchone()
        assert after is not None
        record_change(
            connection,
            AuditEntry(
                by,
                "silence",
                str(silence_id),
                "expire",
                before=before.snapshot(),
                after=after.snapshot(),
            ),
        )
        return after

    return await gateway.run(work)


PRUNE_BATCH_ROWS = 10_000


async def prune(
    gateway: Gateway, older_than: datetime, *, batch_rows: int = PRUNE_BATCH_ROWS
) -> int:
    """Delete silences that ended (or were expired) before `older_than`: how many.

    Their making and expiry stay in the audit log for its own retention.
    """

    def work(connection: Connection) -> int:
        return connection.execute(
            "delete from silences where id = any(array("
            "select id from silences where ends_at < %s order by ends_at limit %s))",
            (older_than, batch_rows),
        ).rowcount

    deleted = 0
    while True:
        batch = await gateway.run(work)
        deleted += batch
        if batch < batch_rows:
            return deleted
