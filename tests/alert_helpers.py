"""Alert instances written straight into the database, as the evaluator would write them.

For tests of the API's instance routes: their rules are saved disabled, so no
evaluator running in the service touches these instances meanwhile.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb


def add_instance(
    database_url: str,
    rule_id: int,
    *,
    state: str = "firing",
    host: str = "a",
    sequence: int = 1,
    opened_at: datetime | None = None,
    closed: bool = False,
    severity: str = "warning",
) -> int:
    """A new instance of the rule's group `host`, with the transition that opened it."""
    opened = opened_at or datetime.now(UTC) - timedelta(minutes=10)
    labels = {"host": host, "rule": "r", "severity": severity, "team": "api"}
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "insert into alert_instances (rule_id, group_key, sequence, labels, annotations, "
            "state, since, value, reason, opened_at, closed_at) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning id",
            (
                rule_id,
                json.dumps({"host": host}),
                sequence,
                Jsonb(labels),
                Jsonb({"summary": f"p95 0.7 s on {host}"}),
                state,
                opened,
                0.7,
                "0.7 > 0.5",
                opened,
                opened + timedelta(minutes=5) if closed else None,
            ),
        ).fetchone()
        assert row is not None
        connection.execute(
            "insert into alert_transitions (instance_id, rule_id, from_state, to_state, at, "
            "value, reason, labels) values (%s, %s, 'inactive', %s, %s, 0.7, '0.7 > 0.5', %s)",
            (row[0], rule_id, state, opened, Jsonb(labels)),
        )
    return int(row[0])
