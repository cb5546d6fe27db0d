"""Firing and pending instances counted per rule, for the rules page.

An instance in either state is its slot's latest (an older one is closed),
so counting rows by state counts the rule's groups in that state now; the
`alert_instances_state` index finds them without reading closed rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.storage.gateway import Connection, Gateway


@dataclass(frozen=True)
class OpenCounts:
    firing: int = 0
    pending: int = 0


async def open_counts(gateway: Gateway) -> dict[int, OpenCounts]:
    """Each rule with a firing or pending instance: how many of each (others are absent)."""

    def work(connection: Connection) -> dict[int, OpenCounts]:
        rows = connection.execute(
            "select rule_id, count(*) filter (where state = 'firing'), "
            "count(*) filter (where state = 'pending') from alert_instances "
            "where state in ('firing', 'pending') group by rule_id"
        ).fetchall()
        return {int(rule): OpenCounts(int(firing), int(pending)) for rule, firing, pending in rows}

    return await gateway.run(work)
