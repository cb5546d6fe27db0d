"""Matcher rows of a notification form under a prefix (`matcher`, `source`, `target`), the
API's matcher list made of them, and the API's problems about it put back beside a row.

A form names a row's inputs `<prefix>_name_<n>`, `<prefix>_op_<n>` and
`<prefix>_value_<n>`, as the silences form does (silence_form.py, whose
`shown_rows` pads the rows); rows with neither name nor value are left out
of the document, so a problem at `matchers[1]` is beside the second filled
row, whichever row of the form that was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.domain.label_matchers import MAX_MATCHERS
from monitor.web.ui.silence_form import MatcherRow

FormErrors = dict[str, list[str]]


def rows_of(form: Mapping[str, str], prefix: str) -> list[MatcherRow]:
    """The rows the form sent under `prefix`, in order (up to MAX_MATCHERS)."""
    return [
        MatcherRow(
            form.get(f"{prefix}_name_{index}", ""),
            form.get(f"{prefix}_op_{index}", "="),
            form.get(f"{prefix}_value_{index}", ""),
        )
        for index in range(MAX_MATCHERS)
        if f"{prefix}_name_{index}" in form or f"{prefix}_value_{index}" in form
    ]


def stored_rows(matchers: Sequence[Mapping[str, Any]]) -> list[MatcherRow]:
    """The rows of a stored document's matchers."""
    return [
        MatcherRow(str(found["name"]), str(found.get("op", "=")), str(found["value"]))
        for found in matchers
    ]


def matchers_of(rows: Sequence[MatcherRow]) -> tuple[list[dict[str, str]], list[int]]:
    """The API's matchers for the filled rows, and the form row each came from."""
    matchers: list[dict[str, str]] = []
    numbers: list[int] = []
    for number, row in enumerate(rows):
        if not row.name.strip() and not row.value:
            continue
        matchers.append({"name": row.name.strip(), "op": row.op, "value": row.value})
        numbers.append(number)
    return matchers, numbers


def row_problem(
    field: str, message: str, key: str, prefix: str, numbers: Sequence[int]
) -> tuple[str, str] | None:
    """Where a problem at the API's `field` goes when it is about the `key` list
    (`matchers`): `<prefix>-<row>` or `<prefix>` and the message; None when it is not."""
    found = re.match(
        rf"{re.escape(key)}(?:\[(\d{{1,3}})\]|\.(\d{{1,3}}))(?:\.(name|op|value))?", field
    )
    if found is not None:
        index = int(found[1] or found[2])
        shown = f"{found[3]} {message}" if found[3] else message
        where = f"{prefix}-{numbers[index]}" if index < len(numbers) else prefix
        return where, shown
    if field == key or field.startswith(key + "."):
        return prefix, message
    return None


def names_of(text: str) -> list[str]:
    """Label names typed comma- or line-separated (`host, rule`), empty ones left out."""
    return [name.strip() for name in re.split(r"[,\n]", text) if name.strip()]
