"""JSON helpers shared by the ingest routes: responses, and naming every bad bulk item.

msgspec decodes a whole bulk body in one fast pass but reports only the first
error. On that failure path only, `every_item_error` decodes each item alone
so the 400 names every bad item's index and field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from quart import Response

from monitor.web.edge.problems import ProblemError

Item = TypeVar("Item")
MAX_REPORTED_ERRORS = 100
_encode = msgspec.json.Encoder().encode
_decode_any = msgspec.json.Decoder().decode
_ERROR_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(_encode(body), status=status, content_type="application/json")


def split_msgspec_error(
    error: msgspec.DecodeError, envelope: str = ""
) -> tuple[int | None, str, str]:
    """(item index or None, field path, message) from msgspec's one-line error."""
    match = _ERROR_PATH.match(str(error))
    assert match is not None
    path = match["path"] or ""
    index: int | None = None
    item = re.match(rf"^(?:\.{re.escape(envelope)})?\[(\d+)\]", path) if envelope else None
    item = item or re.match(r"^\[(\d+)\]", path)
    if item:
        index = int(item[1])
        path = path[item.end() :]
    field = path.lstrip(".") or ("value" if index is not None else "(body)")
    return index, field, match["message"]


def invalid(errors: list[dict[str, Any]], what: str = "request") -> ProblemError:
    """The 400 for validation errors: field-level details, nothing stored."""
    shown = errors[:MAX_REPORTED_ERRORS]
    bad_items = {error["index"] for error in errors if "index" in error}
    detail = f"the {what} is invalid; nothing was stored"
    if bad_items:
        detail = f"{len(bad_items)} items of the {what} are invalid; nothing was stored"
    if len(errors) > len(shown):
        detail += f" (first {len(shown)} of {len(errors)} errors shown)"
    return ProblemError(400, detail, kind="validation-error", errors=shown)


def every_item_error(
    body: bytes,
    envelope: str,
    decode_item: Callable[[bytes], Item],
    item_errors: Callable[[int, Item], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Every error of a bulk body (`[...]` or `{envelope: [...]}`), item by item."""
    try:
        document = _decode_any(body)
    except msgspec.DecodeError as error:
        # Not even valid JSON (or a number out of range): say where, if msgspec can.
        index, field, message = split_msgspec_error(error, envelope)
        if index is None:
            return [{"field": "(body)", "message": f"not valid JSON: {message}"}]
        return [{"index": index, "field": field, "message": message}]
    items = document.get(envelope) if isinstance(document, dict) else document
    if not isinstance(items, list) or (isinstance(document, dict) and set(document) != {envelope}):
        expected = f'expected an array of {envelope} or {{"{envelope}": [...]}}'
        return [{"field": "(body)", "message": expected}]
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(items):
        try:
            item = decode_item(_encode(raw))
        except msgspec.ValidationError as error:
            _, field, message = split_msgspec_error(error)
            errors.append({"index": index, "field": field, "message": message})
            continue
        errors.extend(item_errors(index, item))
    return errors
