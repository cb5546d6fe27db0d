"""Reading a notification document from a request body, and answering stored ones.

Size (413) and JSON (400) as alert rules are read (web/api/alerts/bodies.py),
then the domain parser, whose problems name every bad field in one 400.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from quart import Response

from monitor.domain.rule_fields import RuleProblems
from monitor.storage.versioned_documents import DocumentRecord
from monitor.web.api.alerts.bodies import decoded, read_body
from monitor.web.api.bulk_json import json_response
from monitor.web.api.dashboards.bodies import invalid
from monitor.web.edge.preconditions import with_version

T = TypeVar("T")
BODY_BYTES = 96 * 1024


async def read_document(parse: Callable[[object], T]) -> T:
    raw = decoded(await read_body(BODY_BYTES))
    try:
        return parse(raw)
    except RuleProblems as refused:
        raise invalid([problem.as_dict() for problem in refused.problems]) from None


def stored_json(record: DocumentRecord, key: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "version": record.version,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "updated_at": record.updated_at,
        "updated_by": record.updated_by,
        key: record.definition,
    }


def stored_response(record: DocumentRecord, key: str, status: int = 200) -> Response:
    return with_version(json_response(stored_json(record, key), status), record.version)
