"""The web edge's handle on the rate-limit actor: which identity, at which rate, asked how.

Decisions come back over a reply channel; an actor that does not answer in
ASK_TIMEOUT fails open (the request is served without that limit, counted in
`unanswered` and logged on the first and every 1000th).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import trio

from monitor.config import Settings
from monitor.domain.client_ip import client_address, limit_identity
from monitor.domain.gcra import Decision, Rate
from monitor.messages import LimitQuery

log = logging.getLogger(__name__)

ASK_TIMEOUT = 2.0


def _per_minute(limit: int) -> Rate | None:
    return None if limit == 0 else Rate.per_minute(limit)


class Limiter:
    """The web edge's handle on the limiter actor, with the configured rates."""

    def __init__(self, inbox: trio.MemorySendChannel[LimitQuery], settings: Settings) -> None:
        self._inbox = inbox
        self._per_address = _per_minute(settings.rate_limit_per_ip)
        self._auth_failures = _per_minute(settings.auth_failures_per_ip)
        self._default_per_key = settings.rate_limit_per_key
        self._trusted = settings.trusted_proxies
        self.unanswered = 0

    def client_of(self, peer: str | None, forwarded_for: Iterable[str]) -> str:
        """What per-address limits count for a request from `peer`."""
        return limit_identity(client_address(peer, forwarded_for, self._trusted))

    def key_rate(self, rate_limit: int | None) -> Rate | None:
        """A key's own limit per hour; None means the default; 0 means unlimited."""
        limit = self._default_per_key if rate_limit is None else rate_limit
        return None if limit == 0 else Rate.per_hour(limit)

    async def check_address(self, client: str) -> Decision | None:
        return await self._ask(f"ip:{client}", self._per_address)

    async def check_auth_failure(self, client: str) -> Decision | None:
        return await self._ask(f"authfail:{client}", self._auth_failures)

    async def check_key(self, key_id: int, rate_limit: int | None) -> Decision | None:
        return await self._ask(f"key:{key_id}", self.key_rate(rate_limit))

    async def check_address_and_key(
        self, client: str, key_id: int, rate_limit: int | None
    ) -> tuple[Decision | None, Decision | None]:
        """Both decisions of an authenticated request, asked together (one Redis round trip)."""
        address, key = await self._ask_together(
            [(f"ip:{client}", self._per_address), (f"key:{key_id}", self.key_rate(rate_limit))]
        )
        return address, key

    async def _ask(self, identity: str, rate: Rate | None) -> Decision | None:
        return (await self._ask_together([(identity, rate)]))[0]

    async def _ask_together(
        self, checks: Sequence[tuple[str, Rate | None]]
    ) -> list[Decision | None]:
        """Decisions for `checks`; queued without yielding in between, so the
        actor takes them in one batch. None where no limit applies, or when the
        actor does not answer in time (counted in `unanswered`)."""
        answers: list[Decision | None] = [None] * len(checks)
        replies: list[tuple[int, trio.MemoryReceiveChannel[Decision]]] = []
        with trio.move_on_after(ASK_TIMEOUT):
            try:
                for index, (identity, rate) in enumerate(checks):
                    if rate is None:
                        continue
                    reply_send, reply_receive = trio.open_memory_channel[Decision](1)
                    query = LimitQuery(identity, rate, reply_send)
                    try:
                        self._inbox.send_nowait(query)
                    except trio.WouldBlock:
                        await self._inbox.send(query)
                    replies.append((index, reply_receive))
                for index, reply_receive in replies:
                    answers[index] = await reply_receive.receive()
                return answers
            except (trio.ClosedResourceError, trio.BrokenResourceError, trio.EndOfChannel):
                pass  # the service is stopping; counted below
        self.unanswered += 1
        if self.unanswered == 1 or self.unanswered % 1000 == 0:
            log.warning(
                "the rate limiter did not answer; serving without the limit",
                extra={"unanswered": self.unanswered},
            )
        return answers
