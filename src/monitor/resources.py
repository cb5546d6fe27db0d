"""Where the templates and static files are, installed or in a source checkout.

A wheel carries them inside the package (see pyproject's force-include); an
editable install or a plain checkout finds them at the project root.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _locate(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"monitor's {name}/ directory is missing from the installation")


def templates_dir() -> Path:
    return _locate("templates")


def static_dir() -> Path:
    return _locate("static")


@cache
def vendor_versions() -> dict[str, str]:
    """Pinned front-end versions, written by static/vendor/fetch.sh."""
    versions: dict[str, str] = json.loads((static_dir() / "vendor" / "versions.json").read_text())
    return versions
