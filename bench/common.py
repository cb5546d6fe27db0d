"""What the benchmarks share: the throw-away database, progress output, CPU and percentiles."""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from monitor import logs
from monitor.config import Settings, load_settings

SERVER_URL = os.environ.get("MONITOR_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def database_url_for(name: str) -> str:
    return SERVER_URL.rsplit("/", 1)[0] + "/" + name


def create_database(name: str) -> str:
    with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return database_url_for(name)


def drop_database(name: str) -> None:
    with psycopg.connect(SERVER_URL, autocommit=True, connect_timeout=5) as connection:
        connection.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


def on_throwaway_database(prefix: str, run: Callable[[str], dict[str, Any]]) -> None:
    """Run `run(url)` on a fresh database (dropped afterwards); print its summary as JSON."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    say(f"database {name} on {SERVER_URL.rsplit('/', 1)[0]}")
    url = create_database(name)
    try:
        summary = run(url)
    finally:
        drop_database(name)
        say(f"dropped {name}")
    print(json.dumps(summary), flush=True)


def with_service_settings(
    run: Callable[[str, Settings], dict[str, Any]],
) -> Callable[[str], dict[str, Any]]:
    """Adapt `run(url, settings)`: settings for an in-process service on port 0, quiet logs."""

    def run_with_settings(url: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="bench-monitor-") as data_dir:
            settings = load_settings(
                {
                    **os.environ,
                    "MONITOR_DATABASE_URL": url,
                    "MONITOR_HOST": "127.0.0.1",
                    "MONITOR_PORT": "0",
                    "MONITOR_DATA_DIR": data_dir,
                    "MONITOR_LOG_LEVEL": "warning",
                    "MONITOR_KEY_USAGE_FLUSH_INTERVAL": "3600",
                }
            )
            logs.configure(settings.log_level_number)
            return run(url, settings)

    return run_with_settings


class CpuMeter:
    """Machine-wide busy fraction (/proc/stat) and this process's CPU, over a phase."""

    def __init__(self) -> None:
        self._machine = self._read_machine()
        self._process = time.process_time()
        self._wall = time.perf_counter()

    @staticmethod
    def _read_machine() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values), idle

    def stop(self) -> dict[str, float]:
        total, idle = self._read_machine()
        wall = time.perf_counter() - self._wall
        spent_total = total - self._machine[0]
        busy = 1 - (idle - self._machine[1]) / spent_total if spent_total else 0.0
        return {
            "machine_busy": round(busy, 3),
            "this_process_cores": round((time.process_time() - self._process) / wall, 3),
        }


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]
