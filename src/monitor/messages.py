"""Every value that crosses a channel between the web edge and the actors."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from monitor.domain.gcra import Decision, Rate
from monitor.domain.rows import EventRow, SampleBatch, SamplePoint, SeriesKey

if TYPE_CHECKING:
    from monitor.live_connections import Outbox


@dataclass(frozen=True)
class KeyUsed:
    """An API key authenticated a request at `at` (for the batched last_used_at)."""

    key_id: int
    at: datetime


@dataclass(frozen=True)
class IngestOutcome:
    """The ingest actor's answer to one request: committed, or why not."""

    committed: bool
    status: int  # HTTP status the request should answer with
    detail: str = ""
    group_ids: Mapping[str, int] = field(default_factory=dict)  # fingerprint → group id
    value: float | None = None  # the new value of an incremented counter


@dataclass(frozen=True)
class IngestEvents:
    """A request's rows and the channel its outcome goes back on."""

    rows: Sequence[EventRow]
    reply: trio.MemorySendChannel[IngestOutcome]


@dataclass(frozen=True)
class CommittedEvents:
    """Rows the ingest actor has committed, for live streaming."""

    rows: Sequence[EventRow]
    group_ids: Mapping[str, int]


@dataclass(frozen=True)
class IngestSamples:
    batch: SampleBatch
    reply: trio.MemorySendChannel[IngestOutcome]


@dataclass(frozen=True)
class IncrementCounter:
    """Add `by` to a counter series' latest value, as a new sample at `time`."""

    key: SeriesKey
    by: float
    time: datetime
    reply: trio.MemorySendChannel[IngestOutcome]


@dataclass(frozen=True)
class CommittedSamples:
    """Samples the metric ingest actor has committed: per batch, the ids of its keys."""

    batches: Sequence[tuple[Sequence[int], SampleBatch]]

    @property
    def samples(self) -> list[tuple[int, SamplePoint]]:
        """(series id, sample) for every committed sample."""
        return [
            (ids[slot], point)
            for ids, batch in self.batches
            for slot, point in zip(batch.slots, batch.points(), strict=True)
        ]


Committed = CommittedEvents | CommittedSamples


@dataclass(frozen=True)
class AlertTransitions:
    """Alert state changes for the `alerts` live channel; the alert engine publishes them."""

    items: Sequence[Mapping[str, Any]]


Publishable = Committed | AlertTransitions


# What crosses the bus (between instances through Redis, too). msgspec Structs,
# not dataclasses: a batch is encoded once when published, and its items once
# when fanned out, both by msgspec. Items have their REST representation.


class LiveEvent(msgspec.Struct, frozen=True):
    id: uuid.UUID
    time: datetime
    received_at: datetime
    type: str
    level: str
    source: str
    message: str
    attributes: msgspec.Raw  # the committed JSON, passed through undecoded
    fingerprint: str | None
    trace_id: str | None
    group_id: int | None


class LiveSample(msgspec.Struct, frozen=True):
    series_id: int
    name: str
    source: str
    labels: dict[str, str]
    time: datetime
    value: float


class EventBatch(msgspec.Struct, frozen=True, tag="events"):
    items: tuple[LiveEvent, ...]


class LiveSampleBatch(msgspec.Struct, frozen=True, tag="samples"):
    items: tuple[LiveSample, ...]


class AlertBatch(msgspec.Struct, frozen=True, tag="alerts"):
    items: tuple[dict[str, Any], ...]


LiveBatch = EventBatch | LiveSampleBatch | AlertBatch


# From websocket connections to the fan-out actor.


@dataclass(frozen=True)
class SubscriptionsChanged:
    """The connection's `subscriptions` changed: route by them, then push `replies`.

    The subscriptions themselves are not carried: the actor reads the
    connection's current ones, so a message that arrives after a restart
    already rebuilt the index cannot take it back to an older state.
    """

    outbox: Outbox
    replies: tuple[bytes, ...]


@dataclass(frozen=True)
class Disconnect:
    outbox: Outbox


FanoutMessage = LiveBatch | SubscriptionsChanged | Disconnect


@dataclass(frozen=True)
class LimitQuery:
    """May `identity` make one more request at `rate`? The decision goes back on `reply`."""

    identity: str
    rate: Rate
    reply: trio.MemorySendChannel[Decision]
