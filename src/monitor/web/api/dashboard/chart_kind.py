"""`kind=events|metric`: what a chart route reads."""

from __future__ import annotations

from typing import Any, Literal

from quart import request

ChartKind = Literal["events", "metric"]
KINDS: tuple[ChartKind, ...] = ("events", "metric")


def chart_kind(errors: list[dict[str, Any]]) -> ChartKind | None:
    """The request's `kind`; None, with the problem in `errors`, when missing or unknown."""
    raw = request.args.get("kind", "")
    for kind in KINDS:
        if raw == kind:
            return kind
    errors.append({"field": "kind", "message": f"required; one of {', '.join(KINDS)}"})
    return None
