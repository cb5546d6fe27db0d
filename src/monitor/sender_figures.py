"""The notification sender's figures on this instance, kept by the actor and shown by /stats.

Counts are this instance's since it started; the queue's figures are the
whole database's (every instance sends from one queue), refreshed by the
sender every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class SenderFigures:
    in_flight: int = 0  # attempts under way on this instance now
    delivered: int = 0
    retried: int = 0  # attempts that failed and left the delivery queued for another
    failed: int = 0  # deliveries given up (refused for good, or past the maximum age)
    lost_claims: int = 0  # outcomes not recorded: the claim had lapsed and been taken
    skipped_polls: int = 0  # polls that met a database outage
    queued: int | None = None  # deliveries queued, in the whole database
    oldest_queued_age_s: float | None = None
    oldest_due_wait_s: float | None = None  # the longest a due, unclaimed one has waited
    figures_at: float | None = None  # Unix time the queue's figures were read

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
