"""SQL for notification channels: create, list, read, replace (If-Match), delete.

A channel is stored as its shown settings (`settings`, domain/channels.py),
the names of its secrets (`secret_names`) and the secrets themselves as one
sealed token (`secrets`, monitor/secret_box.py): this module never sees a
secret in the clear, the caller seals and opens. Names are unique whatever
their case among channels not deleted; changes to the set hold one advisory
lock so the name check sees every other change. Every change bumps
`version` and writes its audit row (the shown document: secrets appear as
`{"set": true}`, never their values) in its own transaction; a replace that
changes nothing does neither. A deleted channel keeps its row with its
secrets erased.

The refusals are the dashboards' (domain/dashboards.py: NotFound,
StaleVersion, Conflict), which the API answers as 404, 412 and 409.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from monitor.domain.audit import Attribution, AuditEntry
from monitor.domain.channels import SET
from monitor.domain.dashboards import (
    Conflict,
    NotFound,
    StaleVersion,
    VersionCondition,
    actor_label,
)
from monitor.storage.audit import record_change
from monitor.storage.gateway import Connection, Gateway

CHANNELS_LOCK_ID = 7_236_401  # serialises changes to the set of channels (names)
MAX_CHANNELS = 1_000
RESOURCE = "notification_channel"

_COLUMNS = sql.SQL(
    "id, name, kind, enabled, settings, secret_names, secrets, version, created_at, "
    "created_by, updated_at, updated_by"
)


@dataclass(frozen=True)
class ChannelFields:
    """What a create or replace stores."""

    name: str
    kind: str
    enabled: bool
    settings: dict[str, Any]
    secret_names: list[str]  # sorted
    secrets: str | None = field(repr=False)  # the sealed token


@dataclass(frozen=True)
class ChannelRecord:
    id: int
    name: str
    kind: str
    enabled: bool
    settings: dict[str, Any]
    secret_names: list[str]
    secrets: str | None = field(repr=False)
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    def fields(self) -> ChannelFields:
        return ChannelFields(
            self.name, self.kind, self.enabled, self.settings, self.secret_names, self.secrets
        )

    def document(self) -> dict[str, Any]:
        """The channel as shown: settings, and each secret as `{"set": true}`."""
        shown: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "enabled": self.enabled,
            "send_resolved": True,  # its default, for channels saved before it existed
            **self.settings,
        }
        headers: dict[str, Any] = {}
        for name in self.secret_names:
            if name.startswith("header:"):
                headers[name.removeprefix("header:")] = dict(SET)
            else:
                shown[name] = dict(SET)
        if "headers" in self.settings:
            shown["secret_headers"] = dict(sorted(headers.items()))
        return shown

    def snapshot(self) -> dict[str, Any]:
        """What the audit log keeps of the channel: no secret value."""
        return {"version": self.version, **self.document()}


def _lock_channel_set(connection: Connection) -> None:
    connection.execute("select pg_advisory_xact_lock(%s)", (CHANNELS_LOCK_ID,))


def _check_name_free(connection: Connection, name: str, *, other_than: int | None) -> None:
    row = connection.execute(
        "select id from notification_channels where lower(name) = lower(%s) "
        "and deleted_at is null and id is distinct from %s",
        (name, other_than),
    ).fetchone()
    if row is not None:
        raise Conflict(f"a channel named {name!r} exists (id {row[0]})", "name_taken")


def _read(connection: Connection, channel_id: int, *, lock: bool = False) -> ChannelRecord | None:
    query = sql.SQL(
        "select {} from notification_channels where id = %s and deleted_at is null{}"
    ).format(_COLUMNS, sql.SQL(" for update" if lock else ""))
    with connection.cursor(row_factory=class_row(ChannelRecord)) as cursor:
        return cursor.execute(query, (channel_id,)).fetchone()


def _locked(connection: Connection, channel_id: int, condition: VersionCondition) -> ChannelRecord:
    found = _read(connection, channel_id, lock=True)
    if found is None:
        raise NotFound("channel", channel_id)
    if not condition.allows(found.version):
        raise StaleVersion("channel", channel_id, found.version)
    return found


async def create_channel(
    gateway: Gateway, fields: ChannelFields, *, by: Attribution
) -> ChannelRecord:
    label = actor_label(by.actor)

    def work(connection: Connection) -> ChannelRecord:
        _lock_channel_set(connection)
        _check_name_free(connection, fields.name, other_than=None)
        count = connection.execute(
            "select count(*) from notification_channels where deleted_at is null"
        ).fetchone()
        if count is not None and count[0] >= MAX_CHANNELS:
            raise Conflict(f"at most {MAX_CHANNELS} channels", "too_many_channels")
        with connection.cursor(row_factory=class_row(ChannelRecord)) as cursor:
            created = cursor.execute(
                sql.SQL(
                    "insert into notification_channels (name, kind, enabled, settings, "
                    "secret_names, secrets, created_by, updated_by) "
                    "values (%s, %s, %s, %s, %s, %s, %s, %s) returning {}"
                ).format(_COLUMNS),
                (
                    fields.name,
                    fields.kind,
                    fields.enabled,
                    Jsonb(fields.settings),
                    fields.secret_names,
                    fields.secrets,
                    label,
                    label,
                ),
            ).fetchone()
        assert created is not None
        record_change(
            connection,
            AuditEntry(by, RESOURCE, str(created.id), "create", after=created.snapshot()),
        )
        return created

    return await gateway.run(work)


async def list_channels(gateway: Gateway) -> list[ChannelRecord]:
    """Every channel not deleted, by name."""
    query = sql.SQL(
        "select {} from notification_channels where deleted_at is null order by lower(name), id"
    ).format(_COLUMNS)

    def work(connection: Connection) -> list[ChannelRecord]:
        with connection.cursor(row_factory=class_row(ChannelRecord)) as cursor:
            return cursor.execute(query).fetchall()

    return await gateway.run(work)


async def get_channel(gateway: Gateway, channel_id: int) -> ChannelRecord | None:
    return await gateway.run(lambda connection: _read(connection, channel_id))


async def replace_channel(
    gateway: Gateway,
    channel_id: int,
    make_fields: Callable[[ChannelRecord], ChannelFields],
    *,
    condition: VersionCondition,
    by: Attribution,
) -> ChannelRecord:
    """The channel's new fields, made by `make_fields` from the locked stored record (so
    secrets kept with `{"set": true}` are those of the version being replaced)."""
    label = actor_label(by.actor)

    def work(connection: Connection) -> ChannelRecord:
        _lock_channel_set(connection)
        before = _locked(connection, channel_id, condition)
        fields = make_fields(before)
        _check_name_free(connection, fields.name, other_than=channel_id)
        if before.fields() == fields:
            return before
        with connection.cursor(row_factory=class_row(ChannelRecord)) as cursor:
            after = cursor.execute(
                sql.SQL(
                    "update notification_channels set name = %s, kind = %s, enabled = %s, "
                    "settings = %s, secret_names = %s, secrets = %s, version = version + 1, "
                    "updated_at = now(), updated_by = %s where id = %s returning {}"
                ).format(_COLUMNS),
                (
                    fields.name,
                    fields.kind,
                    fields.enabled,
                    Jsonb(fields.settings),
                    fields.secret_names,
                    fields.secrets,
                    label,
                    channel_id,
                ),
            ).fetchone()
        assert after is not None
        record_change(
            connection,
            AuditEntry(
                by,
                RESOURCE,
                str(channel_id),
                "update",
                before=before.snapshot(),
                after=after.snapshot(),
            ),
        )
        return after

    return await gateway.run(work)


async def delete_channel(
    gateway: Gateway, channel_id: int, *, condition: VersionCondition, by: Attribution
) -> None:
    """Mark the channel deleted and erase its secrets; a Conflict while a notification
    policy sends to it (its instances would go nowhere)."""
    label = actor_label(by.actor)

    def work(connection: Connection) -> None:
        _lock_channel_set(connection)
        before = _locked(connection, channel_id, condition)
        users = [
            row[0]
            for row in connection.execute(
                "select id from notification_policies "
                "where definition -> 'channel_ids' @> to_jsonb(array[%s::bigint]) order by id",
                (channel_id,),
            )
        ]
        if users:
            named = ", ".join(str(user) for user in users[:10])
            raise Conflict(
                f"channel {channel_id} is used by notification policies {named}; "
                "remove it from them first",
                "channel_in_use",
            )
        connection.execute(
            "update notification_channels set deleted_at = now(), updated_at = now(), "
            "updated_by = %s, version = version + 1, secrets = null, secret_names = '{}' "
            "where id = %s",
            (label, channel_id),
        )
        record_change(
            connection,
            AuditEntry(by, RESOURCE, str(channel_id), "delete", before=before.snapshot()),
        )

    await gateway.run(work)


def missing_channels(connection: Connection, channel_ids: Sequence[int]) -> list[int]:
    """Those of `channel_ids` that name no channel (none, or a deleted one). Holds the
    channel set's lock to the end of the transaction, so none is deleted meanwhile."""
    if not channel_ids:
        return []
    _lock_channel_set(connection)
    found = {
        row[0]
        for row in connection.execute(
            "select id from notification_channels where id = any(%s) and deleted_at is null",
            (list(channel_ids),),
        )
    }
    return [channel_id for channel_id in channel_ids if channel_id not in found]


