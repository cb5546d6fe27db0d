"""Which silences and inhibition rules mute alert instances now (issue 18).

Read when instances are listed (the API and the Alerts page name what mutes
each open instance) and by the notifier before it sends. A silence mutes
by its matchers while it holds; an inhibition rule mutes while a firing
instance matches its source side (domain/muting.py). Closed instances are
muted by nothing: there is nothing left to tell about them but their
resolution, which a silence does mute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.domain.muting import InhibitionRule, Silence, inhibited_by, silenced_by
from monitor.domain.notification_documents import parse_inhibition
from monitor.storage import silences as silence_store
from monitor.storage import versioned_documents as documents
from monitor.storage.gateway import Connection, Gateway
from monitor.storage.notification_tables import INHIBITION_RULES

MAX_FIRING_SOURCES = 100_000  # firing instances' label sets read for inhibition


@dataclass(frozen=True)
class Muting:
    silenced_by: tuple[int, ...] = ()
    inhibited_by: tuple[int, ...] = ()

    @property
    def muted(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by)


@dataclass(frozen=True)
class MutingRules:
    silences: tuple[Silence, ...]
    inhibitions: tuple[InhibitionRule, ...]
    firing: tuple[Mapping[str, str], ...]  # labels of the instances firing now

    def of(self, labels: Mapping[str, str], now: datetime) -> Muting:
        return Muting(
            tuple(silenced_by(self.silences, labels, now)),
            tuple(inhibited_by(self.inhibitions, labels, self.firing)),
        )


def _firing_labels(connection: Connection) -> tuple[Mapping[str, str], ...]:
    rows = connection.execute(
        "select labels from alert_instances where state = 'firing' and closed_at is null limit %s",
        (MAX_FIRING_SOURCES,),
    ).fetchall()
    return tuple(row[0] for row in rows)


def read_muting_rules(connection: Connection, now: datetime) -> MutingRules:
    """The silences, inhibition rules and firing instances, read in the caller's transaction."""
    silences = [record.silence() for record in silence_store.read_live_silences(connection, now)]
    inhibitions = [
        parse_inhibition(record.definition).rule(record.id)
        for record in documents.read_all(connection, INHIBITION_RULES)
    ]
    firing = _firing_labels(connection) if inhibitions else ()
    return MutingRules(tuple(silences), tuple(inhibitions), firing)


async def muting_rules(gateway: Gateway, now: datetime) -> MutingRules:
    return await gateway.run(lambda connection: read_muting_rules(connection, now))


def muting_json(muting: Muting) -> dict[str, Any]:
    return {"silenced_by": list(muting.silenced_by), "inhibited_by": list(muting.inhibited_by)}


async def muting_of(
    gateway: Gateway, instances: Sequence[tuple[Mapping[str, str], bool]], now: datetime
) -> list[Muting]:
    """For each (labels, open) instance, what mutes it now; nothing is read when none is open."""
    if not any(is_open for _, is_open in instances):
        return [Muting() for _ in instances]
    rules = await muting_rules(gateway, now)
    return [rules.of(labels, now) if is_open else Muting() for labels, is_open in instances]
