"""Silences and inhibition: which instances notify nobody, and why.

A muted instance keeps its state and history; only its notifications stop
(issue 18). Both follow Alertmanager:

- a silence holds from `starts_at` (inclusive) to `ends_at` (exclusive) and
  mutes every instance all of whose matchers hold;
- an inhibition rule mutes a target instance (its target matchers hold)
  while a firing source instance (its source matchers hold) has the same
  values of the rule's `equal` labels (a label missing on both counts as
  equal, as Alertmanager compares empty values). An instance never
  inhibits itself, even when it matches both sides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.domain.label_matchers import Matcher, matches_all


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.active(now) and matches_all(self.matchers, labels)


def silenced_by(silences: Iterable[Silence], labels: Mapping[str, str], now: datetime) -> list[int]:
    """The ids of the active silences that mute an instance with `labels`."""
    return sorted(silence.id for silence in silences if silence.mutes(labels, now))


@dataclass(frozen=True)
class InhibitionRule:
    id: int
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()

    def inhibits(self, source: Mapping[str, str], target: Mapping[str, str]) -> bool:
        return (
            source != target
            and matches_all(self.source, source)
            and matches_all(self.target, target)
            and all(source.get(name, "") == target.get(name, "") for name in self.equal)
        )


def inhibited_by(
    rules: Sequence[InhibitionRule],
    labels: Mapping[str, str],
    firing: Iterable[Mapping[str, str]],
) -> list[int]:
    """The ids of the rules by which some firing instance mutes one with `labels`."""
    sources = list(firing)
    return sorted(
        rule.id for rule in rules if any(rule.inhibits(source, labels) for source in sources)
    )
