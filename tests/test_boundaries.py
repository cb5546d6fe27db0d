"""The package boundaries that keep the code easy to live in (see STYLE)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SOURCE = Path(__file__).parent.parent / "src" / "monitor"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules_under(package: str) -> list[Path]:
    return sorted((SOURCE / package).rglob("*.py")) if package else sorted(SOURCE.rglob("*.py"))


def test_only_storage_imports_psycopg() -> None:
    for path in modules_under(""):
        if "storage" in path.relative_to(SOURCE).parts:
            continue
        assert not {
            i for i in imports_of(path) if i.split(".")[0] in {"psycopg", "psycopg_pool"}
        }, path


def test_only_the_redis_package_imports_coredis() -> None:
    for path in modules_under(""):
        if path.relative_to(SOURCE).parts[0] == "redis":
            continue
        assert not {i for i in imports_of(path) if i.startswith("coredis")}, path


def test_web_never_imports_actors() -> None:
    for path in modules_under("web"):
        assert not {i for i in imports_of(path) if i.startswith("monitor.actors")}, path


def test_domain_imports_only_the_standard_library() -> None:
    for path in modules_under("domain"):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("monitor.domain"), (path, name)
