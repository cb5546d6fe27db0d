"""The new-silence form as the API's document, and the API's problems back beside its fields.

The form has numbered matcher rows (`matcher_name_0`, `matcher_op_0`,
`matcher_value_0`, …), a duration choice or a custom end, an optional start
and a comment. `silence_body` turns it into the JSON document the API's
`POST /api/v1/silences` takes (rows left empty are ignored; the times of
`datetime-local` inputs are read as UTC, as the form says), so
`parse_silence` judges it exactly as it judges the API's. `errors_by_field`
puts each problem the parser names (`matchers[1].value`, `ends_at`, …)
beside the row or field it came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.domain.label_matchers import (
    MAX_MATCHERS,
    MAX_NAME_LENGTH,
    MAX_VALUE_LENGTH,
    OPERATORS,
    Matcher,
)
from monitor.domain.notification_documents import MAX_COMMENT
from monitor.web.ui.form_times import LOCAL_TIME, shown_time

DURATIONS = ("1h", "2h", "4h", "8h", "1d", "7d")
CUSTOM = "custom"  # the duration choice that takes `ends_at` instead
DEFAULT_DURATION = "2h"
BLANK_ROWS = 5  # rows the form offers without JavaScript (at least)
FormErrors = dict[str, list[str]]
# A matcher's problem: `matchers[1].value` from the parser, `matchers.1.value` from the
# structural checks (NUL, size) before it.
_MATCHER_PATH = re.compile(r"matchers(?:\[(\d{1,3})\]|\.(\d{1,3}))(?:\.(name|op|value))?")


@dataclass(frozen=True)
class MatcherRow:
    name: str
    op: str
    value: str


def rows_of(form: Mapping[str, str]) -> list[MatcherRow]:
    """The matcher rows the form sent, in order (up to MAX_MATCHERS of them)."""
    return [
        MatcherRow(
            form.get(f"matcher_name_{index}", ""),
            form.get(f"matcher_op_{index}", "="),
            form.get(f"matcher_value_{index}", ""),
        )
        for index in range(MAX_MATCHERS)
        if f"matcher_name_{index}" in form or f"matcher_value_{index}" in form
    ]


def shown_rows(rows: Sequence[MatcherRow]) -> list[MatcherRow]:
    """The rows to show: these (bounded, as the inputs' maxlength), then blank ones up to
    BLANK_ROWS or one more than given, at most MAX_MATCHERS."""
    kept = [
        MatcherRow(row.name[:MAX_NAME_LENGTH], row.op[:3], row.value[:MAX_VALUE_LENGTH])
        for row in rows[:MAX_MATCHERS]
    ]
    wanted = min(MAX_MATCHERS, max(BLANK_ROWS, len(kept) + 1))
    return kept + [MatcherRow("", "=", "")] * (wanted - len(kept))


def prefilled_rows(labels: Mapping[str, str]) -> list[MatcherRow]:
    """One `=` matcher per label of an instance, by name."""
    return [MatcherRow(name, "=", value) for name, value in sorted(labels.items())]


def _utc_text(raw: str) -> str:
    """A zone-less `datetime-local` value as UTC; anything else as sent (the parser names
    what is wrong with it)."""
    text = raw.strip()
    return text + "Z" if LOCAL_TIME.fullmatch(text) else text


def silence_body(form: Mapping[str, str]) -> tuple[dict[str, Any], list[int]]:
    """The API's document for the form, and for each of its matchers the form row it
    came from (rows with neither name nor value are left out)."""
    matchers: list[dict[str, str]] = []
    row_numbers: list[int] = []
    for number, row in enumerate(rows_of(form)):
        if not row.name.strip() and not row.value:
            continue
        matchers.append({"name": row.name.strip(), "op": row.op, "value": row.value})
        row_numbers.append(number)
    body: dict[str, Any] = {"matchers": matchers, "comment": form.get("comment", "")}
    chosen = form.get("duration", DEFAULT_DURATION)
    if chosen == CUSTOM:
        body["ends_at"] = _utc_text(form.get("ends_at", ""))
    else:
        body["duration"] = chosen
    if form.get("starts_at", "").strip():
        body["starts_at"] = _utc_text(form["starts_at"])
    return body, row_numbers


def field_of(problem_field: str, row_numbers: Sequence[int]) -> str:
    """The form field a problem at the API's path is shown beside: `matcher-<row>` for a
    matcher, `matchers` for the list, `ends_at`/`duration`/`starts_at`/`comment`, or
    `form` for the rest."""
    found = _MATCHER_PATH.match(problem_field)
    if found is not None:
        index = int(found[1] or found[2])
        return f"matcher-{row_numbers[index]}" if index < len(row_numbers) else "matchers"
    if problem_field.startswith("matchers"):
        return "matchers"
    if problem_field in ("duration", "ends_at", "starts_at", "comment"):
        return "ends_at" if problem_field == "duration" else problem_field
    return "form"


def errors_by_field(
    problems: Sequence[Mapping[str, Any]], row_numbers: Sequence[int]
) -> FormErrors:
    shown: FormErrors = {}
    for problem in problems:
        field = str(problem.get("field", ""))
        message = str(problem.get("message", ""))
        found = _MATCHER_PATH.match(field)
        if found is not None and found[3]:
            message = f"{found[3]} {message}"  # which input of the row
        shown.setdefault(field_of(field, row_numbers), []).append(message)
    return shown


def shown_form(form: Mapping[str, str]) -> dict[str, str]:
    """The form's single fields as the page can show them again (bounded)."""
    chosen = form.get("duration", DEFAULT_DURATION)
    return {
        "comment": form.get("comment", "")[:MAX_COMMENT],
        "duration": chosen if chosen in (*DURATIONS, CUSTOM) else DEFAULT_DURATION,
        "ends_at": shown_time(form.get("ends_at", "")),
        "starts_at": shown_time(form.get("starts_at", "")),
    }


def relative(moment: datetime, now: datetime) -> str:
    """`in 2 h`, `5 min ago`: how far a time is from now, roughly."""
    seconds = (moment - now).total_seconds()
    size = abs(seconds)
    if size < 60:
        words = "less than a minute"
    elif size < 3600:
        words = f"{round(size / 60)} min"
    elif size < 2 * 86_400:
        words = f"{round(size / 3600)} h"
    else:
        words = f"{round(size / 86_400)} days"
    return f"in {words}" if seconds > 0 else f"{words} ago"


OPERATOR_CHOICES = OPERATORS


def matcher_text(matcher: dict[str, str]) -> str:
    """A stored matcher (the API's `{"name", "op", "value"}`) as the pages show it."""
    return str(Matcher(matcher["name"], matcher["op"], matcher["value"]))  # type: ignore[arg-type]
