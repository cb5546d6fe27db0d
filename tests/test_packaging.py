"""`pip install .` must ship the templates and static files inside the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parent.parent


def test_the_wheel_carries_templates_and_static_files(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("monitor-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "monitor/static/vendor/versions.json" in names
    assert any(n.startswith("monitor/static/vendor/swagger-ui-") for n in names)
    assert "monitor/templates/api_docs.html" in names  # /docs
    assert "monitor/storage/migrations/0001_foundation.sql" in names
    assert "monitor/cli.py" in names
