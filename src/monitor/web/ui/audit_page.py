"""The Audit log page (admin): the audit rows, newest first, filtered by a GET form.

The filters are the API's (`GET /api/v1/audit`, parsed by the same
function), so they live in the URL and a page can be bookmarked or shared.
The form's time fields are `datetime-local` inputs, which carry no zone:
they are read as UTC and say so. A bad filter or cursor answers 400 with
the form and the reason, never a 500.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from monitor.domain.cursors import encode_numbered_cursor
from monitor.storage import audit as audit_store
from monitor.web.api.audit.query import parse_audit_query
from monitor.web.deps import current_deps
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.sessions import current_session
from monitor.web.ui import form_times
from monitor.web.ui.form_times import TIME_FIELDS, shown_time
from monitor.web.ui.navigation import page_named
from monitor.web.ui.pages import session_page
from monitor.web.ui.rendering import render_page

blueprint = Blueprint("ui_audit", __name__)

AUDIT = page_named("audit")
PAGE_SIZE = 50
# A value longer than this is shown as its first part; the rest is a click away.
SHORT_VALUE = 120


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str | None
    after: str | None


def as_utc(args: MultiDict[str, str]) -> MultiDict[str, str]:
    return form_times.as_utc(args, page_size=PAGE_SIZE)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def changes(before: Any, after: Any) -> list[FieldChange]:
    """Fields as before → after: a creation (or deletion) shows every field that is set,
    a change only what changed."""
    old = before if isinstance(before, dict) else {}
    new = after if isinstance(after, dict) else {}
    fields = list(old) + [name for name in new if name not in old]
    both = before is not None and after is not None
    shown = []
    for field in fields:
        unchanged = field in old and field in new and old[field] == new[field]
        if both and unchanged:
            continue
        if not both and old.get(field) is None and new.get(field) is None:
            continue  # a creation's (or deletion's) unset fields say nothing
        shown.append(
            FieldChange(
                field,
                _text(old[field]) if field in old else None,
                _text(new[field]) if field in new else None,
            )
        )
    return shown


def _next_link(cursor: str) -> str:
    kept = [(name, value) for name, value in request.args.items(multi=True) if name != "cursor"]
    return AUDIT.path + "?" + urlencode([*kept, ("cursor", cursor)])


@blueprint.get(AUDIT.path)
@session_page(AUDIT.role)
async def audit_page() -> Response:
    session = await current_session()
    shown_filters = {name: request.args.get(name, "") for name in ("resource", "action", "actor")}
    for name in TIME_FIELDS:
        shown_filters[name] = shown_time(request.args.get(name, ""))
    common: dict[str, Any] = {
        "session": session,
        "current": AUDIT,
        "filters": shown_filters,
        "filtered": any(request.args.get(name) for name in request.args),
        "short_value": SHORT_VALUE,
    }
    try:
        audit_filter, limit, before = parse_audit_query(as_utc(request.args))
    except ProblemError as invalid:
        if invalid.status != 400:
            raise
        problems = [f"{item['field']}: {item['message']}" for item in invalid.errors or []]
        return await render_page(
            "audit.html", status=400, rows=[], next_link=None, problems=problems, **common
        )
    records = await audit_store.list_changes(
        current_deps().gateway, audit_filter, limit=limit + 1, before=before
    )
    page = records[:limit]
    next_link = (
        _next_link(encode_numbered_cursor(page[-1].time, page[-1].id))
        if len(records) > limit
        else None
    )
    rows = [(record, changes(record.before, record.after)) for record in page]
    return await render_page("audit.html", rows=rows, next_link=next_link, problems=[], **common)
