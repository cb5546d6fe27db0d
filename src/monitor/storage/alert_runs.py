"""Each alert rule's latest evaluation: when, when next, how many groups, and a failure.

The leading evaluator writes the rules of a cycle in one statement, in the
transaction that records the cycle's instance changes (after `check_epoch`),
so a replaced leader writes none. Any instance reads them for the rules list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from monitor.storage.gateway import Connection, Gateway


@dataclass(frozen=True)
class RuleRun:
    rule_id: int
    evaluated_at: datetime
    next_due_at: datetime
    groups: int
    failed: str | None


def record_runs(connection: Connection, runs: Sequence[RuleRun], *, epoch: int) -> None:
    if not runs:
        return
    connection.execute(
        "insert into alert_rule_runs (rule_id, evaluated_at, next_due_at, groups, failed, epoch) "
        "select r.*, %s from unnest(%s::int8[], %s::timestamptz[], %s::timestamptz[], "
        "%s::int4[], %s::text[]) as r "
        "on conflict (rule_id) do update set evaluated_at = excluded.evaluated_at, "
        "next_due_at = excluded.next_due_at, groups = excluded.groups, "
        "failed = excluded.failed, epoch = excluded.epoch",
        (
            epoch,
            [run.rule_id for run in runs],
            [run.evaluated_at for run in runs],
            [run.next_due_at for run in runs],
            [run.groups for run in runs],
            [None if run.failed is None else run.failed[:2000] for run in runs],
        ),
    )


async def rule_runs(gateway: Gateway, rule_ids: Sequence[int] | None = None) -> dict[int, RuleRun]:
    """The latest evaluation of each rule (of `rule_ids`, or all)."""

    def work(connection: Connection) -> dict[int, RuleRun]:
        where = "" if rule_ids is None else " where rule_id = any(%s)"
        params = () if rule_ids is None else (list(rule_ids),)
        with connection.cursor(row_factory=class_row(RuleRun)) as cursor:
            rows = cursor.execute(
                "select rule_id, evaluated_at, next_due_at, groups, failed "
                "from alert_rule_runs" + where,
                params,
            ).fetchall()
        return {run.rule_id: run for run in rows}

    return await gateway.run(work)
