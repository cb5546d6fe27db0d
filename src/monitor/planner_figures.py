"""The notifier planner's figures on this instance, kept by the actor and shown by /stats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class PlannerFigures:
    """What /stats shows of the notifier's planner on this instance."""

    ticks: int = 0  # completed while leading
    skipped_ticks: int = 0  # database unavailable
    transitions: int = 0  # read from the cursor, since start
    queued: int = 0  # deliveries queued, since start
    last_queued: int = 0  # by the last tick
    last_looked_at: int = 0  # groups the last tick looked at
    groups: int = 0  # notification groups after the last tick
    members: int = 0  # their members
    cursor_lag: int = 0  # committed transitions left behind a still running transaction
    last_tick_ms: float | None = None
    max_tick_ms: float = 0.0
    last_planned_at: float | None = None  # Unix time of the last completed tick

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
