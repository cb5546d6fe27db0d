"""Notification deliveries: one message to one channel, queued until sent or given up.

The notifier's planner queues them (`enqueue`) in the transaction that
moves its groups' timers, so a message is made exactly once; senders on
any instance claim them (`claim_due`), send them and record each attempt
(`record_attempt`, only while the claim is still theirs). The delivery log
reads them back (`list_deliveries`, `get_delivery`) and retention deletes
finished ones (`prune`). See migration 0021 for the columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from monitor.storage.gateway import Connection, Gateway

DeliveryReason = Literal["news", "repeat", "refresh", "resolved"]


@dataclass(frozen=True)
class NewDelivery:
    channel_id: int
    idempotency_key: str  # unique; sent with every attempt
    reason: DeliveryReason
    message: dict[str, Any]  # notifications/snapshot.py `snapshot_json`
    group_id: int | None = None
    policy_id: int | None = None


def enqueue(connection: Connection, deliveries: Sequence[NewDelivery]) -> list[int]:
    """Queue `deliveries`, due now; their ids, in order.

    One pipelined `executemany` (a planner tick may queue thousands): one
    statement per row cost 0.3 ms each in round trips."""
    if not deliveries:
        return []
    with connection.cursor() as cursor:
        cursor.executemany(
            "insert into notification_deliveries "
            "(group_id, policy_id, channel_id, idempotency_key, reason, message) "
            "values (%s, %s, %s, %s, %s, %s) returning id",
            [
                (
                    delivery.group_id,
                    delivery.policy_id,
                    delivery.channel_id,
                    delivery.idempotency_key,
                    delivery.reason,
                    Jsonb(delivery.message),
                )
                for delivery in deliveries
            ],
            returning=True,
        )
        ids: list[int] = []
        while True:  # one result per row, in the order given
            row = cursor.fetchone()
            assert row is not None
            ids.append(int(row[0]))
            if not cursor.nextset():
                return ids


# ---- sending: claims and outcomes ----------------------------------------------------


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this sender holds until `claimed_until` (the claim's token with
    `claimed_by`: an outcome is recorded only while both are still the row's)."""

    id: int
    channel_id: int
    idempotency_key: str
    message: dict[str, Any]
    created_at: datetime
    attempts: int  # before this one
    claimed_until: datetime


def claim_due(
    connection: Connection,
    sender: str,
    lease: timedelta,
    *,
    room: Callable[[int], bool],
    candidates: int,
    skip_channels: Sequence[int] = (),
) -> tuple[list[ClaimedDelivery], bool]:
    """Claim due deliveries no live claim holds, oldest due first: of up to `candidates`
    rows locked with FOR UPDATE SKIP LOCKED (another sender's rows are skipped, not
    waited for), those `room(channel_id)` accepts are marked claimed by `sender` for
    `lease`; the others are left as they were when the transaction ends. Also answers
    whether more due work was seen than was claimed."""
    rows = connection.execute(
        "select id, channel_id from notification_deliveries "
        "where status = 'queued' and next_attempt_at <= now() "
        "and (claimed_until is null or claimed_until < now()) "
        "and channel_id <> all(%s) "
        "order by next_attempt_at, id limit %s for update skip locked",
        (list(skip_channels), candidates),
    ).fetchall()
    chosen = [int(row[0]) for row in rows if room(int(row[1]))]
    more = len(rows) > len(chosen) or len(rows) == candidates
    if not chosen:
        return [], more
    with connection.cursor(row_factory=class_row(ClaimedDelivery)) as cursor:
        claimed = cursor.execute(
            "update notification_deliveries set claimed_by = %s, claimed_until = now() + %s "
            "where id = any(%s) returning id, channel_id, idempotency_key, message, "
            "created_at, attempts, claimed_until",
            (sender, lease, chosen),
        ).fetchall()
    claimed.sort(key=lambda delivery: chosen.index(delivery.id))
    return claimed, more


@dataclass(frozen=True)
class SendingChannel:
    """What a sender needs of a channel, deleted ones included (their deliveries fail)."""

    id: int
    name: str
    kind: str
    enabled: bool
    settings: dict[str, Any]
    secrets: str | None = field(repr=False)
    deleted: bool


def sending_channel(connection: Connection, channel_id: int) -> SendingChannel | None:
    with connection.cursor(row_factory=class_row(SendingChannel)) as cursor:
        return cursor.execute(
            "select id, name, kind, enabled, settings, secrets, deleted_at is not null as deleted "
            "from notification_channels where id = %s",
            (channel_id,),
        ).fetchone()


