"""Every value that crosses a channel between the web edge and the actors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class KeyUsed:
    """An API key authenticated a request at `at` (for the batched last_used_at)."""

    key_id: int
    at: datetime
