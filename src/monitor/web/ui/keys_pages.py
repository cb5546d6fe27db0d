"""The API keys page (admin): the list, the create form, and revoking with a confirmation.

Creating and revoking go through the same functions as the API
(web/api/keys/actions.py), so the audit rows are the same. The new key is
shown once, in the answer to the form's POST: never in a URL, never cached
(`no-store`), never again on a later GET. Revoking asks first (a GET page
with a form, so it works without JavaScript) and then redirects (303) back
to the list; revoking the key the session was signed in with ends the
session, so the browser goes to the sign-in page with a notice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from quart import Blueprint, Response, request

from monitor.domain.keys import ROLE_LABELS
from monitor.domain.query_values import whole_number
from monitor.storage import keys as key_store
from monitor.web.api.keys import actions
from monitor.web.api.keys.schemas import MAX_ID, MAX_NAME_LENGTH, MAX_RATE_LIMIT, KeyCreate
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.session_keeper import Session
from monitor.web.edge.sessions import clear_session_cookie, current_session
from monitor.web.ui.navigation import page_named
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page, wants_fragment
from monitor.web.ui.session_routes import SIGN_IN_PATH, SIGNED_OUT_REVOKED

blueprint = Blueprint("ui_keys", __name__)

KEYS = page_named("keys")
# What the form offers; anything else is refused (the API takes any future time).
EXPIRY_DAYS = (1, 7, 30, 90, 365)
MAX_EXPIRY_DAYS = 3650
FormErrors = dict[str, str]


async def _session() -> Session:
    session = await current_session()
    assert session is not None  # session_page saw it
    return session


async def _keys_page(
    *,
    status: int = 200,
    created: tuple[key_store.KeyRecord, str] | None = None,
    errors: FormErrors | None = None,
    form: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response:
    session = await _session()
    records = await key_store.list_keys(current_deps().gateway)
    now = datetime.now(UTC)
    return await render_page(
        "keys.html",
        session=session,
        current=KEYS,
        status=status,
        keys=[(record, record.status(now)) for record in reversed(records)],
        own_key_id=session.principal.key_id,
        roles=ROLE_LABELS,
        expiry_days=EXPIRY_DAYS,
        max_name_length=MAX_NAME_LENGTH,
        max_rate_limit=MAX_RATE_LIMIT,
        created=created,
        errors=errors or {},
        form=form or {},
        notice=notice,
    )


@blueprint.get(KEYS.path)
@session_page(KEYS.role)
async def keys_page() -> Response:
    notice = None
    revoked = request.args.get("revoked", "")
    if revoked.isascii() and revoked.isdigit() and int(revoked) <= MAX_ID:
        record = await key_store.get_key(current_deps().gateway, int(revoked))
        if record is not None and record.revoked_at is not None:
            notice = f"Key “{record.name}” ({record.prefix}) is revoked."
    return await _keys_page(notice=notice)


def _optional_number(
    form: dict[str, str], field: str, low: int, high: int, errors: FormErrors
) -> int | None:
    raw = form.get(field, "").strip()
    if not raw:
        return None
    try:
        return whole_number(raw, low, high)
    except ValueError as problem:
        errors[field] = str(problem)
        return None


def _key_to_create(form: dict[str, str]) -> tuple[KeyCreate | None, FormErrors]:
    """The form's key, or every problem with it by field (the API's rules, plus the
    form's own: expiry as a number of days)."""
    errors: FormErrors = {}
    days = _optional_number(form, "expires_in_days", 1, MAX_EXPIRY_DAYS, errors)
    rate_limit = _optional_number(form, "rate_limit", 0, MAX_RATE_LIMIT, errors)
    fields: dict[str, Any] = {
        "name": form.get("name", ""),
        "role": form.get("role", ""),
        "rate_limit": rate_limit,
        "expires_at": None if days is None else datetime.now(UTC) + timedelta(days=days),
    }
    try:
        data = KeyCreate.model_validate(fields)
    except ValidationError as invalid:
        for error in invalid.errors():
            field = str(error["loc"][0]) if error["loc"] else "name"
            errors.setdefault(field, _message(field, error))
        return None, errors
    return (None, errors) if errors else (data, errors)


def _message(field: str, error: Any) -> str:
    if field == "role":
        return f"must be one of {', '.join(ROLE_LABELS)}"
    if field == "name" and error["type"] == "string_too_long":
        return f"must be at most {MAX_NAME_LENGTH} characters"
    if field == "name":
        return "must be printable text, not only spaces"
    return str(error["msg"])


@blueprint.post(KEYS.path)
@session_page(KEYS.role)
async def create_key() -> Response:
    form = {name: value for name, value in (await request.form).items() if name != "csrf_token"}
    data, errors = _key_to_create(form)
    if data is None:
        return await _keys_page(status=400, errors=errors, form=form)
    created = await actions.create_key(data)
    return await _keys_page(status=201, created=created)


async def _existing(key_id: int) -> key_store.KeyRecord:
    record = None if key_id > MAX_ID else await key_store.get_key(current_deps().gateway, key_id)
    if record is None:
        raise ProblemError(404, f"no API key with id {key_id}", kind="not-found")
    return record


@blueprint.get(KEYS.path + "/<int:key_id>/revoke")
@session_page(KEYS.role)
async def confirm_revoke(key_id: int) -> Response:
    record = await _existing(key_id)
    session = await _session()
    return await render_page(
        "key_revoke.html",
        session=session,
        current=KEYS,
        key=record,
        own=record.id == session.principal.key_id,
    )


@blueprint.post(KEYS.path + "/<int:key_id>/revoke")
@session_page(KEYS.role)
async def revoke_key(key_id: int) -> Response:
    session = await _session()
    record = await actions.revoke_key(key_id)
    if record is None:
        raise ProblemError(404, f"no API key with id {key_id}", kind="not-found")
    if record.id == session.principal.key_id:
        # Its sessions were deleted with the revocation: this one is over too.
        response = _go_to(f"{SIGN_IN_PATH}?ended={SIGNED_OUT_REVOKED}")
        clear_session_cookie(response, current_deps())
        return response
    return _go_to(f"{KEYS.path}?revoked={record.id}")


def _go_to(location: str) -> Response:
    """A 303 to `location`; htmx is told to load it as a whole page."""
    if wants_fragment():
        response = Response("", status=200, headers={"HX-Redirect": location})
    else:
        response = Response("", status=303, headers={"Location": location})
    response.headers["Cache-Control"] = "no-store"
    return response
