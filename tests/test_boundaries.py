"""The package boundaries that keep the code easy to live in (see docs/development.md).

Every rule reads the imports of `src/monitor`, `TYPE_CHECKING` blocks and
function-level imports included: an import hidden there is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SOURCE = Path(__file__).parent.parent / "src" / "monitor"


def module_name(path: Path) -> str:
    parts = ["monitor", *path.relative_to(SOURCE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names imported by `path`; `from a import b` gives both `a` and `a.b`."""
    tree = ast.parse(path.read_text())
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules_under(package: str) -> list[Path]:
    return sorted((SOURCE / package).rglob("*.py")) if package else sorted(SOURCE.rglob("*.py"))


def area(path: Path) -> str:
    return path.relative_to(SOURCE).parts[0]


def monitor_imports(path: Path) -> set[str]:
    return {name for name in imports_of(path) if name.split(".")[0] == "monitor"}


def test_only_storage_imports_psycopg() -> None:
    for path in modules_under(""):
        if area(path) == "storage":
            continue
        assert not {
            i for i in imports_of(path) if i.split(".")[0] in {"psycopg", "psycopg_pool"}
        }, path


def test_only_the_redis_package_imports_coredis() -> None:
    for path in modules_under(""):
        if area(path) == "redis":
            continue
        assert not {i for i in imports_of(path) if i.startswith("coredis")}, path


def test_web_never_imports_actors() -> None:
    for path in modules_under("web"):
        assert not {i for i in imports_of(path) if i.startswith("monitor.actors")}, path


def test_storage_imports_neither_web_actors_nor_messages() -> None:
    forbidden = ("monitor.web", "monitor.actors", "monitor.messages", "monitor.config")
    for path in modules_under("storage"):
        assert not {i for i in monitor_imports(path) if i.startswith(forbidden)}, path


def test_redis_code_does_not_import_the_supervisor() -> None:
    for path in modules_under("redis"):
        assert not {i for i in monitor_imports(path) if i.startswith("monitor.supervisor")}, path


# Libraries the domain may use besides the standard library: pure computation, no
# I/O, no clock, no global state (each with why).
PURE_LIBRARIES = {
    "re2": "notification matchers' patterns in linear time (decision 0066)",
}


def test_domain_imports_only_the_standard_library() -> None:
    for path in modules_under("domain"):
        for name in imports_of(path):
            top = name.split(".")[0]
            allowed = top in sys.stdlib_module_names or top in PURE_LIBRARIES
            assert allowed or name.startswith("monitor.domain"), (path, name)


# What would make domain code depend on the clock or on chance: those are
# passed in as arguments (now, random bytes, a choice function) instead.
IMPURE_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("uuid", "uuid1"),
    ("uuid", "uuid4"),
    ("os", "urandom"),
}
IMPURE_MODULES = {"random", "secrets", "socket", "subprocess", "threading", "asyncio"}


def test_domain_takes_clock_and_randomness_as_arguments() -> None:
    for path in modules_under("domain"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert (node.value.id, node.attr) not in IMPURE_CALLS, (path, node.lineno)
        assert not {i.split(".")[0] for i in imports_of(path)} & IMPURE_MODULES, path


def test_no_import_cycles() -> None:
    graph = {module_name(path): monitor_imports(path) for path in modules_under("")}
    graph = {
        name: {i for i in imported if i in graph and i != name} for name, imported in graph.items()
    }
    cycles = [component for component in strongly_connected(graph) if len(component) > 1]
    assert not cycles, f"import cycles: {cycles}"


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively (no recursion limit to meet)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [c for c in strongly_connected(graph) if len(c) > 1] == [["a", "b", "c"]]
