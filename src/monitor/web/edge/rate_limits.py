"""Rate limits at the web edge: ask the limiter actor, answer 429, add RateLimit headers.

Every request except the exempt operational routes counts against its client
address, before authentication (so a flood never reaches the database);
a request that authenticates also counts against its key, and one that fails
to authenticate against the address's small failed-auth budget. The binding
decision goes into `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset`: the key's when the request authenticated with a limited
key, otherwise the address's (or the failed-auth budget's, when that refused).

A refused request gets 429 problem+json with `Retry-After` and does no work.

Error handling: when the limiter does not answer within ASK_TIMEOUT (it is
restarting, or swamped), the request is served without that limit and the
miss is counted in `unanswered` (shown in /stats) — rate limiting protects the
service but must never be why it fails.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import trio
from quart import Quart, Response, g, request

from monitor.config import Settings
from monitor.domain.client_ip import client_address, limit_identity
from monitor.domain.gcra import Decision, Rate
from monitor.messages import LimitQuery
from monitor.web.deps import current_deps
from monitor.web.edge.credentials import presented_token
from monitor.web.edge.problems import ProblemError

if TYPE_CHECKING:
    from monitor.web.edge.auth import Principal

log = logging.getLogger(__name__)

EXEMPT_PATHS = frozenset({"/health", "/health/ready", "/metrics", "/docs", "/openapi.json"})
STATIC_PREFIX = "/static/"
ASK_TIMEOUT = 2.0


def is_exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(STATIC_PREFIX)


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


def too_many(decision: Decision, detail: str) -> ProblemError:
    return ProblemError(
        429,
        f"{detail}; retry in {decision.retry_after_s} s",
        kind="rate-limited",
        headers={"Retry-After": str(decision.retry_after_s)},
    )


def _bind(decision: Decision | None, detail: str) -> None:
    """Make `decision` the one the headers report; refuse the request if it says so."""
    if decision is None:
        return
    g.rate_limit = decision
    if not decision.allowed:
        raise too_many(decision, detail)


def _request_client() -> str:
    client: str | None = g.get("rate_limit_client")
    if client is None:
        client = current_deps().limiter.client_of(
            request.remote_addr, request.headers.getlist("X-Forwarded-For")
        )
        g.rate_limit_client = client
    return client


async def charge_auth_failure() -> None:
    """Count a failed authentication; 429 once the address has failed too often."""
    decision = await current_deps().limiter.check_auth_failure(_request_client())
    if decision is not None and not decision.allowed:
        _bind(decision, "too many failed authentications from this address")


async def charge_key(principal: Principal) -> None:
    """Count the request against its key (unless that was done with its
    address); 429 when the key is over its limit."""
    if "rate_limit_key" in g:
        decision: Decision | None = g.rate_limit_key
    else:
        decision = await current_deps().limiter.check_key(principal.key_id, principal.rate_limit)
    _bind(decision, "this API key is over its rate limit")


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_s),
    }


def register_rate_limits(app: Quart) -> None:
    @app.before_request
    async def limit_address() -> None:
        if is_exempt(request.path):
            return
        deps = current_deps()
        # A key the authenticator has cached is counted now, with the
        # address: one limiter round trip instead of two.
        known = deps.authenticator.cached_principal(presented_token(request.headers))
        if known is None:
            decision = await deps.limiter.check_address(_request_client())
        else:
            decision, g.rate_limit_key = await deps.limiter.check_address_and_key(
                _request_client(), known.key_id, known.rate_limit
            )
        _bind(decision, "too many requests from this address")

    @app.after_request
    async def add_headers(response: Response) -> Response:
        decision: Decision | None = g.get("rate_limit")
        if decision is not None:
            response.headers.update(rate_limit_headers(decision))
        return response
