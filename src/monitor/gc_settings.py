"""Garbage-collector settings for the `serve` process (not for tests or tools).

A full collection stops the one event loop for as long as it takes to walk
every tracked object: with 1,000 websockets open that was 250 ms every ~5 s
under load, the whole tail of the live-delivery latency. Two changes:

- what exists after the imports (modules, classes, functions: ~110,000
  objects) never becomes garbage: `gc.freeze()` takes it out of every walk;
- a young collection every 700 allocations promoted short-lived request and
  batch objects into the old generation, whose growth then triggered the full
  collections; a larger young generation lets them die young, so full
  collections become rare (and young ones stay cheap: a few milliseconds).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 5
OLD_THRESHOLD = 10


def tune_for_serving() -> None:
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
