"""Daily range partitions: names, bounds, and what to create or drop."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta


@dataclass(frozen=True, order=True)
class DayPartition:
    day: date

    def name(self, table: str) -> str:
        return f"{table}_p{self.day:%Y%m%d}"

    @property
    def start(self) -> datetime:
        return datetime.combine(self.day, time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)

    @classmethod
    def containing(cls, moment: datetime) -> DayPartition:
        return cls(moment.astimezone(UTC).date())

    @classmethod
    def from_name(cls, table: str, name: str) -> DayPartition | None:
        prefix = f"{table}_p"
        if not name.startswith(prefix):
            return None
        try:
            return cls(datetime.strptime(name[len(prefix) :], "%Y%m%d").date())
        except ValueError:
            return None


def partitions_for(moments: Iterable[datetime]) -> set[DayPartition]:
    return {DayPartition.containing(moment) for moment in moments}


def partitions_spanning(earliest: datetime, latest: datetime) -> set[DayPartition]:
    """Every day partition from the one holding `earliest` to the one holding `latest`."""
    first = DayPartition.containing(earliest).day
    last = DayPartition.containing(latest).day
    return {DayPartition(first + timedelta(days=n)) for n in range((last - first).days + 1)}


def partitions_ahead(now: datetime, days_ahead: int) -> set[DayPartition]:
    """Today's partition and the next `days_ahead`."""
    today = DayPartition.containing(now).day
    return {DayPartition(today + timedelta(days=offset)) for offset in range(days_ahead + 1)}


def expired(
    existing: Iterable[DayPartition], now: datetime, retention: timedelta
) -> list[DayPartition]:
    """Partitions whose every moment is older than the retention window."""
    cutoff = now - retention
    return sorted(partition for partition in existing if partition.end <= cutoff)
