"""The notification sender: on every instance, claims due deliveries and sends them.

Any instance may send any delivery: each `poll` seconds a sender claims
queued deliveries that are due and that no live claim holds
(storage/deliveries.py `claim_due`, FOR UPDATE SKIP LOCKED, so two senders
never claim one row), marks them claimed by itself until `now + lease` and
commits; then sends each in its own task. A sender that dies leaves its
claims to lapse at `claimed_until`, and another (or itself restarted)
claims them again. The lease is longer than an attempt may take (the
outbound total timeout, plus the reads and the write around it), so a live
sender's claim does not lapse under it.

One attempt (`attempt_once`): read the channel (deleted or disabled: the
delivery fails with that reason; secrets that do not open: it fails as
"secret unreadable"), make the group from the stored message
(notifications/snapshot.py), `deliver` it, judge the result
(notifications/retries.py) and record the attempt with the delivery's new
state in one transaction, only while this sender still holds the claim it
made (a compare-and-set), so a claim that lapsed and was taken by another
sender is never recorded twice. Every attempt sends the delivery's own
idempotency key.

Concurrency: at most `concurrency` attempts at once on this instance, and at
most `channel_concurrency` to one channel: a claim takes no more of a
channel's deliveries than it has room for, and leaves a full channel's rows
to others, so one slow receiver holds its own slots and nobody else's.
When a claim saw more due work than it took, the sender claims again as
soon as an attempt ends instead of waiting for the next poll.

Error handling: a database outage skips the poll (logged); an attempt whose
reads or write meet one leaves its claim to lapse, and the delivery is
tried again. A message that cannot be built or an unexpected error while
sending is logged and recorded as a failed attempt, retried like any other.
Resource handling: no inbox; its tasks live in its nursery and each attempt
is bounded in time. At shutdown it is cancelled; it hands back (shielded,
bounded) the claims it holds, so another instance need not wait for them
to lapse.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import trio

from monitor.notifications.delivery import deliver
from monitor.notifications.groups import NotificationGroup
from monitor.notifications.retries import RetryPolicy, Verdict, judge
from monitor.notifications.snapshot import group_of_snapshot
from monitor.outbound import Failure, OutboundLimits, OutboundResult
from monitor.retry import describe
from monitor.secret_box import SecretBox, SecretUnreadable
from monitor.sender_figures import SenderFigures
from monitor.storage import deliveries as store
from monitor.storage.deliveries import AttemptRecord, ClaimedDelivery, SendingChannel
from monitor.storage.errors import StorageUnavailable
from monitor.storage.gateway import Connection, Gateway

log = logging.getLogger(__name__)

# Rows locked per claim for each free slot: enough to find other channels' work
# behind one busy channel's, few enough to keep the claim's transaction short.
CANDIDATES_PER_SLOT = 4
MAX_CANDIDATES = 500
FIGURES_EVERY_S = 5.0
RELEASE_TIMEOUT_S = 2.0
# What an attempt may take beyond the outbound total timeout: the channel read,
# building the message, and recording the outcome (an attempt that overruns its
# lease is safe all the same: its outcome is not recorded, and it is sent again).
ATTEMPT_MARGIN_S = 5.0

Send = Callable[
    [str, Mapping[str, Any], Mapping[str, str] | None, NotificationGroup, OutboundLimits],
    Awaitable[OutboundResult],
]


async def _send(
    kind: str,
    settings: Mapping[str, Any],
    opened: Mapping[str, str] | None,
    group: NotificationGroup,
    limits: OutboundLimits,
) -> OutboundResult:
    return await deliver(kind, settings, opened, group, limits)


@dataclass(frozen=True)
class SenderConfig:
    instance_id: str
    public_url: str
    limits: OutboundLimits
    policy: RetryPolicy
    poll: float = 1.0
    concurrency: int = 32
    channel_concurrency: int = 4

    @property
    def attempt_timeout(self) -> float:
        return self.limits.total_timeout + ATTEMPT_MARGIN_S

    @property
    def lease(self) -> timedelta:
        """How long a claim holds: longer than any attempt, with room to spare."""
        return timedelta(seconds=2 * self.attempt_timeout)


@dataclass
class Sender:
    """One running sender: its id (unique per run, so a restarted process never takes an
    old claim for its own) and what it has in flight."""

    gateway: Gateway
    box: SecretBox
    config: SenderConfig
    figures: SenderFigures
    send: Send = _send
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    jitter: Callable[[], float] = random.random
    id: str = ""
    per_channel: Counter[int] = field(default_factory=Counter)
    ended: trio.Event = field(default_factory=trio.Event)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = f"{self.config.instance_id}/{secrets.token_hex(4)}"

    # ---- claiming ----------------------------------------------------------------------

    async def claim(self) -> tuple[list[ClaimedDelivery], bool]:
        free = self.config.concurrency - self.figures.in_flight
        if free <= 0:
            return [], True
        busy = Counter(self.per_channel)  # a copy: tasks ending meanwhile change the original
        limit = self.config.channel_concurrency
        full = [channel for channel, count in busy.items() if count >= limit]
        taken: list[int] = []

        def room(channel_id: int) -> bool:
            if len(taken) >= free or busy[channel_id] >= limit:
                return False
            busy[channel_id] += 1
            taken.append(channel_id)
            return True

        def work(connection: Connection) -> tuple[list[ClaimedDelivery], bool]:
            return store.claim_due(
                connection,
                self.id,
                self.config.lease,
                room=room,
                candidates=min(MAX_CANDIDATES, free * CANDIDATES_PER_SLOT),
                skip_channels=full,
            )

        claimed, more = await self.gateway.run(work)
        # A full channel's rows were not looked at: there may be more as soon as one
        # of its attempts ends.
        return claimed, more or bool(full) or any(busy[c] >= limit for c in taken)

    async def release(self) -> None:
        """Hand back the claims this sender holds (at shutdown): due again at once."""

        def work(connection: Connection) -> None:
            connection.execute(
                "update notification_deliveries set claimed_by = null, claimed_until = null "
                "where claimed_by = %s and status = 'queued'",
                (self.id,),
            )

        await self.gateway.run(work)

    async def refresh_figures(self) -> None:
        queue = await self.gateway.run(store.queue_figures)
        self.figures.queued = queue.queued
        self.figures.oldest_queued_age_s = queue.oldest_queued_s
        self.figures.oldest_due_wait_s = queue.oldest_due_wait_s
        self.figures.figures_at = time.time()

    # ---- one attempt -------------------------------------------------------------------

    async def attempt(self, delivery: ClaimedDelivery) -> None:
        """Send `delivery` once and record what came of it (while the claim holds)."""
        started_at = self.clock()
        started = time.perf_counter()
        result = OutboundResult(failure=Failure("timeout", "the attempt took too long"))
        verdict: Verdict | None = None
        with trio.move_on_after(self.config.attempt_timeout):
            channel = await self.gateway.run(
                lambda connection: store.sending_channel(connection, delivery.channel_id)
            )
            verdict = _channel_refusal(channel)
            if verdict is None:
                assert channel is not None
                result = await self._send(channel, delivery)
        if verdict is None:
            verdict = judge(
                result,
                attempt=delivery.attempts + 1,
                queued_at=delivery.created_at,
                now=self.clock(),
                policy=self.config.policy,
                jitter=self.jitter(),
            )
        record = AttemptRecord(
            outcome=verdict.outcome,
            started_at=started_at,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            status_code=result.status,
            error_kind=verdict.error_kind,
            error=verdict.error,
            response=result.body or None,
            next_attempt_at=verdict.next_attempt_at,
        )
        recorded = await self.gateway.run(
            lambda connection: store.record_attempt(connection, self.id, delivery, record)
        )
        if not recorded:
            self.figures.lost_claims += 1
            log.warning(
                "notification outcome not recorded: the claim lapsed and was taken",
                extra={"delivery_id": delivery.id, "sender": self.id},
            )
            return
        if verdict.outcome == "delivered":
            self.figures.delivered += 1
        elif verdict.outcome == "retrying":
            self.figures.retried += 1
        else:
            self.figures.failed += 1
            log.warning(
                "notification failed",
                extra={
                    "delivery_id": delivery.id,
                    "channel_id": delivery.channel_id,
                    "error": verdict.error,
                },
            )

    async def _send(self, channel: SendingChannel, delivery: ClaimedDelivery) -> OutboundResult:
        opened: dict[str, str] | None = {}
        if channel.secrets is not None:
            try:
                opened = {str(k): str(v) for k, v in self.box.open(channel.secrets).items()}
            except SecretUnreadable:
                opened = None
        try:
            group = group_of_snapshot(
                delivery.message,
                idempotency_key=delivery.idempotency_key,
                public_url=self.config.public_url,
                sent_at=self.clock(),
            )
            return await self.send(
                channel.kind, channel.settings, opened, group, self.config.limits
            )
        except Exception as problem:  # a bug, not the receiver's doing: logged, retried
            log.exception(
                "notification could not be sent",
                extra={"delivery_id": delivery.id, "channel_id": channel.id},
            )
            return OutboundResult(failure=Failure("internal_error", describe(problem)[:500]))

    async def attempt_and_account(self, delivery: ClaimedDelivery) -> None:
        try:
            await self.attempt(delivery)
        except StorageUnavailable as failure:
            log.warning(
                "notification attempt not recorded: database unavailable; its claim will lapse",
                extra={"delivery_id": delivery.id, "error": str(failure)},
            )
        finally:
            self.figures.in_flight -= 1
            self.per_channel[delivery.channel_id] -= 1
            if self.per_channel[delivery.channel_id] <= 0:
                del self.per_channel[delivery.channel_id]
            self.ended.set()


def _channel_refusal(channel: SendingChannel | None) -> Verdict | None:
    """The failure of a delivery whose channel cannot be sent to; None when it can."""
    if channel is None or channel.deleted:
        return Verdict("failed", error_kind="channel_deleted", error="the channel was deleted")
    if not channel.enabled:
        return Verdict("failed", error_kind="channel_disabled", error="the channel is disabled")
    return None


async def run(
    sender: Sender,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    config = sender.config
    task_status.started()
    figures_due = 0.0
    try:
        async with trio.open_nursery() as nursery:
            while True:
                sender.ended = trio.Event()
                claimed: list[ClaimedDelivery] = []
                more = False
                try:
                    claimed, more = await sender.claim()
                    if time.monotonic() >= figures_due:
                        await sender.refresh_figures()
                        figures_due = time.monotonic() + FIGURES_EVERY_S
                except StorageUnavailable as failure:
                    sender.figures.skipped_polls += 1
                    log.warning(
                        "notification poll skipped: database unavailable",
                        extra={"error": str(failure)},
                    )
                for delivery in claimed:
                    sender.figures.in_flight += 1
                    sender.per_channel[delivery.channel_id] += 1
                    nursery.start_soon(sender.attempt_and_account, delivery)
                if claimed and more and sender.figures.in_flight < config.concurrency:
                    continue  # more was due than one claim took: take it now
                with trio.move_on_after(config.poll):
                    if more:
                        await sender.ended.wait()  # room frees when an attempt ends
                    else:
                        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(RELEASE_TIMEOUT_S):
            try:
                await sender.release()
            except StorageUnavailable as failure:
                log.warning(
                    "notification claims not handed back: database unavailable; they will lapse",
                    extra={"error": str(failure)},
                )
