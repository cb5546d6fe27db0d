"""Reading dashboard and widget bodies: size, JSON, fields, the free-form parts, the grid.

Every check names the field at fault in a 400 (or says 413 for a body over
its route's limit) before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from quart import request

from monitor.domain.dashboards import OPTIONS_LIMITS, QUERY_LIMITS
from monitor.domain.grid import Placement, placement_problems
from monitor.domain.json_documents import json_problems
from monitor.storage.dashboard_rows import LayoutMove
from monitor.web.api.dashboards.schemas import LayoutIn
from monitor.web.edge.errors import field_errors
from monitor.web.edge.problems import ProblemError
from monitor.web.edge.request_body import read_json_body

Model = TypeVar("Model", bound=BaseModel)

# A widget is at most ~25 KiB of query, options and title; an import holds
# up to 100 of them.
WIDGET_BODY_BYTES = 64 * 1024
DASHBOARD_BODY_BYTES = 16 * 1024
LAYOUT_BODY_BYTES = 64 * 1024
IMPORT_BODY_BYTES = 4 * 1024 * 1024


def invalid(errors: list[dict[str, Any]], detail: str = "the request is invalid") -> ProblemError:
    return ProblemError(
        400, f"{detail}; nothing was changed", kind="validation-error", errors=errors
    )


async def read_model(model: type[Model], max_bytes: int) -> Model:
    """The request body as `model`: 415 if not JSON, 413 over `max_bytes`, 400 naming fields."""
    too_large = ProblemError(413, f"the request body is larger than {max_bytes} bytes")
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise too_large
    body = await read_json_body(max_bytes)
    if len(body) > max_bytes:
        raise too_large
    return parse_model(model, body)


def parse_model(model: type[Model], body: bytes | str) -> Model:
    """JSON text as `model`; a 400 naming each bad field (the web UI's forms use it too)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise invalid(field_errors(error)) from None


def layout_moves(data: LayoutIn) -> list[LayoutMove]:
    """The moves a layout asks for; a 400 naming each widget listed twice."""
    errors: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    for index, item in enumerate(data.widgets):
        if item.id in seen:
            errors.append(
                {
                    "field": f"widgets.{index}.id",
                    "message": f"widget {item.id} is listed twice (also at {seen[item.id]})",
                }
            )
        seen.setdefault(item.id, index)
    if errors:
        raise invalid(errors)
    return [LayoutMove(item.id, item.x, item.y, item.w, item.h) for item in data.widgets]


def free_form_errors(
    query: Mapping[str, Any], options: Mapping[str, Any], prefix: str = ""
) -> list[dict[str, Any]]:
    """What is wrong with a widget's query and options as stored JSON (sizes, depth, values)."""
    found = json_problems(query, QUERY_LIMITS, f"{prefix}query") + json_problems(
        options, OPTIONS_LIMITS, f"{prefix}options"
    )
    return [{"field": field, "message": message} for field, message in found]


def placement_or_errors(
    x: int | None, y: int | None, w: int, h: int, prefix: str = ""
) -> tuple[Placement | None, list[dict[str, Any]]]:
    """The place asked for (None: x and y both omitted), or the errors that name why not."""
    if x is None and y is None:
        return None, []
    if x is None or y is None:
        missing = "x" if x is None else "y"
        return None, [{"field": f"{prefix}{missing}", "message": "give x and y, or neither"}]
    problems = placement_problems(x, y, w, h)
    errors = [{"field": f"{prefix}{field}", "message": message} for field, message in problems]
    return (None if errors else Placement(x, y, w, h)), errors
