"""Versions as entity tags: `ETag: "<version>"`, and changes conditional on `If-Match`.

A versioned resource (a dashboard, a widget) answers with its version as its
entity tag. A change sent with `If-Match` naming the version it was read at
is made only if the resource is still at that version; otherwise nothing
changes and the answer is 412 naming the current version, so two people
editing at once cannot overwrite each other without noticing. Without
`If-Match` the last write wins.

`If-Match: *` matches any version (the resource must exist). Tags compare
strongly (RFC 9110, 13.1.1): a weak tag such as `W/"3"` matches nothing,
because a version is exact. A header that is not `*` or a list of entity
tags is a 400 naming it, rather than being read as "no condition".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from quart import Response, request

from monitor.domain.dashboards import VersionCondition
from monitor.web.edge.problems import ProblemError

MAX_TAGS = 20
# One element of the list: an optional weak marker and a quoted tag (RFC 9110,
# 8.8.3: etagc is %x21 / %x23-7E / obs-text; a comma may be inside the quotes).
_ELEMENT = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')
_MALFORMED = 'must be * or a list of entity tags such as "3"'


def version_tag(version: int) -> str:
    return f'"{version}"'


def with_version(response: Response, version: int) -> Response:
    response.headers["ETag"] = version_tag(version)
    return response


def parse_if_match(values: Iterable[str]) -> VersionCondition | None:
    """The condition If-Match header lines state; None when there are none.

    ValueError when the lines are neither `*` nor a comma-separated list of
    entity tags (empty list elements are allowed, as RFC 9110, 5.6.1 asks).
    """
    lines = list(values)
    if not lines:
        return None
    text = ",".join(lines)
    if text.strip(" \t") == "*":
        return VersionCondition(None)
    strong: set[str] = set()
    count = 0
    position = 0
    while position < len(text):
        if text[position] in " \t,":
            position += 1
            continue
        match = _ELEMENT.match(text, position)
        if match is None:
            raise ValueError(_MALFORMED)
        position = match.end()
        while position < len(text) and text[position] in " \t":
            position += 1
        if position < len(text) and text[position] != ",":
            raise ValueError(_MALFORMED)
        count += 1
        if count > MAX_TAGS:
            raise ValueError(f"names more than {MAX_TAGS} entity tags")
        if match[1] is None:
            strong.add(match[2])
    if count == 0:
        raise ValueError(_MALFORMED)
    return VersionCondition(frozenset(strong))


def if_match() -> VersionCondition | None:
    """The request's If-Match condition (None: none given); a 400 for a malformed one."""
    try:
        return parse_if_match(request.headers.getlist("If-Match"))
    except ValueError as problem:
        raise ProblemError(
            400,
            f"the If-Match header {problem}",
            kind="validation-error",
            errors=[{"field": "If-Match", "message": str(problem)}],
        ) from None


def stale_version(what: str, item_id: int, current: int) -> ProblemError:
    """The 412 for a change whose If-Match names none of the stored version."""
    return ProblemError(
        412,
        f"the {what} {item_id} is at version {current}, which If-Match does not name: "
        "it changed since it was read; nothing was changed. Read it again and retry.",
        kind="stale-version",
        errors=[{"field": "If-Match", "message": f"the current version is {current}"}],
        headers={"ETag": version_tag(current)},
    )
