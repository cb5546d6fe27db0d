"""Signing in and out of the dashboard, and what a page needs to know about its session.

`GET /ui/sign-in` is the form. `POST /ui/sign-in` takes an API key pasted
into it (field `key`, never shown or stored again: only the session is) and
answers 303 with the session cookie, to `next` when that is a path on this
site, else to `/`. A refused attempt answers a browser's form post (Accept:
text/html) with the form again and the reason, never the key; an API-style
client gets the problem document.
`POST /ui/sign-out` ends the session (CSRF token required) and answers 303
to the sign-in page. `GET /ui/session` tells a page who is signed in, with
the CSRF token its forms and htmx requests carry. None of these take an API
key header; none appears in the OpenAPI document.
"""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, Response, jsonify, request
from quart_schema import hide

from monitor.domain.client_ip import UNKNOWN, client_address
from monitor.domain.keys import Role
from monitor.domain.sessions import bounded_user_agent, safe_next
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.rate_limits import charge_auth_failure, charge_key
from monitor.web.edge.sessions import (
    clear_session_cookie,
    csrf_token,
    current_session,
    require_csrf,
    require_origin,
    require_session_role,
    set_session_cookie,
)
from monitor.web.ui.rendering import render_page, wants_html

log = logging.getLogger(__name__)
blueprint = Blueprint("ui_sessions", __name__)

SIGN_IN_PATH = "/ui/sign-in"
KEY_FIELD = "key"
NEXT_FIELD = "next"
# `?ended=` on the sign-in page: why the last session ended (a fixed text per reason,
# so the URL cannot put words on the page).
SIGNED_OUT_REVOKED = "key-revoked"
ENDED_NOTICES = {
    SIGNED_OUT_REVOKED: "You were signed out: the key this session was signed in with "
    "has been revoked.",
}
# Viewing is the least a dashboard user does; an ingest key may only send data.
SIGN_IN_ROLE = Role.READ


def _client() -> str | None:
    address = client_address(
        request.remote_addr,
        request.headers.getlist("X-Forwarded-For"),
        current_deps().settings.trusted_proxies,
    )
    return None if address == UNKNOWN else address


def _see_other(location: str) -> Response:
    """A 303 to a path of this site (relative: never built from Host)."""
    return Response("", status=303, headers={"Location": location})


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


async def sign_in_form(
    *,
    next_path: str,
    status: int = 200,
    error: str | None = None,
    headers: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response:
    return _no_store(
        await render_page(
            "sign_in.html",
            session=None,
            status=status,
            headers=headers,
            error=error,
            notice=notice,
            next_path=next_path,
            key_field=KEY_FIELD,
            next_field=NEXT_FIELD,
        )
    )


@blueprint.get(SIGN_IN_PATH)
@hide
async def sign_in_page() -> Response:
    """The sign-in form; a browser already signed in goes straight on to `next`."""
    next_path = safe_next(request.args.get(NEXT_FIELD))
    if await current_session() is not None:
        return _see_other(next_path)
    return await sign_in_form(
        next_path=next_path, notice=ENDED_NOTICES.get(request.args.get("ended", ""))
    )


@blueprint.post(SIGN_IN_PATH)
@hide
async def sign_in() -> Response:
    try:
        return await _sign_in()
    except ProblemError as refused:
        if not wants_html():
            raise
        form = await request.form
        return await sign_in_form(
            next_path=safe_next(form.get(NEXT_FIELD) or request.args.get(NEXT_FIELD)),
            status=refused.status,
            error=refused.detail,
            headers=refused.headers,
        )


async def _sign_in() -> Response:
    """Exchange a pasted API key for a session cookie.

    The Origin check comes first (no page elsewhere may sign a browser in,
    even to the attacker's own key); a wrong key counts against the
    address's failed-auth budget like any failed authentication.
    """
    require_origin()
    deps = current_deps()
    form = await request.form
    presented = form.get(KEY_FIELD, "").strip()
    if not presented:
        raise ProblemError(400, "paste an API key into the `key` field to sign in")
    try:
        principal = await deps.authenticator.authenticate(presented)
    except ProblemError:
        await charge_auth_failure()
        raise
    if not principal.role.may(SIGN_IN_ROLE):
        raise ProblemError(
            403,
            f"a key with the {principal.role.label} role cannot sign in: it may only send "
            "data; sign in with a read, write or admin key",
            kind="forbidden",
        )
    await charge_key(principal)
    session = await deps.sessions.start(
        principal,
        user_agent=bounded_user_agent(request.headers.get("User-Agent")),
        client_address=_client(),
    )
    log.info(
        "signed in",
        extra={"key": principal.audit_name, "session": session.id, "remote": _client()},
    )
    response = _see_other(safe_next(form.get(NEXT_FIELD) or request.args.get(NEXT_FIELD)))
    set_session_cookie(response, deps, session)
    return _no_store(response)


@blueprint.post("/ui/sign-out")
@hide
async def sign_out() -> Response:
    """End the session; without one there is nothing to end, and the cookie is cleared
    all the same."""
    require_origin()
    deps = current_deps()
    session = await current_session()
    if session is not None:
        await require_csrf(session)
        await deps.sessions.end(session)
        log.info(
            "signed out",
            extra={"key": session.principal.audit_name, "session": session.id, "remote": _client()},
        )
    response = _see_other(SIGN_IN_PATH)
    clear_session_cookie(response, deps)
    return _no_store(response)


@blueprint.get("/ui/session")
@require_session_role(Role.READ)
async def session_info() -> Response:
    """Who is signed in, until when, and the CSRF token for this session's requests."""
    deps = current_deps()
    session = await current_session()
    assert session is not None  # require_session_role saw it
    principal = session.principal
    idle_ends = session.last_seen_at + deps.sessions.idle_timeout
    body: dict[str, Any] = {
        "role": principal.role.label,
        "key": {"id": principal.key_id, "name": principal.name, "prefix": principal.prefix},
        "csrf_token": csrf_token(deps.secret_keys, session),
        "created_at": session.created_at.isoformat(),
        "expires_at": session.expires_at.isoformat(),
        "idle_expires_at": idle_ends.isoformat(),
        "ends_at": session.ends_at.isoformat(),
    }
    return _no_store(jsonify(body))
