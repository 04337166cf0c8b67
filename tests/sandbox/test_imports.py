"""The sandbox's import graph: it never imports product code, and no module of it imports,
even late (inside a function or under TYPE_CHECKING), a module that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import acm_sync.sandbox

ROOT = Path(acm_sync.sandbox.__file__).parent
PACKAGE = "acm_sync.sandbox"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """Every acm_sync module `path` imports, wherever the import statement stands."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("acm_sync"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("acm_sync"):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in MODULES else node.module)
    return out


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def test_the_sandbox_imports_no_product_code() -> None:
    outside = {
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if not (target == PACKAGE or target.startswith(PACKAGE + "."))
    }
    assert not outside


def _cycle() -> list[str] | None:
    """One import cycle among the sandbox's modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target in sorted(GRAPH.get(name, ())):
            if target not in MODULES or target == name:
                continue
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[name] = 2
        return None

    for name in MODULES:
        if name not in state and (found := visit(name)):
            return found
    return None


def test_no_module_of_the_sandbox_imports_one_that_imports_it_back() -> None:
    assert _cycle() is None


def test_the_cycle_check_finds_a_cycle() -> None:
    # the check itself: a graph with a late import back from a handler is reported
    saved = dict(GRAPH)
    try:
        GRAPH[f"{PACKAGE}.salesforce.rest"] = {*saved[f"{PACKAGE}.salesforce.rest"]} | {
            f"{PACKAGE}.salesforce.app"
        }
        found = _cycle()
        assert found is not None
        assert {f"{PACKAGE}.salesforce.app", f"{PACKAGE}.salesforce.rest"} <= set(found)
    finally:
        GRAPH.clear()
        GRAPH.update(saved)
