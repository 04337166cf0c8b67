"""Rooms import only downward: canonical ← connectors ← quality / identity ← scoring ← write-back
← the assembly (definitions, CLI, demo, jobs, schedules, alerts). Each Dagster asset module is
its room's face and ranks with it (the pulls with the connectors). Every `import` counts, in a
function or under TYPE_CHECKING too: a lazy import is still a dependency.

Two more rules: the rooms that compute (quality, identity, scoring) never reach a CRM — no
connector, no client library: what they need from a CRM is fetched by the connectors and handed
over — and the sandbox imports no product code (it answers as the vendors do, not as we call).
"""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

# rank → the modules of that rank (a name covers its submodules); listed once
RANKS: dict[int, tuple[str, ...]] = {
    0: (  # canonical: tables, ids, money, the owned-field contract, the store, the settings
        "acm_sync",
        "acm_sync.model",
        "acm_sync.domains",
        "acm_sync.currency",
        "acm_sync.owned_fields",
        "acm_sync.warehouse",
        "acm_sync.config",
        "acm_sync.environment",
        "acm_sync.connections",
        "acm_sync.schedules_and_alerts",
        "acm_sync.connectors.settings",
        "acm_sync.quality.settings",
        "acm_sync.scoring.settings",
        "acm_sync.writeback.settings",
    ),
    1: (  # connectors and the pulls
        "acm_sync.connectors",
        "acm_sync.assets.ingest",
        "acm_sync.assets.budget",
        "acm_sync.assets.connections",
        "acm_sync.assets.salesforce",
        "acm_sync.assets.hubspot",
    ),
    2: ("acm_sync.quality", "acm_sync.identity", "acm_sync.assets.quality"),
    3: ("acm_sync.scoring", "acm_sync.assets.scoring", "acm_sync.assets.plots"),
    4: ("acm_sync.writeback", "acm_sync.assets.writeback"),
    5: (  # the assembly
        "acm_sync.definitions",
        "acm_sync.cli",
        "acm_sync.demo",
        "acm_sync.org_summary",
        "acm_sync.run_launcher",
        "acm_sync.assets",
        "acm_sync.assets.jobs",
        "acm_sync.assets.schedules",
        "acm_sync.assets.alerts",
    ),
}
COMPUTING = ("acm_sync.quality", "acm_sync.identity", "acm_sync.scoring")
CRM_CLIENTS = ("simple_salesforce", "hubspot", "requests", "urllib3", "acm_sync.connectors")
SANDBOX = "acm_sync.sandbox"


def _covers(prefix: str, module: str) -> bool:
    if prefix == "acm_sync":  # the package's own __init__, not everything in it
        return module == prefix
    return module == prefix or module.startswith(prefix + ".")


def rank(module: str) -> int | None:
    """The rank of the longest listed name covering `module` (None: not a product module)."""
    best: tuple[int, int] | None = None
    for r, names in RANKS.items():
        for name in names:
            if _covers(name, module) and (best is None or len(name) > best[0]):
                best = (len(name), r)
    return best[1] if best else None


def module_name(path: Path, root: Path = SRC) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _parse(path: Path) -> ast.Module:
    # CPython 3.11.7's parser can fail ("AST constructor recursion depth mismatch") when a
    # garbage collection runs a finalizer mid-parse — other tests in this process leave such
    # garbage (Dagster instances' SQLAlchemy pools): no collection while parsing.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(path.read_text(encoding="utf-8"))
    finally:
        if enabled:
            gc.enable()


def imports(path: Path, root: Path = SRC) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, relative ones resolved; `from a import b`
    counts as `a.b` (b may be a submodule) — ranks then judge by the longest listed name."""
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def product_modules() -> list[Path]:
    return sorted(p for p in (SRC / "acm_sync").rglob("*.py") if not p.name.startswith("."))


def upward_imports(paths: list[Path], root: Path = SRC) -> list[str]:
    problems = []
    for path in paths:
        here = module_name(path, root)
        if _covers(SANDBOX, here):
            continue
        mine = rank(here)
        assert mine is not None, f"{here} belongs to no room: list it in RANKS"
        for line, target in imports(path, root):
            theirs = rank(target)
            if theirs is not None and theirs > mine:
                problems.append(f"{here}:{line} (rank {mine}) imports {target} (rank {theirs})")
    return problems


def test_every_product_module_imports_only_its_room_and_the_rooms_below() -> None:
    assert upward_imports(product_modules()) == []


def test_the_computing_rooms_never_reach_a_crm() -> None:
    problems = [
        f"{module_name(path)}:{line} imports {target}"
        for path in product_modules()
        if any(_covers(room, module_name(path)) for room in COMPUTING)
        and not module_name(path).endswith(".settings")
        for line, target in imports(path)
        if any(_covers(client, target) for client in CRM_CLIENTS)
    ]
    assert problems == []


def test_the_sandbox_imports_no_product_code() -> None:
    problems = [
        f"{module_name(path)}:{line} imports {target}"
        for path in product_modules()
        if _covers(SANDBOX, module_name(path))
        for line, target in imports(path)
        if _covers("acm_sync", target) and not _covers(SANDBOX, target)
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("module", "source", "upward"),
    [
        # the seams the rule was written for, as they were
        ("acm_sync.assets.salesforce", "from acm_sync.writeback.fields import owned_names", True),
        ("acm_sync.currency", "from acm_sync.scoring.settings import Tier", False),
        ("acm_sync.quality.derive", "from acm_sync.scoring import score_accounts", True),
        ("acm_sync.quality.derive", "from ..scoring.book import AccountBook", True),
        ("acm_sync.scoring.hazard", "from acm_sync.config import ForecastConfig", False),
        ("acm_sync.connectors.hubspot", "import acm_sync.assets.jobs", True),
        ("acm_sync.writeback.plan", "from acm_sync.scoring import text", False),
    ],
)
def test_the_rule_itself(tmp_path: Path, module: str, source: str, upward: bool) -> None:
    """The checker on one-line modules: upward imports (absolute or relative) are caught;
    downward ones and the settings (rank 0, read by anyone) pass."""
    path = tmp_path.joinpath(*module.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True)
    path.write_text(source + "\n")
    found = upward_imports([path], root=tmp_path)
    assert (found != []) == upward, found
