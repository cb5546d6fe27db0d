"""The notification policy form (and the default policy's) as the API's document, a stored
policy as the form, and the API's problems back beside their fields.

Matcher rows are matcher_rows.py's under `matcher`; channels are checkboxes
(`channel_id`, one per existing channel); `group_by` is typed as label names
separated by commas; the three intervals as the API takes them (`30s`,
`5m`, `4h`). `parse_policy` judges the document exactly as it judges the
API's; the existence of the channels is the API's check at saving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from werkzeug.datastructures import MultiDict

from monitor.domain.durations import format_duration
from monitor.domain.notification_routing import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
)
from monitor.web.ui import matcher_rows
from monitor.web.ui.dashboard_pages import whole
from monitor.web.ui.silence_form import MatcherRow

FormErrors = dict[str, list[str]]
INTERVALS = ("group_wait", "group_interval", "repeat_interval")
SINGLE_FIELDS = ("name", "position", "continue", "channel_ids", "group_by", *INTERVALS)


def policy_body(
    form: MultiDict[str, str], *, default: bool = False
) -> tuple[dict[str, Any], list[int]]:
    """The API's document for the form, and the form row of each of its matchers."""
    body: dict[str, Any] = {"name": form.get("name", "").strip()}
    numbers: list[int] = []
    if not default:
        matchers, numbers = matcher_rows.matchers_of(matcher_rows.rows_of(form, "matcher"))
        position = whole(form.get("position"))
        body |= {
            "position": 0 if position is None else position,
            "matchers": matchers,
            "continue": form.get("continue") == "on",
        }
    body["channel_ids"] = [whole(raw) for raw in form.getlist("channel_id")]
    body["group_by"] = matcher_rows.names_of(form.get("group_by", ""))
    for name in INTERVALS:  # left empty: the API's default
        if form.get(name, "").strip():
            body[name] = form[name].strip()
    return body, numbers


def form_values(document: Mapping[str, Any]) -> dict[str, Any]:
    """A stored policy's document as the form's inputs."""
    return {
        "name": str(document.get("name", "")),
        "position": str(document.get("position", 0)),
        "continue": "on" if document.get("continue") else "",
        "channel_ids": [str(found) for found in document.get("channel_ids", [])],
        "group_by": ", ".join(str(name) for name in document.get("group_by", [])),
        **{name: str(document.get(name, "")) for name in INTERVALS},
    }


def new_values(position: int) -> dict[str, Any]:
    return {
        "name": "",
        "position": str(position),
        "continue": "",
        "channel_ids": [],
        "group_by": "",
        "group_wait": format_duration(DEFAULT_GROUP_WAIT),
        "group_interval": format_duration(DEFAULT_GROUP_INTERVAL),
        "repeat_interval": format_duration(DEFAULT_REPEAT_INTERVAL),
    }


def shown_values(form: MultiDict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {name: form.get(name, "") for name in SINGLE_FIELDS}
    values["channel_ids"] = form.getlist("channel_id")
    return values


def stored_rows(document: Mapping[str, Any]) -> list[MatcherRow]:
    return matcher_rows.stored_rows(document.get("matchers", []))


def errors_by_field(problems: Sequence[Mapping[str, Any]], numbers: Sequence[int]) -> FormErrors:
    shown: FormErrors = {}
    for problem in problems:
        field = str(problem.get("field", ""))
        message = str(problem.get("message", ""))
        placed = matcher_rows.row_problem(field, message, "matchers", "matcher", numbers)
        if placed is None:
            head = field.split(".", 1)[0].split("[", 1)[0]
            placed = (head, message) if head in SINGLE_FIELDS else ("form", f"{field}: {message}")
        shown.setdefault(placed[0], []).append(placed[1])
    return shown
