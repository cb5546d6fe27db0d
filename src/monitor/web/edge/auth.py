"""API key authentication and role checks.

Keys arrive as `X-API-Key: <key>` or `Authorization: Bearer <key>`. A lookup is
cached for `key_cache_ttl` seconds (keyed by the public prefix, holding only
the secret's hash), so a busy client costs no database round trip per request;
a revocation made through this instance takes effect at once, one made
elsewhere within the TTL.

Each successful authentication hands a KeyUsed to the key-usage actor without
waiting; when its inbox is full the stamp is dropped and counted, since
last_used_at is advisory.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from quart import g, request
from quart_schema import security_scheme

from monitor.domain.keys import Role, granted_to, spoken_list
from monitor.web.deps import current_deps
from monitor.web.edge.authenticator import Principal
from monitor.web.edge.credentials import presented_token
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.rate_limits import charge_auth_failure, charge_key

SECURITY: list[dict[str, list[str]]] = [{"ApiKeyHeader": []}, {"BearerAuth": []}]
SECURITY_SCHEMES: dict[str, Any] = {
    "ApiKeyHeader": {"type": "apiKey", "in_": "header", "name": "X-API-Key"},
    "BearerAuth": {"type": "http", "scheme": "bearer"},
}


P = ParamSpec("P")
R = TypeVar("R")
V = TypeVar("V", bound=Callable[..., object])


REQUIRED_ROLE_ATTRIBUTE = "_monitor_required_role"


def declare_role(required: Role) -> Callable[[V], V]:
    """Record on a view the role it needs, for the OpenAPI document and the role-matrix test.

    `require_role` does this itself; a websocket route, which checks its key
    after the upgrade (web/ws/routes.py `admit`), declares it with this.
    """

    def mark(view: V) -> V:
        setattr(view, REQUIRED_ROLE_ATTRIBUTE, required)
        return view

    return mark


def declared_role(view: Callable[..., object]) -> Role | None:
    """The role a view declared, or None for a public one."""
    found = getattr(view, REQUIRED_ROLE_ATTRIBUTE, None)
    return found if isinstance(found, Role) else None


def forbidden(required: Role, held: Role) -> ProblemError:
    """The 403 for a key whose role does not grant `required`."""
    holders = spoken_list([role.label for role in granted_to(required)], "and")
    return ProblemError(
        403,
        f"this operation needs the {required.label} role (held by {holders} keys); "
        f"the key has {held.label}",
        kind="forbidden",
    )


def require_role(
    required: Role,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Route decorator: authenticate the request and demand a key whose role grants `required`.

    `required` names what the route does (ingest, read, write, admin);
    `Role.may` says which key roles grant it (docs/roles.md has the matrix).
    Put it directly under `@blueprint.route` so that authentication happens
    before the body is read or validated. The principal is left in `g.principal`.
    A failed authentication counts against the address's failed-auth budget
    (429 once spent), a successful one against the key's rate limit (429 when
    over it); either way before the handler does any work.
    """

    def decorate(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(handler)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                principal = await current_deps().authenticator.authenticate(
                    presented_token(request.headers)
                )
            except ProblemError:
                await charge_auth_failure()
                raise
            await charge_key(principal)
            if not principal.role.may(required):
                raise forbidden(required, principal.role)
            g.principal = principal
            return await handler(*args, **kwargs)

        return declare_role(required)(security_scheme(SECURITY)(guarded))

    return decorate


def current_principal() -> Principal:
    principal: Principal = g.principal
    return principal
