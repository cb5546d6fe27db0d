"""The live publisher actor: committed batches (and alert transitions) onto the bus.

It listens on the publish hook: the ingest actors hand each committed batch
over without waiting, into a bounded channel that drops and counts when full,
so publishing never delays an acknowledgement. Each batch becomes one bus
message in its REST representation.

Error handling: when the bus is unavailable (Redis down) the batch in hand is
dropped and counted in the bus state, and the actor waits a capped backoff
before it opens the bus again; meanwhile the hook drops what does not fit.
Anything else propagates to the supervisor.

Resource handling: holds one batch at a time. It has nothing to drain at
shutdown (live clients are gone by then) and is cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import msgspec
import trio

from monitor.bus.base import Bus, BusUnavailable
from monitor.domain.events import LEVELS
from monitor.domain.live_filters import ALERTS, EVENTS, METRICS
from monitor.messages import (
    AlertBatch,
    AlertTransitions,
    CommittedEvents,
    CommittedSamples,
    EventBatch,
    LiveBatch,
    LiveEvent,
    LiveSample,
    LiveSampleBatch,
    Publishable,
)
from monitor.retry import Backoff

log = logging.getLogger(__name__)


def live_batch(message: Publishable) -> LiveBatch:
    """The bus message for a committed batch: its items as the REST API shows them."""
    if isinstance(message, CommittedEvents):
        group_ids = message.group_ids
        return EventBatch(
            tuple(
                LiveEvent(
                    id=row.id,
                    time=row.time,
                    received_at=row.received_at,
                    type=row.type,
                    level=LEVELS[row.level],
                    source=row.source,
                    message=row.message,
                    attributes=msgspec.Raw(row.attributes),
                    fingerprint=row.fingerprint,
                    trace_id=row.trace_id,
                    group_id=group_ids.get(row.fingerprint)
                    if row.grouped and row.fingerprint
                    else None,
                )
                for row in message.rows
            )
        )
    if isinstance(message, CommittedSamples):
        return LiveSampleBatch(tuple(_live_samples(message)))
    assert isinstance(message, AlertTransitions)
    return AlertBatch(tuple(dict(item) for item in message.items))


def channel_of(message: Publishable) -> str:
    if isinstance(message, CommittedEvents):
        return EVENTS
    if isinstance(message, CommittedSamples):
        return METRICS
    return ALERTS


async def run(
    inbox: trio.MemoryReceiveChannel[Publishable],
    bus: Bus,
    listened: Callable[[str], bool],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Publish what arrives; skip a batch when `listened(channel)` says nobody wants it.

    (In-process, a channel without local subscribers costs nothing: building
    the REST form of every sample would cost ingest about a microsecond each.)
    """
    task_status.started()
    backoff = Backoff()
    while True:
        try:
            async with bus.publisher() as publish:
                async for message in inbox:
                    if not listened(channel_of(message)):
                        continue
                    await publish(live_batch(message))
                    backoff.reset()
            return  # the hook's channel was closed
        except BusUnavailable as failure:
            delay = backoff.next()
            log.warning(
                "live bus unavailable; dropping a batch",
                extra={"error": str(failure), "retry_in_s": delay},
            )
            await trio.sleep(delay)


def _live_samples(committed: CommittedSamples) -> Iterator[LiveSample]:
    """Each committed sample in its REST form; what is per series is built once."""
    for ids, batch in committed.batches:
        series = [
            (series_id, key.name, key.source, dict(key.labels))
            for series_id, key in zip(ids, batch.keys, strict=True)
        ]
        for slot, time, value in zip(batch.slots, batch.times, batch.values, strict=True):
            series_id, name, source, labels = series[slot]
            yield LiveSample(
                series_id=series_id,
                name=name,
                source=source,
                labels=labels,
                time=time,
                value=value,
            )
