"""Whether this instance leads alert evaluation: the view the leadership actor keeps.

The actor (actors/leadership.py) sets it; the evaluator reads the epoch to
write under, and `/stats` shows it. Only the leader's own connection knows
for sure: between a lost connection and the actor noticing, `epoch` may be
stale, which is why every write is fenced (storage/leadership.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trio


@dataclass
class Leadership:
    """Whether this instance leads alert evaluation now, and under which epoch."""

    epoch: int | None = None
    since: float | None = None  # trio.current_time() when this term began
    terms: int = 0  # how many times this instance took the lead

    @property
    def leading(self) -> bool:
        return self.epoch is not None

    def take(self, epoch: int) -> None:
        self.epoch, self.since = epoch, trio.current_time()
        self.terms += 1

    def give_up(self) -> None:
        self.epoch = self.since = None

    def figures(self) -> dict[str, Any]:
        return {"leading": self.leading, "epoch": self.epoch, "terms": self.terms}