@dataclass(frozen=True)
class AttemptRecord:
    """One row of notification_attempts, and the delivery's state after it."""

    outcome: Literal["delivered", "retrying", "failed"]
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error_kind: str | None
    error: str | None
    response: str | None
    next_attempt_at: datetime | None  # when retrying


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


def record_attempt(
    connection: Connection, sender: str, delivery: ClaimedDelivery, record: AttemptRecord
) -> bool:
    """Record the attempt and the delivery's new state when `sender` still holds the claim
    it made (compare-and-set on claimed_by, claimed_until and status): False, and
    nothing written, when the claim lapsed and was taken, or the delivery finished."""
    finished = record.outcome != "retrying"
    row = connection.execute(
        "update notification_deliveries set "
        "attempts = attempts + 1, "
        "status = case when %(outcome)s = 'retrying' then 'queued' else %(outcome)s end, "
        "next_attempt_at = coalesce(%(next)s, next_attempt_at), "
        "finished_at = case when %(finished)s then now() end, "
        "last_error = %(error)s, "
        "claimed_by = case when %(finished)s then claimed_by end, "
        "claimed_until = null "
        "where id = %(id)s and status = 'queued' and claimed_by = %(sender)s "
        "and claimed_until = %(until)s returning attempts",
        {
            "outcome": record.outcome,
            "next": record.next_attempt_at,
            "finished": finished,
            "error": _clip(record.error, 2000),
            "id": delivery.id,
            "sender": sender,
            "until": delivery.claimed_until,
        },
    ).fetchone()
    if row is None:
        return False
    connection.execute(
        "insert into notification_attempts (delivery_id, attempt, started_at, duration_ms, "
        "outcome, status_code, error_kind, error, response, sent_by) "
        "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            delivery.id,
            int(row[0]),
            record.started_at,
            max(0.0, record.duration_ms),
            record.outcome,
            record.status_code,
            _clip(record.error_kind, 100),
            _clip(record.error, 2000),
            _clip(record.response, 2000),
            sender[:200],
        ),
    )
    return True


@dataclass(frozen=True)
class QueueFigures:
    queued: int  # status queued, due or not
    due: int  # queued, due now and not claimed
    oldest_queued_s: float | None  # age of the oldest queued delivery
    oldest_due_wait_s: float | None  # how long the longest-waiting due, unclaimed one has waited


def queue_figures(connection: Connection) -> QueueFigures:
    row = connection.execute(
        "select count(*), "
        "count(*) filter (where next_attempt_at <= now() "
        "and (claimed_until is null or claimed_until < now())), "
        "extract(epoch from now() - min(created_at)), "
        "extract(epoch from now() - min(greatest(next_attempt_at, claimed_until)) "
        "filter (where next_attempt_at <= now() "
        "and (claimed_until is null or claimed_until < now()))) "
        "from notification_deliveries where status = 'queued'"
    ).fetchone()
    assert row is not None
    return QueueFigures(
        queued=int(row[0]),
        due=int(row[1]),
        oldest_queued_s=None if row[2] is None else float(row[2]),
        oldest_due_wait_s=None if row[3] is None else float(row[3]),
    )


# ---- the delivery log ------------------------------------------------------------------

DELIVERY_STATUSES = ("queued", "delivered", "failed")
PRUNE_BATCH_ROWS = 1000


@dataclass(frozen=True)
class DeliveryFilter:
    statuses: tuple[str, ...] = ()
    channel_ids: tuple[int, ...] = ()
    rule_ids: tuple[int, ...] = ()  # told of an alert of any of these rules
    instance_ids: tuple[int, ...] = ()  # told of any of these instances
    time_from: datetime | None = None  # created at or after
    time_to: datetime | None = None  # created before


@dataclass(frozen=True)
class AttemptRow:
    delivery_id: int
    attempt: int
    started_at: datetime
    duration_ms: float
    outcome: str
    status_code: int | None
    error_kind: str | None
    error: str | None
    response: str | None
    sent_by: str


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    channel_id: int
    channel_name: str | None
    group_id: int | None
    policy_id: int | None
    idempotency_key: str
    reason: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    finished_at: datetime | None
    claimed_by: str | None
    group_labels: dict[str, Any]
    alert_count: int
    message: dict[str, Any] | None  # only when one delivery is read
    attempt_rows: list[AttemptRow] = field(default_factory=list)


