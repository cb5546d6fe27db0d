"""The metric ingest actor: group commit of samples, and atomic counter increments.

It owns the series cache: (name, source, labels) → series id, bounded to
`max_series` entries (least recently used go first). Handlers send
IngestSamples or IncrementCounter into its bounded inbox; workers gather
waiting requests (see group_commit) and commit each group of samples in one
transaction. Increments are committed one by one, serialised per series by
the database, so concurrent increments never lose an update.

Error handling:
- A request whose sample disagrees with its metric's recorded type, or that
  would create a series past a cardinality limit, gets 422; the others of its
  group are committed.
- Series deleted since the cache was filled (on this or another instance; the
  database's series generation moved): the cache starts afresh and the group
  is resolved again, once.
- RowsRejected splits the group; StorageUnavailable answers 503 to all; any
  other error answers 503 to all, then crashes the actor (supervisor restarts).
- A requester that went away: its samples are committed, the reply dropped.

Resource handling: the inbox is bounded (handlers answer 503 when full); the
cache holds at most `max_series` ids; at most `workers` transactions at once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime

import trio

from monitor.actors.ingest import group_commit
from monitor.counters import MetricIngestCounters
from monitor.domain.partitions import DayPartition, partitions_spanning
from monitor.domain.rows import SampleBatch, SeriesKey
from monitor.messages import CommittedSamples, IncrementCounter, IngestOutcome, IngestSamples
from monitor.storage.errors import RowsRejected, StorageUnavailable
from monitor.storage.metric_ingest import Cached, SampleCommit, StaleSeries

log = logging.getLogger(__name__)

MetricWrite = IngestSamples | IncrementCounter
CommitSamples = Callable[[Sequence[SampleBatch], Cached], Awaitable[SampleCommit]]
Increment = Callable[[IncrementCounter, Cached], Awaitable[tuple[int, float, int]]]
EnsurePartitions = Callable[[Iterable[DayPartition]], Awaitable[object]]
Publish = Callable[[CommittedSamples], None]

UNAVAILABLE = IngestOutcome(False, 503, "the database is unavailable; retry shortly")


class SeriesCache:
    """Least-recently-used series ids (at most `capacity`) and metric types.

    The ids are valid as of `generation`, the count of series deletions the
    database had when they were resolved; a commit that finds a newer
    generation raises StaleSeries and the cache starts afresh.
    """

    def __init__(self, capacity: int) -> None:
        self._ids: OrderedDict[SeriesKey, int] = OrderedDict()
        self._capacity = capacity
        self._types: dict[str, str] = {}
        self.generation: int | None = None

    def __len__(self) -> int:
        return len(self._ids)

    def known(self, keys: Iterable[SeriesKey]) -> Cached:
        found: dict[SeriesKey, int] = {}
        ids = self._ids
        for key in keys:
            series_id = ids.get(key)
            if series_id is not None:
                ids.move_to_end(key)
                found[key] = series_id
        return Cached(found, self.generation, dict(self._types))

    def remember(
        self, ids: Mapping[SeriesKey, int], types: Mapping[str, str], generation: int
    ) -> None:
        """Keep ids resolved in `generation` (others may already be stale) and types."""
        if len(self._types) + len(types) > self._capacity:
            self._types.clear()
        self._types.update(types)
        if self.generation is None:
            self.generation = generation
        if generation != self.generation:
            return
        for key, series_id in ids.items():
            self._ids[key] = series_id
            self._ids.move_to_end(key)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)

    def start_afresh(self, generation: int) -> None:
        self._ids.clear()
        self.generation = generation


class _MetricCommitter:
    def __init__(
        self,
        commit_samples: CommitSamples,
        increment: Increment,
        ensure_partitions: EnsurePartitions,
        publish: Publish,
        counters: MetricIngestCounters,
        cache: SeriesCache,
    ) -> None:
        self._commit_samples = commit_samples
        self._increment = increment
        self._ensure_partitions = ensure_partitions
        self._publish = publish
        self._counters = counters
        self._cache = cache
        self._known_partitions: set[DayPartition] = set()

    async def commit_group(self, group: list[MetricWrite]) -> None:
        samples = [request for request in group if isinstance(request, IngestSamples)]
        try:
            if samples:
                await self._commit_sample_group(samples)
            for request in group:
                if isinstance(request, IncrementCounter):
                    await self._commit_increment(request)
        except BaseException:
            for request in group:
                group_commit.reply(request, IngestOutcome(False, 503, "ingest failed; retry"))
            raise

    async def _commit_sample_group(self, group: list[IngestSamples]) -> None:
        batches = [request.batch for request in group]
        keys = {key for batch in batches for key in batch.keys}
        try:
            await self._prepare_partitions(
                [min(b.earliest for b in batches), max(b.latest for b in batches)]
            )
            try:
                result = await self._commit_samples(batches, self._cache.known(keys))
            except StaleSeries as stale:
                self._counters.stale_series_retries += 1
                self._cache.start_afresh(stale.generation)
                result = await self._commit_samples(batches, self._cache.known(keys))
        except StorageUnavailable as failure:
            log.warning("metric ingest: database unavailable", extra={"error": str(failure)})
            self._counters.unavailable_requests += len(group)
            for request in group:
                group_commit.reply(request, UNAVAILABLE)
            return
        except (RowsRejected, StaleSeries) as refused:
            if len(group) > 1:
                for request in group:
                    await self._commit_sample_group([request])
                return
            self._counters.refused_requests += 1
            group_commit.reply(group[0], IngestOutcome(False, 422, str(refused)))
            return
        self._cache.remember(result.new_series, result.metric_types, result.generation)
        self._counters.transactions += 1
        self._counters.samples += result.committed_rows
        committed: list[tuple[Sequence[int], SampleBatch]] = []
        for index, request in enumerate(group):
            refusal = result.refusals.get(index)
            if refusal is None:
                self._counters.requests += 1
                group_commit.reply(request, IngestOutcome(True, 201))
                committed.append((result.key_ids[index], request.batch))
            else:
                self._counters.refused_requests += 1
                group_commit.reply(request, IngestOutcome(False, 422, refusal))
        if committed:
            self._publish(CommittedSamples(committed))

    async def _commit_increment(self, request: IncrementCounter) -> None:
        try:
            await self._prepare_partitions([request.time])
            try:
                series_id, value, generation = await self._increment(
                    request, self._cache.known([request.key])
                )
            except StaleSeries as stale:
                self._cache.start_afresh(stale.generation)
                series_id, value, generation = await self._increment(
                    request, self._cache.known([request.key])
                )
        except StorageUnavailable:
            group_commit.reply(request, UNAVAILABLE)
            return
        except RowsRejected as refused:
            self._counters.refused_requests += 1
            group_commit.reply(request, IngestOutcome(False, 422, str(refused)))
            return
        self._cache.remember({request.key: series_id}, {request.key.name: "counter"}, generation)
        self._counters.increments += 1
        group_commit.reply(request, IngestOutcome(True, 201, value=value))
        batch = SampleBatch(
            keys=[request.key],
            declared=[(request.key.name, "counter", None)],
            slots=[0],
            times=[request.time],
            values=[value],
            earliest=request.time,
            latest=request.time,
        )
        self._publish(CommittedSamples([([series_id], batch)]))

    async def _prepare_partitions(self, bounds: list[datetime]) -> None:
        """Ensure the day partitions from the earliest to the latest of `bounds`."""
        needed = partitions_spanning(min(bounds), max(bounds)) - self._known_partitions
        if needed:
            await self._ensure_partitions(needed)
            self._known_partitions |= needed


def _size(request: MetricWrite) -> int:
    return len(request.batch) if isinstance(request, IngestSamples) else 1


async def run(
    inbox: trio.MemoryReceiveChannel[MetricWrite],
    commit_samples: CommitSamples,
    increment: Increment,
    ensure_partitions: EnsurePartitions,
    publish: Publish,
    counters: MetricIngestCounters,
    *,
    workers: int,
    batch_rows: int,
    max_series: int,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    committer = _MetricCommitter(
        commit_samples, increment, ensure_partitions, publish, counters, SeriesCache(max_series)
    )
    async with trio.open_nursery() as nursery:
        for number in range(workers):
            nursery.start_soon(
                group_commit.worker,
                inbox,
                _size,
                committer.commit_group,
                batch_rows,
                name=f"metric-ingest-worker-{number}",
            )
        task_status.started()
