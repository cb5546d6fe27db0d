"""How each kind of widget is drawn from its route's answer: numbers, rows, cells.

Templates get plain values: a chart's data (a JSON block the page script
draws with uPlot) and a table that reads without JavaScript; a stat's or
gauge's one number; a top list's rows; the events' rows; a heatmap's cells
as shades of one colour. Widgets' `options` choose what is free-form in the
API: `unit`, and for stat and gauge `field` (a dotted path into the
overview's answer, default `events.total`), `min` and `max` (a gauge's
ends, default 0 and 100).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.web.ui.widget_answers import WidgetAnswer

DEFAULT_FIELD = "events.total"
SHADES = 6  # heatmap cells: 0 (none) … 5 (the busiest)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _option_number(options: Mapping[str, Any], name: str, default: float) -> float:
    found = _number(options.get(name))
    return default if found is None else found


def _event_label(series: Mapping[str, Any]) -> str:
    if series.get("other"):
        return f"other ({series.get('groups')} groups)"
    return str(series.get("group") or "events")


def _metric_label(query: Mapping[str, Any], series: Mapping[str, Any]) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(series.get("labels", {}).items()))
    return f"{query.get('name')} {query.get('aggregation')}" + (f" {{{labels}}}" if labels else "")


def chart_series(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every series of a timeseries answer with its label and one value per bucket."""
    if answer.get("kind") == "events":
        return [
            {"label": _event_label(series), "values": series["counts"]}
            for series in answer.get("series") or ()
        ]
    return [
        {"label": _metric_label(query, series), "values": series["values"]}
        for query in answer.get("queries") or ()
        for series in query.get("series", ())
    ]


def _last(values: Sequence[Any]) -> float | None:
    return next((v for v in reversed(values) if _number(v) is not None), None)


def _summary(series: Sequence[Mapping[str, Any]], events: bool) -> list[dict[str, Any]]:
    rows = []
    for item in series:
        numbers = [float(v) for v in item["values"] if _number(v) is not None]
        rows.append(
            {
                "label": item["label"],
                "total": sum(numbers) if events else None,
                "latest": _last(item["values"]),
                "peak": max(numbers) if numbers else None,
            }
        )
    return rows


def _path_value(answer: Any, path: str) -> float | None:
    found = answer
    for part in path.split("."):
        if not isinstance(found, Mapping) or part not in found:
            return None
        found = found[part]
    if isinstance(found, Mapping):  # a compared figure: its value now
        found = found.get("value")
    return _number(found)


def single_value(answer: Mapping[str, Any], options: Mapping[str, Any]) -> float | None:
    """A stat's or gauge's number: a path into the overview, else from its series (an
    events chart's total in the range, a metric's latest value)."""
    if "buckets" not in answer:
        field = options.get("field")
        return _path_value(answer, field if isinstance(field, str) else DEFAULT_FIELD)
    series = chart_series(answer)
    if not series:
        return None
    if answer.get("kind") == "events":
        return float(sum(series[0]["values"]))
    return _last(series[0]["values"])


def _top_rows(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    kind = answer.get("top")
    rows = []
    for item in answer.get("items", ()):
        if kind == "errors":
            rows.append(
                {"label": item["message"], "number": item["count_in_range"], "group_id": item["id"]}
            )
        elif kind in ("sources", "types"):
            rows.append({"label": item[kind[:-1]], "number": item["count"]})
        elif kind == "metrics":
            labels = ", ".join(f"{k}={v}" for k, v in sorted(item.get("labels", {}).items()))
            label = item["name"] + (f" {{{labels}}}" if labels else "")
            rows.append({"label": label, "number": item.get("samples", item.get("value"))})
        else:  # slow-requests
            rows.append({"label": item["key"], "number": item["p95"], "count": item["count"]})
    return rows


def _shade(count: int, busiest: int) -> int:
    if count <= 0 or busiest <= 0:
        return 0
    return max(1, math.ceil(count / busiest * (SHADES - 1)))


def _heatmap(answer: Mapping[str, Any]) -> dict[str, Any]:
    counts: list[list[int]] = answer.get("counts") or []
    busiest = max((max(row, default=0) for row in counts), default=0)
    if answer.get("kind") == "events":
        rows = answer.get("weekdays") or []
        columns = [f"{hour:02d}" for hour in answer.get("hours") or []]
    else:  # time buckets down, value buckets across: drawn turned, values up
        rows = [
            datetime.fromtimestamp(t, UTC).strftime("%d %b %H:%M") for t in answer.get("times", ())
        ]
        edges = answer.get("edges") or []
        columns = [f"{edges[i]:g}" for i in range(max(len(edges) - 1, 0))]
    return {
        "rows": rows,
        "columns": columns,
        "cells": [[(count, _shade(count, busiest)) for count in row] for row in counts],
        "busiest": busiest,
        "events": answer.get("kind") == "events",
        "tz": answer.get("tz"),
    }


def widget_view(found: WidgetAnswer) -> dict[str, Any]:
    """What the template needs to draw one widget."""
    widget = found.widget
    view: dict[str, Any] = {"widget": widget, "refused": found.refused}
    options = widget.options
    view["unit"] = options.get("unit") if isinstance(options.get("unit"), str) else None
    answer = found.answer
    if found.refused is not None:
        return view
    if widget.kind == "timeseries":
        series = chart_series(answer)
        view["chart"] = {"times": answer["buckets"], "series": series, "unit": view["unit"]}
        view["summary"] = _summary(series, answer.get("kind") == "events")
        view["interval"] = answer.get("interval")
    elif widget.kind in ("stat", "gauge"):
        value = single_value(answer, options)
        view["value"] = value
        low = _option_number(options, "min", 0.0)
        high = _option_number(options, "max", 100.0)
        view["low"], view["high"] = low, max(high, low + 1)
        if value is not None:
            view["meter"] = min(max(value, low), view["high"])
    elif widget.kind == "top":
        view["rows"] = _top_rows(answer)
        view["top"] = answer.get("top")
    elif widget.kind == "events":
        view["events"] = answer
    else:
        view["heatmap"] = _heatmap(answer)
    return view


def figure(value: float | None) -> str:
    """A number as a stat shows it: whole numbers with separators, others to 3 figures."""
    if value is None:
        return "no data"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
