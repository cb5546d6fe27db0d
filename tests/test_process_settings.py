"""`monitor serve` raises its open-files limit so many websockets can stay open."""

from __future__ import annotations

import subprocess
import sys

from monitor.process_settings import MAX_OPEN_FILES

# Lowers the soft limit first (to 256, or below a smaller hard limit), then raises it.
PROGRAM = """
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
low = 256 if hard == resource.RLIM_INFINITY else min(256, hard)
resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
from monitor.process_settings import raise_open_files_limit
in_force = raise_open_files_limit()
print(in_force, *resource.getrlimit(resource.RLIMIT_NOFILE), int(hard == resource.RLIM_INFINITY))
"""


def test_the_soft_open_files_limit_is_raised_to_the_hard_limit() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True, timeout=60
    )
    in_force, soft, hard, unlimited = map(int, done.stdout.split())
    assert soft == in_force == (MAX_OPEN_FILES if unlimited else min(hard, MAX_OPEN_FILES))
