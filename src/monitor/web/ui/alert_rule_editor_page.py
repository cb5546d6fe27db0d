"""The alert rule editor: create, edit, enable or disable, delete a rule from the UI, with
a live preview of its series and thresholds and a backtest. Admin only, as the API's
rule routes are.

The form's fields become the API's JSON document (rule_form.py) and are read
by the API's own `checked_rule` (parse_rule with the sandboxed template check,
the event filters by the events list's parser); the change is made by
storage/alert_rules.py as `POST`, `PUT` and `DELETE /api/v1/alerts…` make it,
attributed to the session's key: the same refusals, the same audit rows
(decision 0062, after 0048 and 0054). A refusal the user can correct (400,
409) shows the form again as typed, each problem beside its field. Every
change after a read carries the version it was read at, as If-Match does: a
rule changed meanwhile is the 412 page.

The preview (rule_preview.py) follows the form as decision 0054's widget
preview does: htmx posts the form to `…/preview` 450 ms after the last change,
a newer request replacing one still running, and only the preview's region is
redrawn; a form wrong half-way through typing is a 200 whose region names the
problems. "Backtest" posts the form to `…/backtest` (htmx: only the backtest's
region) or, without JavaScript, to the form's own address, which answers the
whole page with the preview and the backtest; "Preview" does the same for the
preview alone. Nothing is stored by either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response, request

from monitor.domain.alert_rules import (
    ERROR_CONDITIONS,
    EVENT_MEASURES,
    RULE_KINDS,
    SEVERITIES,
    AlertRule,
)
from monitor.domain.alert_states import COMPARATORS, NO_DATA_POLICIES
from monitor.domain.dashboards import StaleVersion, actor_label
from monitor.domain.keys import Role
from monitor.domain.metrics import AGGREGATIONS
from monitor.domain.query_times import parse_query_time
from monitor.storage import alert_rules as rule_store
from monitor.storage.alert_instances import SlotChange
from monitor.storage.alert_rules import RuleRecord
from monitor.web.api.alerts.bodies import checked_rule, rule_fields
from monitor.web.api.alerts.instance_actions import publish_changes
from monitor.web.api.dashboards.answers import existing_id, not_found
from monitor.web.api.dashboards.bodies import invalid
from monitor.web.api.events.query import event_filter_of_pairs
from monitor.web.deps import current_deps
from monitor.web.edge.attribution import request_attribution
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.sessions import current_session
from monitor.web.ui.alerts_page import ALERTS, RULES_PATH
from monitor.web.ui.dashboard_pages import api_steps, see_other, version_condition
from monitor.web.ui.form_times import LOCAL_TIME, shown_time
from monitor.web.ui.overview_view import utc_label
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page
from monitor.web.ui.rule_form import (
    KIND_FIELDS,
    form_values,
    new_rule_values,
    problems_by_field,
    rule_body,
)
from monitor.web.ui.rule_preview import (
    DEFAULT_BACKTEST,
    DEFAULT_PREVIEW_RANGE,
    MAX_GROUPS,
    MAX_POINTS,
    MAX_ROWS,
    PREVIEW_RANGES,
    BacktestView,
    SeriesChart,
    backtest_view,
    duration_words,
    rule_series,
    tried_now,
)
from monitor.web.ui.widget_view import figure

blueprint = Blueprint("ui_alert_rule_editor", __name__)

NEW_PATH = RULES_PATH + "/new"
ONE_RULE = RULES_PATH + "/<int:rule_id>"
# A refusal the user can correct in the form: shown with the form, as they typed it.
CORRECTABLE = frozenset({400, 409})
# The largest rule document is 64 KiB of JSON; its form, every character
# percent-encoded UTF-8, fits in this. Anything larger is not read (413).
FORM_BYTES = 1024 * 1024
# The kinds that read each kind-specific field (the page shows it for those only).
FIELD_KINDS = {
    name: [kind for kind in RULE_KINDS if name in KIND_FIELDS[kind]]
    for name in sorted(set().union(*KIND_FIELDS.values()))
}


async def _form() -> Mapping[str, str]:
    declared = request.content_length
    if declared is not None and declared > FORM_BYTES:
        raise ProblemError(413, f"the form is larger than {FORM_BYTES} bytes; nothing was changed")
    return await request.form


def _checked(form: Mapping[str, str]) -> AlertRule:
    """The rule the form describes, checked as the API checks a body; a 400 naming every
    bad field (the form's own reading of its text fields included)."""
    body, form_problems = rule_body(form)
    try:
        rule = checked_rule(body)
    except ProblemError as refused:
        errors = [dict(error) for error in refused.errors or []]
        raise invalid([*errors, *form_problems], "the rule is invalid") from None
    if form_problems:
        raise invalid(form_problems, "the rule is invalid")
    return rule


async def _record(rule_id: int) -> RuleRecord:
    existing_id("alert rule", rule_id)
    with api_steps():
        record = await rule_store.get_rule(current_deps().gateway, rule_id)
    if record is None:
        raise not_found("alert rule", rule_id)
    return record


def _path(record: RuleRecord | None) -> str:
    return NEW_PATH if record is None else f"{RULES_PATH}/{record.id}/edit"


@dataclass(frozen=True)
class Preview:
    chart: SeriesChart
    trials: list[dict[str, Any]]
    evaluated_at: datetime


def _preview_range(form: Mapping[str, str]) -> str:
    chosen = form.get("preview_range", DEFAULT_PREVIEW_RANGE)
    return chosen if chosen in PREVIEW_RANGES else DEFAULT_PREVIEW_RANGE


async def _preview(rule: AlertRule, record: RuleRecord | None, form: Mapping[str, str]) -> Preview:
    gateway = current_deps().gateway
    now = datetime.now(UTC)
    with api_steps():
        chart = await rule_series(
            gateway,
            rule,
            now - PREVIEW_RANGES[_preview_range(form)],
            now,
            event_filter_of_pairs,
        )
        trials = await tried_now(
            gateway,
            rule,
            rule_id=record.id if record else None,
            now=now,
            event_filter_of=event_filter_of_pairs,
        )
    return Preview(chart, trials, now)


def _backtest_range(form: Mapping[str, str]) -> tuple[datetime, datetime]:
    """The form's from and to (datetime-local read as UTC; empty: the last 24 h); a 400
    naming a bad one."""
    now = datetime.now(UTC)
    times: dict[str, datetime] = {}
    errors = []
    for name, default in (("from", now - DEFAULT_BACKTEST), ("to", now)):
        raw = form.get(name, "").strip()
        if not raw:
            times[name] = default
            continue
        try:
            times[name] = parse_query_time(raw + "Z" if LOCAL_TIME.fullmatch(raw) else raw)
        except ValueError as problem:
            errors.append({"field": name, "message": str(problem)})
    if not errors and times["from"] >= times["to"]:
        errors.append({"field": "to", "message": "must be after from"})
    if errors:
        raise invalid(errors, "the backtest's range is invalid")
    return times["from"], times["to"]


async def _backtest(
    rule: AlertRule, record: RuleRecord | None, form: Mapping[str, str]
) -> BacktestView:
    start, end = _backtest_range(form)
    with api_steps():
        return await backtest_view(
            current_deps().gateway,
            rule,
            rule_id=record.id if record else None,
            start=start,
            end=end,
            event_filter_of=event_filter_of_pairs,
        )


def _common() -> dict[str, Any]:
    return {
        "current": ALERTS,
        "rules_path": RULES_PATH,
        "utc_label": utc_label,
        "figure": figure,
        "duration_words": duration_words,
        "max_groups": MAX_GROUPS,
        "max_points": MAX_POINTS,
        "max_rows": MAX_ROWS,
    }


async def _page(
    record: RuleRecord | None,
    values: Mapping[str, str],
    *,
    problem: ProblemError | None = None,
    preview: Preview | None = None,
    preview_problem: ProblemError | None = None,
    backtest: BacktestView | None = None,
    backtest_problem: ProblemError | None = None,
) -> Response:
    """The editor, empty, as stored, or as sent with what was refused (its fields kept)."""
    kind = values.get("kind", "")
    # A NUL cannot be shown in a page (browsers replace it): shown as U+FFFD, as they do.
    values = {name: value.replace("\x00", "\ufffd") for name, value in values.items()}
    return await render_page(
        "alert_rule_form.html",
        session=await current_session(),
        status=problem.status if problem else 200,
        editing=record,
        values=values,
        form_path=_path(record),
        problem=problem,
        field_problems=problems_by_field(problem.errors or [], kind) if problem else {},
        kinds=RULE_KINDS,
        field_kinds=FIELD_KINDS,
        severities=SEVERITIES,
        no_data_policies=NO_DATA_POLICIES,
        aggregations=AGGREGATIONS,
        measures=EVENT_MEASURES,
        conditions=ERROR_CONDITIONS,
        comparators=COMPARATORS,
        preview_ranges=list(PREVIEW_RANGES),
        preview_range=_preview_range(values),
        backtest_from=shown_time(values.get("from", "")),
        backtest_to=shown_time(values.get("to", "")),
        preview=preview,
        preview_problem=preview_problem,
        backtest=backtest,
        backtest_problem=backtest_problem,
        **_common(),
    )


async def _tried(
    record: RuleRecord | None, form: Mapping[str, str], *, with_backtest: bool
) -> Response:
    """The whole page for "Preview" or "Backtest" without JavaScript: nothing is stored."""
    try:
        rule = _checked(form)
    except ProblemError as refused:
        return await _page(record, form, preview_problem=refused, backtest_problem=refused)
    preview = await _preview(rule, record, form)
    backtest: BacktestView | None = None
    backtest_problem: ProblemError | None = None
    if with_backtest:
        try:
            backtest = await _backtest(rule, record, form)
        except ProblemError as refused:
            if refused.status not in CORRECTABLE:
                raise
            backtest_problem = refused
    return await _page(
        record, form, preview=preview, backtest=backtest, backtest_problem=backtest_problem
    )


async def _saved(record: RuleRecord | None, form: Mapping[str, str]) -> Response:
    if form.get("preview") or form.get("backtest"):
        return await _tried(record, form, with_backtest=bool(form.get("backtest")))
    condition = version_condition(form) if record is not None else None
    gateway = current_deps().gateway
    closed: list[SlotChange] = []  # a rule saved disabled closes its open instances
    try:
        rule = _checked(form)
        with api_steps():
            if record is None or condition is None:
                saved = await rule_store.create_rule(
                    gateway, rule_fields(rule), by=request_attribution()
                )
                done = "created"
            else:
                saved = await rule_store.replace_rule(
                    gateway,
                    record.id,
                    rule_fields(rule),
                    condition=condition,
                    now=datetime.now(UTC),
                    by=request_attribution(),
                    closed=closed,
                )
                publish_changes(closed, actor_label(request_attribution().actor))
                done = "saved"
    except StaleVersion as refusal:
        return await _stale(record, refusal)
    except ProblemError as refused:
        if refused.status not in CORRECTABLE:
            raise
        if refused.kind == "name_taken":
            refused = ProblemError(
                409,
                refused.detail,
                kind=refused.kind,
                errors=[{"field": "name", "message": "is taken by another rule"}],
            )
        return await _page(record, form, problem=refused)
    return see_other(f"{RULES_PATH}/{saved.id}?saved={done}")


async def _stale(record: RuleRecord | None, refusal: StaleVersion) -> Response:
    back = f"{RULES_PATH}/{record.id}/edit" if record else NEW_PATH
    return await render_page(
        "dashboard_stale.html",
        session=await current_session(),
        current=ALERTS,
        status=412,
        what="rule",
        back=back,
        current_version=refusal.current,
    )


async def _live(record: RuleRecord | None, *, with_backtest: bool) -> Response:
    """Only the preview's (or the backtest's) region, for htmx as the form changes.

    What is wrong with a form still being typed is the answer (a 200 with the
    problems in the region), not a refused request; an outage is the 503 page."""
    form = await _form()
    template = "alert_rule_backtest.html" if with_backtest else "alert_rule_preview.html"
    context: dict[str, Any] = {}
    try:
        rule = _checked(form)
        if with_backtest:
            context["backtest"] = await _backtest(rule, record, form)
        else:
            context["preview"] = await _preview(rule, record, form)
    except ProblemError as refused:
        if refused.status not in CORRECTABLE:
            raise
        context["backtest_problem" if with_backtest else "preview_problem"] = refused
    return await render_page(template, session=await current_session(), **context, **_common())


@blueprint.get(NEW_PATH)
@session_page(Role.ADMIN)
async def new_rule() -> Response:
    return await _page(None, new_rule_values())


@blueprint.post(NEW_PATH)
@session_page(Role.ADMIN)
async def create_rule() -> Response:
    return await _saved(None, await _form())


@blueprint.post(NEW_PATH + "/preview")
@session_page(Role.ADMIN)
async def preview_new_rule() -> Response:
    return await _live(None, with_backtest=False)


@blueprint.post(NEW_PATH + "/backtest")
@session_page(Role.ADMIN)
async def backtest_new_rule() -> Response:
    return await _live(None, with_backtest=True)


@blueprint.get(ONE_RULE + "/edit")
@session_page(Role.ADMIN)
async def edit_rule(rule_id: int) -> Response:
    record = await _record(rule_id)
    values = {**form_values(record.definition), "version": str(record.version)}
    try:
        rule = _checked(values)
    except ProblemError as refused:  # stored under older checks: shown, to be corrected
        return await _page(record, values, preview_problem=refused)
    return await _page(record, values, preview=await _preview(rule, record, values))


@blueprint.post(ONE_RULE + "/edit")
@session_page(Role.ADMIN)
async def save_rule(rule_id: int) -> Response:
    form = await _form()
    return await _saved(await _record(rule_id), form)


@blueprint.post(ONE_RULE + "/edit/preview")
@session_page(Role.ADMIN)
async def preview_rule(rule_id: int) -> Response:
    return await _live(await _record(rule_id), with_backtest=False)


@blueprint.post(ONE_RULE + "/edit/backtest")
@session_page(Role.ADMIN)
async def backtest_rule(rule_id: int) -> Response:
    return await _live(await _record(rule_id), with_backtest=True)


@blueprint.post(ONE_RULE + "/enabled")
@session_page(Role.ADMIN)
async def set_enabled(rule_id: int) -> Response:
    """`PUT` of the stored rule with only `enabled` changed (disabling resolves its open
    instances, as the API's `PUT` does)."""
    form = await _form()
    condition = version_condition(form)
    wanted = form.get("enabled", "")
    if wanted not in ("true", "false"):
        raise invalid([{"field": "enabled", "message": "must be true or false"}])
    record = await _record(rule_id)
    document = {**record.definition, "enabled": wanted == "true"}
    try:
        rule = checked_rule(document)
    except ProblemError as refused:
        raise ProblemError(
            409,
            f"the stored rule no longer passes the rule checks ({refused.errors}); "
            "edit it to correct it",
            kind="rule-outdated",
        ) from None
    closed: list[SlotChange] = []
    try:
        with api_steps():
            await rule_store.replace_rule(
                current_deps().gateway,
                rule_id,
                rule_fields(rule),
                condition=condition,
                now=datetime.now(UTC),
                by=request_attribution(),
                closed=closed,
            )
    except StaleVersion as refusal:
        return await _stale(record, refusal)
    publish_changes(closed, actor_label(request_attribution().actor))
    done = "enabled" if wanted == "true" else "disabled"
    return see_other(f"{RULES_PATH}/{rule_id}?saved={done}")


@blueprint.get(ONE_RULE + "/delete")
@session_page(Role.ADMIN)
async def confirm_delete(rule_id: int) -> Response:
    record = await _record(rule_id)
    return await render_page(
        "alert_rule_delete.html", session=await current_session(), rule=record, **_common()
    )


@blueprint.post(ONE_RULE + "/delete")
@session_page(Role.ADMIN)
async def delete_rule(rule_id: int) -> Response:
    form = await _form()
    condition = version_condition(form)
    record = await _record(rule_id)
    closed: list[SlotChange] = []
    try:
        with api_steps():
            await rule_store.delete_rule(
                current_deps().gateway,
                rule_id,
                condition=condition,
                now=datetime.now(UTC),
                by=request_attribution(),
                closed=closed,
            )
    except StaleVersion as refusal:
        return await _stale(record, refusal)
    publish_changes(closed, actor_label(request_attribution().actor))
    return see_other(f"{RULES_PATH}?saved=deleted")
