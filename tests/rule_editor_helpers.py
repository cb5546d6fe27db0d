"""Samples the rule editor's tests chart and backtest: an hour of one gauge, host a above 5
from 40 to 20 minutes before `now` (minute 21 to 40), host b at 1 throughout."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def hour_of_samples(name: str, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "type": "gauge",
            "labels": {"host": host},
            "value": 10.0 if host == "a" and 20 < minute <= 40 else 1.0,
            "time": (now - timedelta(minutes=minute)).isoformat(),
        }
        for host in ("a", "b")
        for minute in range(1, 61)
    ]
