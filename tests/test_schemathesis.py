"""Schemathesis fuzzes every operation in /openapi.json: no input may cause a 5xx.

The service runs in-process on port 0; schemathesis runs as its own process
with an admin key, so every route is reached past authentication.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import trio

from conftest import MakeKey, RunningService

# 25 each: the whole suite must finish within CI's 30 minutes on 2 cores, and the
# operations doubled with alerts and notifications (at 60 each this test alone took
# 4-8 minutes).
EXAMPLES_PER_OPERATION = 25


# Every operation gets its examples, so the run grows with the API: the test's
# own bound (fail_after below) applies, not the suite's default timeout.
@pytest.mark.timeout(900)
async def test_no_input_produces_a_server_error(
    running: RunningService, make_key: MakeKey, tmp_path: Path
) -> None:
    _, admin = await make_key("admin")
    executable = shutil.which("st") or str(Path(sys.executable).with_name("st"))
    command = [
        executable,
        "run",
        f"{running.base_url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        "1",
        "--workers",
        "1",
        "--header",
        f"X-API-Key: {admin}",
        "--request-timeout",
        "10",
        "--no-color",
        "--report-dir",
        str(tmp_path),
    ]
    with trio.fail_after(900):
        result = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=False
        )
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 0, output
