"""The dashboard's session cookie, its CSRF token and Origin check, and the session guard.

The cookie carries the session token signed with MONITOR_SECRET_KEY (purpose
"session"): a cookie not signed with the current or previous key is never
looked up. It is HttpOnly, SameSite=Lax and Path=/; when the public URL is
https it is Secure as well and named with the `__Host-` prefix, which tells
the browser to refuse it from any other host or path (a `__Host-` cookie must
be Secure, Path=/ and without Domain, so it covers the whole host even when
the service is published under a path).

A state-changing UI request must carry the CSRF token (form field
`csrf_token`, or header `X-CSRF-Token`) and an `Origin` equal to the public
URL's origin; otherwise 403. The token is an HMAC of the session token
(purpose "csrf"): it is different for each session and reveals nothing of
the cookie. `Origin` is required, not merely checked when present: browsers
send it on every POST, and Referer is not an alternative since responses
limit it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import ParamSpec, TypeVar

from quart import Response, g, request
from quart_schema import hide
from werkzeug.datastructures import Headers

from monitor.domain.keys import Role
from monitor.domain.sessions import origin_of
from monitor.domain.signing import SecretKeys, mac, mac_matches, sign, verify
from monitor.web.deps import WebDeps, current_deps
from monitor.web.edge.auth import declare_role, forbidden
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.rate_limits import charge_auth_failure, charge_key
from monitor.web.edge.session_keeper import Session

COOKIE_NAME = "monitor_session"
SECURE_COOKIE_NAME = "__Host-" + COOKIE_NAME
SESSION_PURPOSE = "session"
CSRF_PURPOSE = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_AUTH_ATTRIBUTE = "_monitor_session_auth"

P = ParamSpec("P")
R = TypeVar("R")


def cookie_is_secure(deps: WebDeps) -> bool:
    return deps.identity.public_url.lower().startswith("https://")


def cookie_name(deps: WebDeps) -> str:
    return SECURE_COOKIE_NAME if cookie_is_secure(deps) else COOKIE_NAME


def public_origin(deps: WebDeps) -> str:
    return origin_of(deps.identity.public_url)


def set_session_cookie(response: Response, deps: WebDeps, session: Session) -> None:
    """The cookie lasts as long as the session can (its maximum age); the server ends it
    sooner when it goes idle."""
    response.set_cookie(
        cookie_name(deps),
        sign(deps.secret_keys, SESSION_PURPOSE, session.token),
        max_age=int(deps.sessions.max_age.total_seconds()),
        path="/",
        secure=cookie_is_secure(deps),
        httponly=True,
        samesite="Lax",
    )


def clear_session_cookie(response: Response, deps: WebDeps) -> None:
    response.delete_cookie(
        cookie_name(deps), path="/", secure=cookie_is_secure(deps), httponly=True, samesite="Lax"
    )


def csrf_token(keys: SecretKeys, session: Session) -> str:
    """The session's CSRF token: what its pages put in forms and htmx headers."""
    return mac(keys, CSRF_PURPOSE, session.token)


class ForgedCookie(Exception):
    """A session cookie whose signature no secret key made."""


async def session_from_cookies(cookies: Mapping[str, str], deps: WebDeps) -> Session | None:
    """The live session the cookies carry; None without one (or when it ended).

    ForgedCookie when the cookie is there but its signature is wrong: the
    caller counts it as a failed authentication.
    """
    signed = cookies.get(cookie_name(deps))
    if not signed:
        return None
    token = verify(deps.secret_keys, SESSION_PURPOSE, signed)
    if token is None:
        raise ForgedCookie
    return await deps.sessions.find(token)


async def current_session() -> Session | None:
    """This request's session (looked up once per request); a forged cookie is counted
    against the address's failed-auth budget (429 once spent) and treated as none."""
    if "session_checked" in g:
        found: Session | None = g.session
        return found
    deps = current_deps()
    try:
        session = await session_from_cookies(request.cookies, deps)
    except ForgedCookie:
        session = None
        await charge_auth_failure()
    g.session_checked = True
    g.session = session
    return session


def origin_matches(headers: Mapping[str, str] | Headers, deps: WebDeps) -> bool:
    return headers.get("Origin", "").strip().lower() == public_origin(deps)


def require_origin() -> None:
    """403 unless the request's `Origin` is the public URL's origin."""
    deps = current_deps()
    if not origin_matches(request.headers, deps):
        raise ProblemError(
            403,
            f"this request must come from a page of {public_origin(deps)} "
            "(its Origin header does not match MONITOR_PUBLIC_URL)",
            kind="forbidden",
        )


async def require_csrf(session: Session) -> None:
    """403 unless the request comes from this site (Origin) and carries the session's
    CSRF token (header `X-CSRF-Token`, or form field `csrf_token`)."""
    require_origin()
    presented = request.headers.get(CSRF_HEADER)
    if not presented:
        presented = (await request.form).get(CSRF_FIELD)
    if not presented or not mac_matches(
        current_deps().secret_keys, CSRF_PURPOSE, session.token, presented.strip()
    ):
        raise ProblemError(
            403,
            "the CSRF token is missing or wrong; reload the page and try again",
            kind="forbidden",
        )


def signed_out() -> ProblemError:
    return ProblemError(401, "sign in first (POST /ui/sign-in)", kind="unauthorized")


def require_session_role(
    required: Role,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Route decorator for UI routes: a signed-in browser whose key's role grants `required`.

    Like `require_role`, but by the session cookie instead of an API key:
    401 without a live session, 403 when the role may not (`Role.may`, the
    same table), 429 when the key is over its rate limit; and for a method
    that changes state (anything but GET, HEAD, OPTIONS) the CSRF token and
    Origin check, 403 without them. Leaves `g.principal` and `g.session`.
    The route is left out of the OpenAPI document: it is for pages, not clients.
    """

    def decorate(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(handler)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            session = await current_session()
            if session is None:
                raise signed_out()
            principal = session.principal
            await charge_key(principal)
            if not principal.role.may(required):
                raise forbidden(required, principal.role)
            if request.method not in SAFE_METHODS:
                await require_csrf(session)
            g.principal = principal
            return await handler(*args, **kwargs)

        setattr(guarded, SESSION_AUTH_ATTRIBUTE, True)
        return declare_role(required)(hide(guarded))

    return decorate


def uses_session_auth(view: Callable[..., object]) -> bool:
    """Whether a view authenticates by the session cookie (for the role-matrix test)."""
    return getattr(view, SESSION_AUTH_ATTRIBUTE, False) is True
