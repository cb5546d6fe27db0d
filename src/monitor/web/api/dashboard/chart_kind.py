"""`kind=events|metric`: what a chart route reads."""

from __future__ import annotations

from typing import Any, Literal

from monitor.web.edge.query_checks import QueryArgs

ChartKind = Literal["events", "metric"]
KINDS: tuple[ChartKind, ...] = ("events", "metric")


def chart_kind(args: QueryArgs, errors: list[dict[str, Any]]) -> ChartKind | None:
    """The `kind` of `args`; None, with the problem in `errors`, when missing or unknown."""
    raw = args.get("kind", "")
    for kind in KINDS:
        if raw == kind:
            return kind
    errors.append({"field": "kind", "message": f"required; one of {', '.join(KINDS)}"})
    return None
