"""Silence retention: ended silences go after MONITOR_SILENCE_RETENTION; others stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.domain.audit import Actor, Attribution
from monitor.storage import silences
from monitor.storage.gateway import Gateway

BY = Attribution(Actor.system("test"))
# Far in the past, so that rows other tests made in this run's database are never pruned.
LONG_AGO = datetime(2001, 3, 1, tzinfo=UTC)
MATCHERS = [{"name": "host", "op": "=", "value": "web-1"}]


async def test_silences_that_ended_before_the_cutoff_are_deleted_in_batches(
    gateway: Gateway,
) -> None:
    ended = [
        await silences.create(
            gateway, MATCHERS, LONG_AGO, LONG_AGO + timedelta(hours=n), "old", by=BY
        )
        for n in range(1, 6)
    ]
    expired_early = await silences.create(
        gateway, MATCHERS, LONG_AGO, LONG_AGO + timedelta(days=300), "expired", by=BY
    )
    await silences.expire(gateway, expired_early.id, now=LONG_AGO + timedelta(days=1), by=BY)
    ends_after_cutoff = await silences.create(
        gateway, MATCHERS, LONG_AGO, LONG_AGO + timedelta(days=20), "recent", by=BY
    )
    cutoff = LONG_AGO + timedelta(days=10)

    deleted = await silences.prune(gateway, cutoff, batch_rows=2)

    assert deleted == 6
    for silence in [*ended, expired_early]:
        assert await silences.get(gateway, silence.id) is None
    assert await silences.get(gateway, ends_after_cutoff.id) is not None
    assert await silences.prune(gateway, cutoff) == 0
