"""A notifier's world written straight into the database: rules, instances as the evaluator
writes them, policies, channels, silences, inhibition rules, and what was queued.

For the planner's tests, which drive `plan_once` on chosen times: each test
gets a database of its own (cloned from a migrated template), so groups and
the cursor are that test's alone.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from conftest import SERVER_URL, database_url_for, drop_database
from monitor.notification_planning import PlanOutcome, plan_once
from monitor.storage.leadership import LeaderConnection
from monitor.storage.migrate import apply_migrations


def clone_database(template: str) -> str:
    """A new database copied from the migrated `template` (much faster than migrating)."""
    name = f"monitor_plan_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=5) as connection:
        connection.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return database_url_for(name)


@dataclass
class World:
    url: str
    epoch: int
    rule_id: int
    _leader: LeaderConnection | None = None

    _shared: psycopg.Connection[Any] | None = None

    def connect(self) -> psycopg.Connection[Any]:
        """A connection of the caller's own (to hold a transaction open, say)."""
        return psycopg.connect(self.url)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on the world's own connection (kept: connecting costs more)."""
        if self._shared is None or self._shared.closed:
            self._shared = psycopg.connect(self.url, autocommit=True)
        with self._shared.transaction():
            yield self._shared

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()

    def sql(self, query: str, params: Any = ()) -> list[Any]:
        with self.transaction() as connection:
            cursor = connection.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def plan_once(
        self, now: datetime, *, rescan: bool = True, epoch: int | None = None
    ) -> PlanOutcome:
        with self.transaction() as connection:
            return plan_once(connection, self.epoch if epoch is None else epoch, now, rescan=rescan)

    def plan(self, now: datetime, *, rescan: bool = False, epoch: int | None = None) -> PlanOutcome:
        """One tick at `now`, once every committed transition can be read.

        The cursor stops below the oldest transaction running anywhere on the
        server, and other tests write to other databases meanwhile: wait until
        none of those is older than a transition committed here, so the tick
        reads everything, as it would on a server of its own.
        """
        deadline = time.monotonic() + 20
        while self.sql(
            "select count(*) from alert_transitions "
            "where xid >= pg_snapshot_xmin(pg_current_snapshot())"
        ) != [(0,)]:
            assert time.monotonic() < deadline, "transitions stayed held back for 20 s"
            time.sleep(0.02)
        return self.plan_once(now, rescan=rescan, epoch=epoch)

    # --- alert instances, as the evaluator and operators write them

    def fire(self, host: str, at: datetime, **labels: str) -> int:
        """A new instance of the rule's group `host`, firing from `at`, with its transition."""
        every = {"rule": "disk full", "severity": "warning", "host": host, **labels}
        with self.transaction() as connection:
            sequence = connection.execute(
                "select coalesce(max(sequence), 0) + 1 from alert_instances "
                "where rule_id = %s and group_key = %s",
                (self.rule_id, json.dumps({"host": host})),
            ).fetchone()
            assert sequence is not None
            row = connection.execute(
                "insert into alert_instances (rule_id, group_key, sequence, labels, annotations, "
                "state, since, value, opened_at) "
                "values (%s, %s, %s, %s, %s, 'firing', %s, 95, %s) returning id",
                (
                    self.rule_id,
                    json.dumps({"host": host}),
                    sequence[0],
                    Jsonb(every),
                    Jsonb({"summary": f"disk on {host}"}),
                    at,
                    at,
                ),
            ).fetchone()
            assert row is not None
            self._transition(connection, int(row[0]), "pending", "firing", at, every)
        return int(row[0])

    def resolve(self, instance_id: int, at: datetime) -> None:
        with self.transaction() as connection:
            [(labels,)] = connection.execute(
                "update alert_instances set state = 'resolved', since = %s, closed_at = %s "
                "where id = %s returning labels",
                (at, at, instance_id),
            ).fetchall()
            self._transition(connection, instance_id, "firing", "resolved", at, labels)

    def acknowledge(self, instance_id: int, at: datetime, until: datetime | None = None) -> None:
        """As storage/alert_instances.py `acknowledge` does: columns, no transition."""
        self.sql(
            "update alert_instances set acknowledged_by = 'ops', acknowledged_at = %s, "
            "acknowledged_note = 'mine', acknowledged_until = %s where id = %s",
            (at, until, instance_id),
        )

    def _transition(
        self,
        connection: psycopg.Connection[Any],
        instance_id: int,
        before: str,
        after: str,
        at: datetime,
        labels: dict[str, str],
    ) -> None:
        connection.execute(
            "insert into alert_transitions (instance_id, rule_id, from_state, to_state, at, "
            "value, reason, labels, epoch) values (%s, %s, %s, %s, %s, 95, 'test', %s, %s)",
            (instance_id, self.rule_id, before, after, at, Jsonb(labels), self.epoch),
        )

    # --- notification settings

    def channel(
        self, kind: str = "webhook", *, send_resolved: bool = True, url: str = "http://x.test"
    ) -> int:
        settings = {"description": "", "send_resolved": send_resolved, "url": url}
        [(channel_id,)] = self.sql(
            "insert into notification_channels (name, kind, enabled, settings, created_by, "
            "updated_by) values (%s, %s, true, %s, 'tests', 'tests') returning id",
            (f"{kind} {uuid.uuid4().hex[:8]}", kind, Jsonb(settings)),
        )
        return int(channel_id)

    def default_policy(self, channel_ids: list[int], **timing: Any) -> int:
        definition = {
            "name": "default",
            "channel_ids": channel_ids,
            "group_by": ["rule"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
        } | timing
        [(policy_id,)] = self.sql(
            "update notification_policies set definition = %s where is_default returning id",
            (Jsonb(definition),),
        )
        return int(policy_id)

    def policy(
        self,
        channel_ids: list[int],
        *,
        position: int,
        matchers: list[dict[str, str]] | None = None,
        go_on: bool = False,
        **timing: Any,
    ) -> int:
        definition = {
            "name": f"policy {position}",
            "position": position,
            "matchers": matchers or [],
            "channel_ids": channel_ids,
            "continue": go_on,
            "group_by": ["rule"],
        } | timing
        [(policy_id,)] = self.sql(
            "insert into notification_policies (definition, created_by, updated_by) "
            "values (%s, 'tests', 'tests') returning id",
            (Jsonb(definition),),
        )
        return int(policy_id)

    def silence(self, matchers: dict[str, str], starts_at: datetime, ends_at: datetime) -> int:
        [(silence_id,)] = self.sql(
            "insert into silences (matchers, starts_at, ends_at, comment, created_by) "
            "values (%s, %s, %s, 'maintenance', 'tests') returning id",
            (
                Jsonb([{"name": k, "op": "=", "value": v} for k, v in matchers.items()]),
                starts_at,
                ends_at,
            ),
        )
        return int(silence_id)

    def inhibition(self, source: dict[str, str], target: dict[str, str], equal: list[str]) -> int:
        definition = {
            "name": "critical mutes warning",
            "source_matchers": [{"name": k, "op": "=", "value": v} for k, v in source.items()],
            "target_matchers": [{"name": k, "op": "=", "value": v} for k, v in target.items()],
            "equal": equal,
        }
        [(rule_id,)] = self.sql(
            "insert into inhibition_rules (definition, created_by, updated_by) "
            "values (%s, 'tests', 'tests') returning id",
            (Jsonb(definition),),
        )
        return int(rule_id)

    # --- what the planner made

    def deliveries(self, after_id: int = 0) -> list[Delivery]:
        rows = self.sql(
            "select id, channel_id, reason, message, group_id, policy_id, idempotency_key "
            "from notification_deliveries where id > %s order by id",
            (after_id,),
        )
        return [Delivery(*row) for row in rows]

    def groups(self) -> list[tuple[int, int, int]]:
        """(group id, policy id, members) of every group."""
        return [
            (int(g), int(p), int(n))
            for g, p, n in self.sql(
                "select g.id, g.policy_id, count(m.instance_id) from notification_groups g "
                "left join notification_group_members m on m.group_id = g.id "
                "group by g.id order by g.id"
            )
        ]


@dataclass(frozen=True)
class Delivery:
    id: int
    channel_id: int
    reason: str
    message: dict[str, Any]
    group_id: int | None
    policy_id: int | None
    idempotency_key: str

    def ids(self, status: str) -> list[int]:
        return [a["instance_id"] for a in self.message["alerts"] if a["status"] == status]


def add_rule(database_url: str) -> int:
    """A disabled rule for the worlds' instances; its id."""
    with psycopg.connect(database_url) as connection:
        [(rule_id,)] = connection.execute(
            "insert into alert_rules (name, kind, enabled, definition, created_by, updated_by) "
            "values ('disk full', 'metric_threshold', false, '{}', 't', 't') returning id"
        ).fetchall()
    return int(rule_id)


def service_world(database_url: str) -> World:
    """A world on a database of the test's own, migrated, where a service's leader plans
    (the world leads nothing itself: epoch 0)."""
    apply_migrations(database_url)
    return World(database_url, epoch=0, rule_id=add_rule(database_url))


def open_world(template: str) -> Iterator[World]:
    url = clone_database(template)
    leader = LeaderConnection.open(url, statement_timeout=5)
    try:
        epoch = leader.try_lead("tests")
        assert epoch is not None
        world = World(url, epoch, add_rule(url), leader)
        yield world
        world.close()
    finally:
        leader.close()
        drop_database(url.rsplit("/", 1)[1])


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)