_LOG_COLUMNS = sql.SQL(
    "d.id, d.channel_id, c.name as channel_name, d.group_id, d.policy_id, d.idempotency_key, "
    "d.reason, d.status, d.attempts, d.last_error, d.created_at, d.next_attempt_at, "
    "d.finished_at, d.claimed_by, coalesce(d.message -> 'group_labels', '{}') as group_labels, "
    "coalesce(jsonb_array_length(d.message -> 'alerts'), 0) as alert_count"
)


def _with_attempts(connection: Connection, rows: list[DeliveryRow]) -> list[DeliveryRow]:
    if not rows:
        return rows
    with connection.cursor(row_factory=class_row(AttemptRow)) as cursor:
        attempts = cursor.execute(
            "select delivery_id, attempt, started_at, duration_ms, outcome, status_code, "
            "error_kind, error, response, sent_by from notification_attempts "
            "where delivery_id = any(%s) order by delivery_id, attempt, id",
            ([row.id for row in rows],),
        ).fetchall()
    by_delivery: dict[int, list[AttemptRow]] = {}
    for attempt in attempts:
        by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
    return [replace(row, attempt_rows=by_delivery.get(row.id, [])) for row in rows]


async def list_deliveries(
    gateway: Gateway,
    found: DeliveryFilter,
    *,
    limit: int,
    before: tuple[datetime, int] | None,
) -> list[DeliveryRow]:
    """Deliveries newest first (created_at, then id), each with its attempts; `before` is
    the (created_at, id) after which the page starts."""
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    if found.statuses:
        conditions.append(sql.SQL("d.status = any(%s)"))
        params.append(list(found.statuses))
    if found.channel_ids:
        conditions.append(sql.SQL("d.channel_id = any(%s)"))
        params.append(list(found.channel_ids))
    # Each id's containment is one GIN lookup (migration 0022); ORed: any of them.
    for column, ids in (("rule_ids", found.rule_ids), ("instance_ids", found.instance_ids)):
        if ids:
            contains = sql.SQL("d.{} @> %s").format(sql.Identifier(column))
            conditions.append(sql.SQL("({})").format(sql.SQL(" or ").join([contains] * len(ids))))
            params.extend(Jsonb([each]) for each in ids)
    if found.time_from is not None:
        conditions.append(sql.SQL("d.created_at >= %s"))
        params.append(found.time_from)
    if found.time_to is not None:
        conditions.append(sql.SQL("d.created_at < %s"))
        params.append(found.time_to)
    if before is not None:
        conditions.append(sql.SQL("(d.created_at, d.id) < (%s, %s)"))
        params.extend(before)
    where = sql.SQL(" where ") + sql.SQL(" and ").join(conditions) if conditions else sql.SQL("")
    query = sql.SQL(
        "select {}, null::jsonb as message from notification_deliveries d "
        "left join notification_channels c on c.id = d.channel_id{} "
        "order by d.created_at desc, d.id desc limit %s"
    ).format(_LOG_COLUMNS, where)
    params.append(limit)

    def work(connection: Connection) -> list[DeliveryRow]:
        with connection.cursor(row_factory=class_row(DeliveryRow)) as cursor:
            rows = cursor.execute(query, params).fetchall()
        return _with_attempts(connection, rows)

    return await gateway.run(work)


async def get_delivery(gateway: Gateway, delivery_id: int) -> DeliveryRow | None:
    """One delivery with its attempts and the message it carries."""
    query = sql.SQL(
        "select {}, d.message from notification_deliveries d "
        "left join notification_channels c on c.id = d.channel_id where d.id = %s"
    ).format(_LOG_COLUMNS)

    def work(connection: Connection) -> DeliveryRow | None:
        with connection.cursor(row_factory=class_row(DeliveryRow)) as cursor:
            row = cursor.execute(query, (delivery_id,)).fetchone()
        return None if row is None else _with_attempts(connection, [row])[0]

    return await gateway.run(work)


async def prune(
    gateway: Gateway, older_than: datetime, *, batch_rows: int = PRUNE_BATCH_ROWS
) -> int:
    """Delete finished (delivered or failed) deliveries queued before `older_than`, with
    their attempts (on delete cascade), a batch per transaction; how many. Queued ones
    stay whatever their age. By the time queued (its index): a delivery finishes within
    MONITOR_NOTIFICATION_MAX_AGE of it, far less than any retention."""

    def work(connection: Connection) -> int:
        return connection.execute(
            "delete from notification_deliveries where id = any(array("
            "select id from notification_deliveries where created_at < %s "
            "and status <> 'queued' order by created_at limit %s))",
            (older_than, batch_rows),
        ).rowcount

    deleted = 0
    while True:
        batch = await gateway.run(work)
        deleted += batch
        if batch < batch_rows:
            return deleted
