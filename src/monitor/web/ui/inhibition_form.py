"""The inhibition rule form as the API's document, a stored rule as the form, and the
API's problems back beside their fields.

Source and target matchers are matcher_rows.py's rows under `source` and
`target`; `equal` is typed as label names separated by commas.
`parse_inhibition` judges the document exactly as it judges the API's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from werkzeug.datastructures import MultiDict

from monitor.web.ui import matcher_rows

FormErrors = dict[str, list[str]]
# The form's prefix of each of the API's matcher lists.
LISTS = {"source_matchers": "source", "target_matchers": "target"}


def inhibition_body(form: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The API's document for the form, and for each list the form row of each matcher."""
    body: dict[str, Any] = {"name": form.get("name", "").strip()}
    numbers: dict[str, list[int]] = {}
    for key, prefix in LISTS.items():
        body[key], numbers[prefix] = matcher_rows.matchers_of(matcher_rows.rows_of(form, prefix))
    body["equal"] = matcher_rows.names_of(form.get("equal", ""))
    return body, numbers


def form_values(document: Mapping[str, Any]) -> dict[str, str]:
    return {
        "name": str(document.get("name", "")),
        "equal": ", ".join(str(name) for name in document.get("equal", [])),
    }


def errors_by_field(
    problems: Sequence[Mapping[str, Any]], numbers: Mapping[str, Sequence[int]]
) -> FormErrors:
    shown: FormErrors = {}
    for problem in problems:
        field = str(problem.get("field", ""))
        message = str(problem.get("message", ""))
        placed = None
        for key, prefix in LISTS.items():
            placed = placed or matcher_rows.row_problem(
                field, message, key, prefix, numbers.get(prefix, [])
            )
        if placed is None:
            head = field.split(".", 1)[0].split("[", 1)[0]
            placed = (
                (head, message) if head in ("name", "equal") else ("form", f"{field}: {message}")
            )
        shown.setdefault(placed[0], []).append(placed[1])
    return shown
