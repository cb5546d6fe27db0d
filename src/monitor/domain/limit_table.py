"""In-memory GCRA state for many identities, bounded in size.

An identity whose TAT has passed holds nothing worth keeping (its budget is
full), so idle identities expire by themselves: each decision drops a few
expired ones from the least-recently-used end. When the table is full anyway,
the least recently used identity is forgotten (its budget refills at once,
which errs towards serving), and the eviction is counted.
"""

from __future__ import annotations

from collections import OrderedDict

from monitor.domain.gcra import Decision, Rate, decide

EXPIRE_PER_DECISION = 2


class LimitTable:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._tats: OrderedDict[str, int] = OrderedDict()
        self.evicted = 0  # identities forgotten before their budget was full

    def __len__(self) -> int:
        return len(self._tats)

    def decide(self, identity: str, rate: Rate, now_us: int) -> Decision:
        decision, tat = decide(rate, self._tats.get(identity), now_us)
        if decision.allowed:
            self._tats[identity] = tat
            self._tats.move_to_end(identity)
        self._expire(now_us)
        return decision

    def _expire(self, now_us: int) -> None:
        for _ in range(EXPIRE_PER_DECISION):
            if not self._tats:
                return
            oldest, tat = next(iter(self._tats.items()))
            if tat > now_us:
                break
            del self._tats[oldest]
        while len(self._tats) > self._capacity:
            self._tats.popitem(last=False)
            self.evicted += 1