async def record_test(
    gateway: Gateway, record: ChannelRecord, outcome: dict[str, Any], *, by: Attribution
) -> None:
    """The audit row of a channel's test: which version was tried, and what came back."""

    def work(connection: Connection) -> None:
        record_change(
            connection,
            AuditEntry(
                by,
                RESOURCE,
                str(record.id),
                "test",
                after={"version": record.version, "kind": record.kind, **outcome},
            ),
        )

    await gateway.run(work)


@dataclass(frozen=True)
class LastTest:
    """A channel's latest test as its audit row keeps it (the test's only stored trace)."""

    time: datetime
    by: str
    delivered: bool
    status: int | None
    failure: dict[str, Any] | None


async def last_tests(gateway: Gateway, channel_ids: Sequence[int]) -> dict[int, LastTest]:
    """The latest test of each channel that has one, in one read of the channels' audit
    rows (audit_log_resource): they are few, a channel's changes and tests."""
    if not channel_ids:
        return {}
    query = (
        "select distinct on (resource_id) resource_id, time, actor_name, after "
        "from audit_log where resource = %s and action = 'test' and resource_id = any(%s) "
        "order by resource_id, time desc, id desc"
    )

    def work(connection: Connection) -> dict[int, LastTest]:
        rows = connection.execute(
            query, (RESOURCE, [str(channel_id) for channel_id in channel_ids])
        ).fetchall()
        return {
            int(channel_id): LastTest(
                time,
                str(by),
                bool(after.get("delivered")),
                after.get("status") if isinstance(after.get("status"), int) else None,
                after.get("failure") if isinstance(after.get("failure"), dict) else None,
            )
            for channel_id, time, by, after in rows
        }

    return await gateway.run(work)
