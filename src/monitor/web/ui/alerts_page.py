"""The Alerts page: open instances now, those resolved in the last 24 h, and the
operators' two actions on an instance (acknowledge, resolve).

Both lists are the alerts API's reads (storage/alert_reads.py
`list_instances`), filtered by the page's URL (state, severity, rule) and
paged with the same cursors, each list with its own. Acknowledging and
resolving go through the API's own steps (web/api/alerts/instance_actions.py),
so the same input is refused the same way and the same audit row is written.

Each action is a page with a form (a confirmation for resolving), so it works
without JavaScript: its POST answers 303 back to the page it came from, with
a notice saying what changed. A form with a bad field comes back with the
reason and nothing stored; a state that forbids the action (a resolved
instance, a pending one acknowledged) is the API's 409 reason, as a page.

Live updates need nothing of their own here: the lists sit in an element
naming the page's own address (templates/alerts.html `data-alerts-live`,
`data-live-url`), which static/alerts.js fetches again as a fragment when
the `alerts` websocket channel reports a change (decision 0065).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import ValidationError
from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from monitor.alert_muting import Muting, muting_of
from monitor.domain.alert_rules import SEVERITIES
from monitor.domain.alert_states import ACKNOWLEDGEABLE, CLOSED, ActionRefused, State
from monitor.domain.cursors import encode_numbered_cursor
from monitor.domain.keys import Role
from monitor.domain.sessions import safe_next
from monitor.storage import alert_reads as reads
from monitor.storage import alert_rules as rule_store
from monitor.storage.alert_reads import InstanceRow
from monitor.storage.errors import StorageUnavailable
from monitor.web.api.alerts.answers import action_refused
from monitor.web.api.alerts.instance_actions import acknowledge_instance, resolve_instance
from monitor.web.api.alerts.paging import MAX_ID, parse_instance_query
from monitor.web.api.alerts.schemas import AcknowledgeIn
from monitor.web.api.dashboard.answers import unknown_parameters
from monitor.web.api.dashboards.answers import existing_id, not_found
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.query_checks import QueryArgs, invalid_query
from monitor.web.edge.sessions import current_session
from monitor.web.ui.form_times import LOCAL_TIME, shown_time
from monitor.web.ui.navigation import page_named
from monitor.web.ui.overview_view import utc_label
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page, wants_fragment

blueprint = Blueprint("ui_alerts", __name__)

ALERTS = page_named("alerts")
RULES_PATH = ALERTS.path + "/rules"
PAGE_SIZE = 50
RESOLVED_WITHIN = timedelta(hours=24)
OPEN_STATES = tuple(state.value for state in State if state not in CLOSED)
CLOSED_VALUES = frozenset(state.value for state in CLOSED)
SILENCES_PATH = page_named("silences").path
DELIVERIES_PATH = page_named("notifications").path
DONE = ("acknowledged", "resolved")  # the notice after an action: `acknowledged=<id>`
OPEN_CURSOR, RESOLVED_CURSOR = "cursor", "resolved_cursor"
LIST_PARAMETERS = frozenset({"state", "severity", "rule_id", OPEN_CURSOR, RESOLVED_CURSOR, *DONE})
MAX_COMMENT = 2000
_RULE_PATH = re.compile(re.escape(RULES_PATH) + r"/[0-9]{1,20}")


@contextlib.contextmanager
def database_needed() -> Iterator[None]:
    """An outage is a 503 page with Retry-After, as the API answers it."""
    try:
        yield
    except StorageUnavailable as outage:
        raise ProblemError(
            503,
            "the database cannot be reached just now; try again in a moment",
            kind="storage-unavailable",
            headers={"Retry-After": str(outage.retry_after_seconds)},
        ) from None


@dataclass(frozen=True)
class Listing:
    """One list of instances: a page of them and where the next page starts."""

    rows: list[InstanceRow]
    next_cursor: str | None


def _one(
    args: QueryArgs, name: str, allowed: tuple[str, ...] | None, errors: list[dict[str, Any]]
) -> str:
    """The parameter's one value ('' when not given); `allowed` None: any (the API's
    parser checks it)."""
    given = [value for value in args.getlist(name) if value]
    if len(given) > 1:
        errors.append({"field": name, "message": f"give one {name}"})
        return ""
    chosen = given[0] if given else ""
    if chosen and allowed is not None and chosen not in allowed:
        errors.append({"field": name, "message": f"must be one of {', '.join(allowed)}"})
        return ""
    return chosen


async def _listing(filters: list[tuple[str, str]], cursor_name: str) -> Listing:
    """A page of instances as the API's list answers `filters`, from the cursor in
    `cursor_name` (a bad filter or cursor is the API's 400, as a page, naming it)."""
    asked = MultiDict([*filters, ("limit", str(PAGE_SIZE))])
    cursor = request.args.get(cursor_name, "")
    if cursor:
        asked.add("cursor", cursor)
    try:
        found, limit, before = parse_instance_query(asked)
    except ProblemError as refused:
        raise invalid_query(
            [
                {**error, "field": cursor_name} if error["field"] == "cursor" else error
                for error in refused.errors or []
            ]
        ) from None
    rows = await reads.list_instances(current_deps().gateway, found, limit=limit + 1, before=before)
    page = rows[:limit]
    more = len(rows) > limit
    return Listing(page, encode_numbered_cursor(page[-1].opened_at, page[-1].id) if more else None)


def _here() -> str:
    kept = [(name, value) for name, value in request.args.items(multi=True) if name not in DONE]
    return request.path + ("?" + urlencode(kept) if kept else "")


def page_link(**changes: str | None) -> str:
    """This page's address with `changes` (None: the parameter dropped), notices dropped."""
    kept = [
        (name, value)
        for name, value in request.args.items(multi=True)
        if name not in DONE and name not in changes
    ]
    kept += [(name, value) for name, value in changes.items() if value]
    return request.path + ("?" + urlencode(kept) if kept else "")


async def notice_for(args: QueryArgs) -> str | None:
    """What the last action did, said from the instance as it is now."""
    for done in DONE:
        raw = args.get(done, "")
        if not (raw.isascii() and raw.isdigit() and int(raw) <= MAX_ID):
            continue
        row = await reads.get_instance(current_deps().gateway, int(raw))
        if row is None:
            return None
        if done == "acknowledged" and row.acknowledged_by is not None:
            return (
                f"Instance #{row.id} of “{row.rule_name}” is acknowledged by {row.acknowledged_by}."
            )
        if done == "resolved" and row.state == State.RESOLVED.value:
            return f"Instance #{row.id} of “{row.rule_name}” is resolved."
    return None


async def muting_for(rows: Sequence[InstanceRow]) -> dict[int, Muting]:
    """What mutes each open instance of `rows` now, by id (one read of the silences and
    inhibition rules for the page, none when no row is open)."""
    found = await muting_of(
        current_deps().gateway,
        [(row.labels, row.state not in CLOSED_VALUES) for row in rows],
        datetime.now(UTC),
    )
    return {row.id: muting for row, muting in zip(rows, found, strict=True) if muting.muted}


def instance_context(muting: Mapping[int, Muting] | None = None) -> dict[str, Any]:
    """What the instance tables of the alerts pages need (a macro per row); `muting`:
    what mutes each open instance shown, by id."""
    return {
        "muting": muting or {},
        "silences_path": SILENCES_PATH,
        "deliveries_path": DELIVERIES_PATH,
        "utc_label": utc_label,
        "acknowledgeable": {state.value for state in ACKNOWLEDGEABLE},
        "closed_states": {state.value for state in CLOSED},
        "alerts_path": ALERTS.path,
        "rules_path": RULES_PATH,
        "here": _here(),
    }


async def may_act() -> bool:
    session = await current_session()
    return session is not None and session.principal.role.may(Role.WRITE)


@blueprint.get(ALERTS.path)
@session_page(ALERTS.role)
async def alerts() -> Response:
    args = request.args
    errors = unknown_parameters(args, LIST_PARAMETERS)
    state = _one(args, "state", OPEN_STATES, errors)
    severity = _one(args, "severity", SEVERITIES, errors)
    rule_text = _one(args, "rule_id", None, errors)
    if errors:
        raise invalid_query(errors)
    filters = [("severity", severity), ("rule_id", rule_text)]
    filters = [(name, value) for name, value in filters if value]
    with database_needed():
        open_now = await _listing(
            [*filters, ("state", state or ",".join(OPEN_STATES))], OPEN_CURSOR
        )
        # Resolved instances closed within the last 24 h (the API's from: open at some
        # moment since then).
        since = (datetime.now(UTC) - RESOLVED_WITHIN).isoformat()
        resolved = await _listing(
            [*filters, ("state", State.RESOLVED.value), ("from", since)],
            RESOLVED_CURSOR,
        )
        rules = await rule_store.list_rules(current_deps().gateway)
        notice = await notice_for(args)
        muting = await muting_for(open_now.rows)
    return await render_page(
        "alerts.html",
        session=await current_session(),
        current=ALERTS,
        open_now=open_now,
        resolved=resolved,
        state_filter=state,
        severity_filter=severity,
        rule_filter=rule_text,
        open_states=OPEN_STATES,
        severities=SEVERITIES,
        rules=rules,
        first_page=not args.get(OPEN_CURSOR) and not args.get(RESOLVED_CURSOR),
        page_link=page_link,
        page_size=PAGE_SIZE,
        notice=notice,
        may_act=await may_act(),
        **instance_context(muting),
    )


# The actions.


def return_to(raw: str | None, done: str, instance_id: int) -> str:
    """Where an action's POST sends the browser: the alerts page or a rule's page, as
    `raw` names it (its filters kept), with the notice about this instance; else the
    alerts page."""
    parts = urlsplit(safe_next(raw))
    if parts.path != ALERTS.path and _RULE_PATH.fullmatch(parts.path) is None:
        parts = urlsplit(ALERTS.path)
    kept = [(name, value) for name, value in parse_qsl(parts.query) if name not in DONE]
    return parts.path + "?" + urlencode([*kept, (done, str(instance_id))])


async def _instance(instance_id: int) -> InstanceRow:
    existing_id("alert instance", instance_id)
    with database_needed():
        row = await reads.get_instance(current_deps().gateway, instance_id)
    if row is None:
        raise not_found("alert instance", instance_id)
    return row


async def _action_page(
    template: str, row: InstanceRow, *, status: int = 200, **context: Any
) -> Response:
    raw = context.pop("return_to", None) or request.args.get("return_to")
    back = safe_next(raw) if raw else ALERTS.path
    return await render_page(
        template,
        session=await current_session(),
        current=ALERTS,
        status=status,
        instance=row,
        back=back,
        max_comment=MAX_COMMENT,
        **instance_context(),
        **context,
    )


def _go_to(location: str) -> Response:
    """A 303 to `location`; htmx is told to load it as a whole page."""
    if wants_fragment():
        response = Response("", status=200, headers={"HX-Redirect": location})
    else:
        response = Response("", status=303, headers={"Location": location})
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get(ALERTS.path + "/instances/<int:instance_id>/acknowledge")
@session_page(Role.WRITE)
async def acknowledge_form(instance_id: int) -> Response:
    row = await _instance(instance_id)
    return await _action_page("alert_acknowledge.html", row, errors={}, form={})


def _acknowledgement(form: dict[str, str]) -> tuple[AcknowledgeIn | None, dict[str, str]]:
    """The form's acknowledgement, or the reason for each bad field. `until` is a
    datetime-local (no zone): read as UTC, as the form says."""
    errors: dict[str, str] = {}
    comment = form.get("comment", "")
    until = form.get("until", "").strip()
    if until and LOCAL_TIME.fullmatch(until):
        until += "Z"
    try:
        # As JSON, as the API reads it: the model is strict, and a time is text there.
        data = AcknowledgeIn.model_validate_json(
            json.dumps({"comment": comment, "until": until or None})
        )
    except ValidationError as invalid:
        for error in invalid.errors():
            field = str(error["loc"][0]) if error["loc"] else "comment"
            errors.setdefault(field, _message(field))
        return None, errors
    if data.until is not None and data.until <= datetime.now(UTC):
        errors["until"] = "must be in the future"
        return None, errors
    return data, errors


def _message(field: str) -> str:
    if field == "until":
        return "must be a date and time (UTC)"
    return f"is required: say who is on it or why (at most {MAX_COMMENT:,} characters)"


@blueprint.post(ALERTS.path + "/instances/<int:instance_id>/acknowledge")
@session_page(Role.WRITE)
async def acknowledge(instance_id: int) -> Response:
    form = {name: value for name, value in (await request.form).items() if name != "csrf_token"}
    data, errors = _acknowledgement(form)
    if data is None:
        row = await _instance(instance_id)
        shown = {"comment": form.get("comment", "")[:MAX_COMMENT]}
        shown["until"] = shown_time(form.get("until", ""))
        return await _action_page(
            "alert_acknowledge.html",
            row,
            status=400,
            errors=errors,
            form=shown,
            return_to=form.get("return_to"),
        )
    with database_needed():
        try:
            await acknowledge_instance(instance_id, data)
        except ActionRefused as refusal:
            raise action_refused(refusal) from None
    return _go_to(return_to(form.get("return_to"), "acknowledged", instance_id))


@blueprint.get(ALERTS.path + "/instances/<int:instance_id>/resolve")
@session_page(Role.WRITE)
async def resolve_form(instance_id: int) -> Response:
    row = await _instance(instance_id)
    return await _action_page("alert_resolve.html", row)


@blueprint.post(ALERTS.path + "/instances/<int:instance_id>/resolve")
@session_page(Role.WRITE)
async def resolve(instance_id: int) -> Response:
    form = await request.form
    with database_needed():
        try:
            await resolve_instance(instance_id)
        except ActionRefused as refusal:
            raise action_refused(refusal) from None
    return _go_to(return_to(form.get("return_to"), "resolved", instance_id))
