"""Process-wide settings for `monitor serve` (not for tests or tools that import the package).

Garbage collection. A full collection stops the one event loop for as long as
it takes to walk every tracked object: with 1,000 websockets open that was
250 ms every ~5 s under load, the whole tail of the live-delivery latency.

- What exists after the imports (modules, classes, functions: ~110,000
  objects) never becomes garbage: `gc.freeze()` takes it out of every walk.
- A young collection every 700 allocations promoted short-lived request and
  batch objects into the old generation, whose growth then triggered the full
  collections. A young generation of 50,000 lets them die young, so full
  collections become rare; a young collection still takes a few milliseconds.
- Under error traffic (9 MB bodies to 404/405/400/413, gzip bombs) these
  settings once kept every refused body: each sat in a reference cycle
  through an exception's traceback, and those cycles were seldom collected
  (60 such requests: +540 MB). The cycles are gone now (web/edge/handled_errors.py,
  web/edge/body_limits.py, web/edge/request_body.py): bodies are freed by reference
  counting whatever the thresholds, so they stay. Measured over 240 such
  requests: +2 MB with these settings, +2 MB with the defaults.

Memory given back. glibc serves an allocation of 128 KB or more with its
own mmap and unmaps it when freed, but after the first such free it raises
that threshold to the freed size (up to 32 MB): later request bodies and
decompression buffers then came from the heap, whose free space in the
middle is kept. Under a flood of 9 MB bodies that was ~4 MB of RSS kept per
request, never returned. Setting the threshold fixes it (glibc then stops
adjusting it): anything from MMAP_THRESHOLD up goes back to the system once
freed. Other C libraries have no `mallopt`; nothing is changed there.

Open files. Every websocket and keep-alive connection holds a descriptor;
the soft limit (often 1,024) would refuse connections long before the
machine runs short, so it is raised to the hard limit, as most servers do.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import resource

log = logging.getLogger(__name__)

# A ceiling for the open-files limit when the hard limit is unlimited or
# huge (the embedded PostgreSQL inherits it too).
MAX_OPEN_FILES = 1 << 20
YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 5
OLD_THRESHOLD = 10
MMAP_THRESHOLD = 1024 * 1024
M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>


def tune_for_serving() -> None:
    gc.collect()  # what is garbage now would stay forever once frozen
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    fix_mmap_threshold()
    raise_open_files_limit()


def fix_mmap_threshold() -> bool:
    """Have glibc return every block of MMAP_THRESHOLD or more when freed; whether it could."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False  # not glibc (no mallopt)
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one (at most MAX_OPEN_FILES); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_OPEN_FILES)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as problem:
        log.warning(
            "could not raise the open-files limit", extra={"soft": soft, "error": str(problem)}
        )
        return soft
    return wanted
