"""The overview's answers shaped for its template: tiles with their change, chart data, rows.

Numbers are formatted here, on the server, so the page reads the same
without JavaScript; the charts get their data as JSON for uPlot, times as
Unix seconds (the browser shows them in its own time zone). Every text a
tile shows is plain words: a screen reader reads "Events 1,204, up 12 %
from 1,075 in the previous 24 h".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from monitor.domain.changes import Compared, compared
from monitor.domain.durations import format_duration
from monitor.domain.events import LEVELS
from monitor.web.ui.overview_answers import OverviewAnswers

ERROR_LEVELS = ("error", "critical")
RANGE_CHOICES = {"15m": "15 min", "1h": "hour", "6h": "6 h", "24h": "24 h", "7d": "7 days"}

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    change: str  # "up 12 % from 1,075", "no change", "new: none before"
    trend: str  # up | down | flat: for the colour, which only repeats the words
    bad_when_up: bool  # errors rising is bad, events rising is neither


def _number(value: float, decimals: int = 0) -> str:
    if decimals == 0:
        return f"{round(value):,}"
    return f"{value:,.{decimals}f}"


def _trend(change: float) -> str:
    return "up" if change > 0 else "down" if change < 0 else "flat"


def _change_words(numbers: Compared, decimals: int, unit: str = "") -> str:
    previous = _number(numbers["previous"], decimals) + unit
    if numbers["change"] == 0:
        return f"no change from {previous}"
    direction = "up" if numbers["change"] > 0 else "down"
    ratio = numbers["change_ratio"]
    if ratio is None:
        return f"{direction} from none"
    return f"{direction} {abs(ratio) * 100:,.0f} % from {previous}"


def _tile(
    label: str, numbers: Compared, *, decimals: int = 0, unit: str = "", bad_when_up: bool = False
) -> Tile:
    return Tile(
        label=label,
        value=_number(numbers["value"], decimals) + unit,
        change=_change_words(numbers, decimals, unit),
        trend=_trend(numbers["change"]),
        bad_when_up=bad_when_up,
    )


def _summed(parts: list[Compared]) -> Compared:
    return compared(sum(p["value"] for p in parts), sum(p["previous"] for p in parts))


def _share(part: float, whole: float) -> float:
    return 0.0 if whole == 0 else 100 * part / whole


def _error_rate(errors: Compared, total: Compared) -> Tile:
    """The share of events at error or critical; its change in percentage points."""
    now = _share(errors["value"], total["value"])
    before = _share(errors["previous"], total["previous"])
    points = now - before
    change = (
        "no change"
        if abs(points) < 0.05
        else f"{'up' if points > 0 else 'down'} {abs(points):.1f} points from {before:.1f} %"
    )
    return Tile("Error rate", f"{now:.1f} %", change, _trend(round(points, 1)), bad_when_up=True)


def tiles(numbers: dict[str, Any]) -> list[Tile]:
    events = numbers["events"]
    errors = _summed([events["by_level"][level] for level in ERROR_LEVELS])
    ingest = numbers["ingest"]
    return [
        _tile("Events", events["total"]),
        _tile("Errors", errors, bad_when_up=True),
        _error_rate(errors, events["total"]),
        _tile("New open error groups", numbers["new_error_groups"], bad_when_up=True),
        _tile("Events received", ingest["events_per_second"], decimals=1, unit=" /s"),
        _tile("Samples received", ingest["samples_per_second"], decimals=1, unit=" /s"),
        _tile("Live series", numbers["live_series"]),
        Tile(
            "Firing alerts",
            _number(numbers["alerts"]["firing"]),
            "instances firing now",
            "flat",
            bad_when_up=True,
        ),
    ]


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def utc_label(moment: datetime) -> str:
    """The server's rendering of a time, before the browser shows it in its own zone."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def span_words(span: timedelta) -> str:
    """A range as people say it: 15 min, 24 h, 7 days (the API's 1d is 24 h here)."""
    seconds = round(span.total_seconds())
    if seconds % 86_400 == 0 and seconds >= 2 * 86_400:
        return f"{seconds // 86_400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return format_duration(span)


def period_words(numbers: dict[str, Any]) -> str:
    return span_words(_parse_time(numbers["to"]) - _parse_time(numbers["from"]))


def level_chart(by_level: dict[str, Any]) -> dict[str, Any]:
    """Events per bucket, one series per level in level order (every level, 0 if none)."""
    found = {series["group"]: series["counts"] for series in by_level["series"]}
    buckets: list[int] = by_level["buckets"]
    return {
        "times": buckets,
        "unit": f"events per {by_level['interval']}",
        "series": [
            {"label": level, "values": found.get(level, [0] * len(buckets))} for level in LEVELS
        ],
    }


def error_rate_chart(by_level: dict[str, Any]) -> dict[str, Any]:
    """Per bucket, the share of events at error or critical (null where there were none)."""
    counts = [series["counts"] for series in by_level["series"]]
    errors = [series["counts"] for series in by_level["series"] if series["group"] in ERROR_LEVELS]
    totals = [sum(column) for column in zip(*counts, strict=True)] or [0] * len(by_level["buckets"])
    wrong = [sum(column) for column in zip(*errors, strict=True)] or [0] * len(totals)
    return {
        "times": by_level["buckets"],
        "unit": "% of events",
        "series": [
            {
                "label": "error rate",
                "values": [
                    None if total == 0 else round(100 * bad / total, 2)
                    for bad, total in zip(wrong, totals, strict=True)
                ],
            }
        ],
    }


def ingest_chart(realtime: dict[str, Any]) -> dict[str, Any]:
    """This instance's last minute, per second: events and samples committed."""
    per_level = realtime["events_per_s"].values()
    return {
        "times": realtime["seconds"],
        "unit": "per second",
        "series": [
            {"label": "events", "values": [sum(second) for second in zip(*per_level, strict=True)]},
            {"label": "samples", "values": realtime["samples_per_s"]},
        ],
    }


def chart_json(chart: dict[str, Any]) -> str:
    """JSON for a `<script type="application/json">` block: `<` escaped, so no text in it
    (a source's name) can close the element."""
    return _encode(chart).decode().replace("<", "\\u003c")


def level_totals(by_level: dict[str, Any]) -> list[tuple[str, int]]:
    found = {series["group"]: series["total"] for series in by_level["series"]}
    return [(level, found.get(level, 0)) for level in LEVELS]


def view(answers: OverviewAnswers) -> dict[str, Any]:
    """The template's context."""
    numbers = answers.overview
    return {
        "tiles": tiles(numbers),
        "period": period_words(numbers),
        "window_from": _parse_time(numbers["from"]),
        "window_to": _parse_time(numbers["to"]),
        "level_chart": chart_json(level_chart(answers.by_level)),
        "level_totals": level_totals(answers.by_level),
        "error_chart": chart_json(error_rate_chart(answers.by_level)),
        "errors_per_minute": _number(numbers["errors_per_minute"]["value"], 2),
        "ingest_chart": chart_json(ingest_chart(answers.realtime)),
        "ingest_instance": answers.realtime["instance"],
        "top_errors": [
            {**group, "last_seen": _parse_time(group["last_seen"])}
            for group in answers.top_errors["items"]
        ],
        "critical": [{**event, "time": _parse_time(event["time"])} for event in answers.critical],
        "fresh_for": round(answers.fresh_for, 3),
        "utc_label": utc_label,
        "range_choices": RANGE_CHOICES,
    }
