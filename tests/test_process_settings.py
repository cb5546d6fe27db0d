"""`monitor serve` raises its open-files limit so many websockets can stay open."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

PROGRAM = """
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
from monitor.process_settings import raise_open_files_limit
in_force = raise_open_files_limit()
print(in_force, *resource.getrlimit(resource.RLIMIT_NOFILE))
"""


@pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_NOFILE)[1] in (resource.RLIM_INFINITY, 256),
    reason="needs a finite hard limit above 256",
)
def test_the_soft_open_files_limit_is_raised_to_the_hard_limit() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True, timeout=60
    )
    in_force, soft, hard = map(int, done.stdout.split())
    assert soft == in_force == min(hard, 1 << 20)
