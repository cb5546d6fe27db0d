"""The Silences pages: the list by state, one silence, the new-silence form (prefilled
from an alert instance in one click) and expiring one with a confirmation.

Reads and writes are the silences API's own (web/api/notifications/silence_routes.py):
the list takes the API's `state` and `cursor` parameters and pages the same
way; the form is turned into the API's JSON document and judged by
`parse_silence` (silence_form.py), then saved by the API's `save_silence`;
expiring is the API's `expire_now`. So a refusal reads the same and the
audit row is the same whichever way a silence was made (decision 0048).

Everything works without JavaScript: the form has a fixed number of matcher
rows (empty ones are ignored), and each POST answers 303 with a notice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response, request

from monitor.domain.cursors import encode_numbered_cursor
from monitor.domain.dashboards import DashboardRefused
from monitor.domain.keys import Role
from monitor.domain.label_matchers import (
    MAX_MATCHERS,
    MAX_NAME_LENGTH,
    MAX_VALUE_LENGTH,
)
from monitor.domain.notification_documents import MAX_COMMENT, parse_silence
from monitor.domain.rule_fields import RuleProblems
from monitor.storage import alert_reads as reads
from monitor.storage import silences as store
from monitor.web.api.alerts.paging import MAX_ID, choices_of, page_of
from monitor.web.api.dashboard.answers import unknown_parameters
from monitor.web.api.dashboards.answers import existing_id, not_found, problem_for
from monitor.web.api.notifications.silence_routes import DEFAULT_STATES, expire_now, save_silence
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import invalid_query
from monitor.web.edge.sessions import current_session
from monitor.web.ui import silence_form
from monitor.web.ui.alerts_page import RULES_PATH, database_needed
from monitor.web.ui.navigation import page_named
from monitor.web.ui.overview_view import utc_label
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page, wants_fragment

blueprint = Blueprint("ui_silences", __name__)

SILENCES = page_named("silences")
NEW_PATH = SILENCES.path + "/new"
PAGE_SIZE = 50
DONE = ("created", "expired")  # the notice after an action: `created=<id>`
LIST_PARAMETERS = frozenset({"state", "cursor", *DONE})
NEW_PARAMETERS = frozenset({"instance_id"})
FORM_BYTES = 256 * 1024
# The list's tabs: (label, the `state` parameter); the first is the default.
TABS = (
    ("Active and pending", ""),
    ("Active", "active"),
    ("Pending", "pending"),
    ("Expired", "expired"),
)


def _context(now: datetime) -> dict[str, Any]:
    return {
        "utc_label": utc_label,
        "relative": lambda moment: silence_form.relative(moment, now),
        "matcher_text": silence_form.matcher_text,
        "now": now,
        "silences_path": SILENCES.path,
        "new_path": NEW_PATH,
        "rules_path": RULES_PATH,
    }


async def _notice(args: Any) -> str | None:
    for done in DONE:
        raw = args.get(done, "")
        if not (raw.isascii() and raw.isdigit() and int(raw) <= MAX_ID):
            continue
        record = await store.get(current_deps().gateway, int(raw))
        if record is None:
            return None
        if done == "created":
            return f"Silence #{record.id} is saved: it holds until {utc_label(record.ends_at)}."
        if record.expired_at is not None:
            return f"Silence #{record.id} is expired."
    return None


@blueprint.get(SILENCES.path)
@session_page(SILENCES.role)
async def silences() -> Response:
    args = request.args
    errors = unknown_parameters(args, LIST_PARAMETERS)
    states = choices_of(args, "state", store.SILENCE_STATES, errors)
    _, before = page_of(args, errors)
    if errors:
        raise invalid_query(errors)
    now = datetime.now(UTC)
    wanted = tuple(s for s in store.SILENCE_STATES if s in states) or DEFAULT_STATES
    with database_needed():
        rows = await store.list_silences(
            current_deps().gateway,
            now=now,
            states=wanted,
            limit=PAGE_SIZE + 1,
            before_id=None if before is None else before[1],
        )
        notice = await _notice(args)
    page = rows[:PAGE_SIZE]
    next_cursor = (
        encode_numbered_cursor(page[-1].created_at, page[-1].id) if len(rows) > PAGE_SIZE else None
    )
    state_text = "" if wanted == DEFAULT_STATES else ",".join(wanted)
    return await render_page(
        "silences.html",
        session=await current_session(),
        current=SILENCES,
        silences=[(row, row.state(now)) for row in page],
        next_cursor=next_cursor,
        tabs=TABS,
        state_text=state_text,
        first_page=before is None,
        notice=notice,
        page_size=PAGE_SIZE,
        **_context(now),
    )


async def _record(silence_id: int) -> store.SilenceRecord:
    existing_id("silence", silence_id)
    with database_needed():
        record = await store.get(current_deps().gateway, silence_id)
    if record is None:
        raise not_found("silence", silence_id)
    return record


@blueprint.get(SILENCES.path + "/<int:silence_id>")
@session_page(SILENCES.role)
async def silence(silence_id: int) -> Response:
    unknown = unknown_parameters(request.args, frozenset())
    if unknown:
        raise invalid_query(unknown)
    record = await _record(silence_id)
    now = datetime.now(UTC)
    return await render_page(
        "silence.html",
        session=await current_session(),
        current=SILENCES,
        silence=record,
        state=record.state(now),
        confirm=False,
        **_context(now),
    )


# The new-silence form.


async def _form_page(
    *,
    rows: list[silence_form.MatcherRow],
    form: dict[str, str],
    errors: silence_form.FormErrors,
    instance: reads.InstanceRow | None = None,
    status: int = 200,
) -> Response:
    now = datetime.now(UTC)
    return await render_page(
        "silence_form.html",
        session=await current_session(),
        current=SILENCES,
        status=status,
        rows=silence_form.shown_rows(rows),
        form=form,
        errors=errors,
        instance=instance,
        operators=silence_form.OPERATOR_CHOICES,
        durations=silence_form.DURATIONS,
        custom=silence_form.CUSTOM,
        max_comment=MAX_COMMENT,
        max_name=MAX_NAME_LENGTH,
        max_value=MAX_VALUE_LENGTH,
        max_matchers=MAX_MATCHERS,
        **_context(now),
    )


def _instance_id(raw: str) -> int:
    """The `instance_id` parameter: a 400 when it is not a whole number, a 404 when no
    row could have it."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 40 and int(text) >= 1):
        raise invalid_query([{"field": "instance_id", "message": "must be an alert instance's id"}])
    number = int(text)
    if number > MAX_ID:
        raise not_found("alert instance", number)
    return number


