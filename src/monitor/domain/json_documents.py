"""Bounds on the free-form JSON a client may store (a widget's query and options).

Stored JSON is read back by browsers and by PostgreSQL, so what either
cannot hold is refused up front, with the path of each bad value:

- nesting deeper than `max_depth`, or more than `max_bytes` once encoded;
- numbers that are not finite, or integers beyond ±2**53 (a browser reads
  every number as a double; PostgreSQL's jsonb refuses NaN and infinity);
- text with NUL (jsonb cannot store it) or unpaired surrogates (not UTF-8);
- object keys longer than `max_key_length`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

MAX_SAFE_INTEGER = 2**53
MAX_REPORTED = 20


@dataclass(frozen=True)
class JsonLimits:
    max_bytes: int
    max_depth: int
    max_key_length: int = 200


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no unpaired surrogates)"
    return None


def _joined(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def json_problems(value: object, limits: JsonLimits, path: str) -> list[tuple[str, str]]:
    """(path, message) for each value that breaks `limits`; [] when `value` may be stored.

    `path` names `value` itself in the messages (e.g. "options").
    """
    problems: list[tuple[str, str]] = []
    # Depth-first with an explicit stack: a hostile document cannot exhaust
    # Python's recursion, and nothing below `max_depth` is visited.
    stack: list[tuple[str, object, int]] = [(path, value, 1)]
    while stack and len(problems) < MAX_REPORTED:
        where, item, depth = stack.pop()
        if isinstance(item, dict | list) and depth > limits.max_depth:
            problems.append((where, f"is nested deeper than {limits.max_depth} levels"))
        elif isinstance(item, dict):
            for key, inner in reversed(item.items()):
                if not isinstance(key, str):
                    problems.append((where, "object keys must be text"))
                    continue
                key_problem = _text_problem(key)
                if key_problem is None and len(key) > limits.max_key_length:
                    key_problem = f"keys are at most {limits.max_key_length} characters"
                if key_problem is not None:
                    problems.append((_joined(where, key[:50]), f"key {key_problem}"))
                    continue
                stack.append((_joined(where, key), inner, depth + 1))
        elif isinstance(item, list):
            for index in reversed(range(len(item))):
                stack.append((_joined(where, str(index)), item[index], depth + 1))
        elif isinstance(item, str):
            text_problem = _text_problem(item)
            if text_problem is not None:
                problems.append((where, text_problem))
        elif isinstance(item, bool) or item is None:
            pass
        elif isinstance(item, int):
            if abs(item) > MAX_SAFE_INTEGER:
                problems.append((where, f"integers must lie within ±{MAX_SAFE_INTEGER}"))
        elif isinstance(item, float):
            if not math.isfinite(item):
                problems.append((where, "must be a finite number"))
        else:
            problems.append((where, "must be JSON: an object, array, text, number, bool or null"))
    if problems:
        return problems[:MAX_REPORTED]
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > limits.max_bytes:
        return [(path, f"is {size} bytes as JSON; at most {limits.max_bytes}")]
    return []
