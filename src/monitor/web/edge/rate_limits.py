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

from quart import Quart, Response, g, request

from monitor.domain.gcra import Decision
from monitor.web.deps import current_deps
from monitor.web.edge.authenticator import Principal
from monitor.web.edge.credentials import presented_token
from monitor.web.edge.problems import ProblemError

log = logging.getLogger(__name__)

EXEMPT_PATHS = frozenset({"/health", "/health/ready", "/metrics", "/docs", "/openapi.json"})
STATIC_PREFIX = "/static/"


def is_exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(STATIC_PREFIX)


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
        client = current_deps().limits.limiter.client_of(
            request.remote_addr, request.headers.getlist("X-Forwarded-For")
        )
        g.rate_limit_client = client
    return client


async def charge_auth_failure() -> None:
    """Count a failed authentication; 429 once the address has failed too often."""
    decision = await current_deps().limits.limiter.check_auth_failure(_request_client())
    if decision is not None and not decision.allowed:
        _bind(decision, "too many failed authentications from this address")


async def charge_key(principal: Principal) -> None:
    """Count the request against its key (unless that was done with its
    address); 429 when the key is over its limit."""
    if "rate_limit_key" in g:
        decision: Decision | None = g.rate_limit_key
    else:
        decision = await current_deps().limits.limiter.check_key(
            principal.key_id, principal.rate_limit
        )
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
            decision = await deps.limits.limiter.check_address(_request_client())
        else:
            decision, g.rate_limit_key = await deps.limits.limiter.check_address_and_key(
                _request_client(), known.key_id, known.rate_limit
            )
        _bind(decision, "too many requests from this address")

    @app.after_request
    async def add_headers(response: Response) -> Response:
        decision: Decision | None = g.get("rate_limit")
        if decision is not None:
            response.headers.update(rate_limit_headers(decision))
        return response