@blueprint.get(NEW_PATH)
@session_page(Role.ADMIN)
async def new_silence() -> Response:
    errors = unknown_parameters(request.args, NEW_PARAMETERS)
    if errors:
        raise invalid_query(errors)
    given = request.args.getlist("instance_id")
    if len(given) > 1:
        raise invalid_query([{"field": "instance_id", "message": "give one instance_id"}])
    instance = None
    if given:
        instance_id = _instance_id(given[0])
        with database_needed():
            instance = await reads.get_instance(current_deps().gateway, instance_id)
        if instance is None:
            raise not_found("alert instance", instance_id)
    rows = silence_form.prefilled_rows(instance.labels) if instance else []
    return await _form_page(
        rows=rows, form=silence_form.shown_form({}), errors={}, instance=instance
    )


async def _posted_form() -> dict[str, str]:
    declared = request.content_length
    if declared is not None and declared > FORM_BYTES:
        raise ProblemError(413, f"the form is larger than {FORM_BYTES} bytes; nothing was saved")
    return {name: value for name, value in (await request.form).items() if name != "csrf_token"}


@blueprint.post(NEW_PATH)
@session_page(Role.ADMIN)
async def create_silence() -> Response:
    form = await _posted_form()
    body, row_numbers = silence_form.silence_body(form)
    now = datetime.now(UTC)
    try:
        document = parse_silence(body, now=now)
    except RuleProblems as refused:
        problems = [problem.as_dict() for problem in refused.problems]
        return await _form_page(
            rows=silence_form.rows_of(form),
            form=silence_form.shown_form(form),
            errors=silence_form.errors_by_field(problems, row_numbers),
            status=400,
        )
    with database_needed():
        try:
            created = await save_silence(document, now)
        except DashboardRefused as refusal:
            raise problem_for(refusal) from None
    return _go_to(f"{SILENCES.path}?created={created.id}")


# Expiring.


@blueprint.get(SILENCES.path + "/<int:silence_id>/expire")
@session_page(Role.ADMIN)
async def confirm_expire(silence_id: int) -> Response:
    record = await _record(silence_id)
    now = datetime.now(UTC)
    return await render_page(
        "silence.html",
        session=await current_session(),
        current=SILENCES,
        silence=record,
        state=record.state(now),
        confirm=True,
        **_context(now),
    )


@blueprint.post(SILENCES.path + "/<int:silence_id>/expire")
@session_page(Role.ADMIN)
async def expire(silence_id: int) -> Response:
    with database_needed():
        try:
            expired = await expire_now(silence_id, datetime.now(UTC))
        except DashboardRefused as refusal:
            raise problem_for(refusal) from None
    return _go_to(f"{SILENCES.path}?expired={expired.id}")


def _go_to(location: str) -> Response:
    """A 303 to `location`; htmx is told to load it as a whole page."""
    if wants_fragment():
        response = Response("", status=200, headers={"HX-Redirect": location})
    else:
        response = Response("", status=303, headers={"Location": location})
    response.headers["Cache-Control"] = "no-store"
    return response
