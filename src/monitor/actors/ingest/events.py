"""The ingest actor: group commit of events, replying only after commit.

Handlers send an IngestEvents (validated rows and a reply channel) into the
actor's bounded inbox. Each of `workers` tasks takes a request, gathers every
other request already waiting (up to `batch_rows` rows), ensures the day
partitions the rows need, and commits them all in one transaction. Then it
replies to each request and publishes the committed rows.

Error handling:
- PostgreSQL refuses the rows themselves (RowsRejected): the group is split
  and each request is committed on its own, so one request's bad rows never
  fail another's; the offending request gets 422.
- The database is unavailable (StorageUnavailable): every request of the group
  gets 503; nothing of it was committed.
- Anything else is a bug: the waiting requests get 503, then the error
  propagates and the supervisor restarts the actor.
- A requester that went away (client disconnected) has closed its reply
  channel: its rows are committed all the same and the reply is dropped.

Resource handling: the inbox is bounded (handlers answer 503 when it is full);
at most `workers` transactions, so `workers` pooled connections, at a time.
Publishing never blocks: the hook drops and counts when its listener lags.
On shutdown (inbox closed) each worker commits what was already queued, then
returns.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

import trio

from monitor.actors.ingest import group_commit
from monitor.counters import IngestCounters
from monitor.domain.partitions import DayPartition, partitions_for
from monitor.domain.rows import EventRow
from monitor.messages import CommittedEvents, IngestEvents, IngestOutcome
from monitor.storage.errors import RowsRejected, StorageUnavailable

log = logging.getLogger(__name__)

CommitRows = Callable[[Sequence[EventRow]], Awaitable[Mapping[str, int]]]
EnsurePartitions = Callable[[Iterable[DayPartition]], Awaitable[object]]
Publish = Callable[[CommittedEvents], None]


def _reply(request: IngestEvents, outcome: IngestOutcome, counters: IngestCounters) -> None:
    if not group_commit.reply(request, outcome):
        counters.replies_dropped += 1  # the requester is gone; its rows stand


class _Committer:
    def __init__(
        self,
        commit: CommitRows,
        ensure_partitions: EnsurePartitions,
        publish: Publish,
        counters: IngestCounters,
    ) -> None:
        self._commit = commit
        self._ensure_partitions = ensure_partitions
        self._publish = publish
        self._counters = counters
        self._known_partitions: set[DayPartition] = set()

    async def commit_group(self, group: list[IngestEvents]) -> None:
        rows = [row for request in group for row in request.rows]
        try:
            await self._prepare_partitions(rows)
            group_ids = await self._commit(rows)
        except StorageUnavailable as failure:
            log.warning(
                "ingest: database unavailable",
                extra={"requests": len(group), "error": str(failure)},
            )
            self._counters.unavailable_requests += len(group)
            for request in group:
                _reply(
                    request,
                    IngestOutcome(False, 503, "the database is unavailable; retry shortly"),
                    self._counters,
                )
            return
        except RowsRejected as refused:
            if len(group) > 1:
                for request in group:
                    await self.commit_group([request])
                return
            log.warning("ingest: rows refused by the database", extra={"error": str(refused)})
            self._counters.rejected_requests += 1
            _reply(
                group[0],
                IngestOutcome(False, 422, f"the database refused the rows: {refused}"),
                self._counters,
            )
            return
        except BaseException:
            for request in group:
                _reply(
                    request,
                    IngestOutcome(False, 503, "ingest failed; retry shortly"),
                    self._counters,
                )
            raise
        self._counters.transactions += 1
        self._counters.requests += len(group)
        self._counters.rows += len(rows)
        for request in group:
            _reply(request, IngestOutcome(True, 201, group_ids=group_ids), self._counters)
        self._publish(CommittedEvents(rows, group_ids))

    async def _prepare_partitions(self, rows: Sequence[EventRow]) -> None:
        needed = partitions_for(row.time for row in rows) - self._known_partitions
        if needed:
            await self._ensure_partitions(needed)
            self._known_partitions |= needed


def _row_count(request: IngestEvents) -> int:
    return len(request.rows)


async def run(
    inbox: trio.MemoryReceiveChannel[IngestEvents],
    commit: CommitRows,
    ensure_partitions: EnsurePartitions,
    publish: Publish,
    counters: IngestCounters,
    *,
    workers: int,
    batch_rows: int,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    committer = _Committer(commit, ensure_partitions, publish, counters)
    async with trio.open_nursery() as nursery:
        for number in range(workers):
            nursery.start_soon(
                group_commit.worker,
                inbox,
                _row_count,
                committer.commit_group,
                batch_rows,
                name=f"ingest-worker-{number}",
            )
        task_status.started()
