"""The layout rules of docs/adding_a_part.md, checked on the source (no imports executed).

* no import circles anywhere in plmkit (module-level or inside functions);
* no part imports another part: shared code lives in experiments/common, targets, shipped or shared/;
* no module under plmkit/experiments/ grows past ~600 lines.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from plmkit.experiments import PARTS

PACKAGE = Path(__file__).resolve().parent.parent / "plmkit"
KIT_WIDE = {"common", "targets", "shipped", "shared"}  # experiments modules every part may import
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(path: Path) -> set[str]:
    """Every plmkit module a file imports, resolving relative imports and ``from pkg import module``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imported_modules(path) for name, path in MODULES.items()}


def _without_own_package(name: str, targets: set[str]) -> set[str]:
    # A package's __init__ importing its own submodules (to re-export them) and a submodule importing a
    # sibling through the package are both fine; only edges between real modules form a circle.
    return {t for t in targets if not (name.startswith(t + ".") and MODULES[t].name == "__init__.py")}


def find_cycle() -> list[str] | None:
    graph = {n: _without_own_package(n, t) for n, t in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_circles():
    cycle = find_cycle()
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def part_root(module: str) -> str | None:
    """The experiments sub-name a module belongs to (``cfg`` for plmkit.experiments.cfg.pretrain)."""
    prefix = "plmkit.experiments."
    return module[len(prefix):].split(".")[0] if module.startswith(prefix) else None


PART_ROOTS = {part_root(module) for module, _ in PARTS.values()}


@pytest.mark.parametrize("root", sorted(PART_ROOTS))
def test_no_part_imports_another_part(root):
    offenders = []
    for module, targets in GRAPH.items():
        if part_root(module) != root:
            continue
        for target in targets:
            other = part_root(target)
            if other is not None and other != root and other not in KIT_WIDE:
                offenders.append(f"{module} imports {target}")
    assert not offenders, "parts must not import each other (move shared code to experiments/shared/): " + "; ".join(offenders)


def test_part_roots_are_not_kit_wide_names():
    assert not PART_ROOTS & KIT_WIDE


def test_experiment_modules_stay_short():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in (PACKAGE / "experiments").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules (over {MAX_LINES} lines): {long}"


def test_every_part_module_exposes_reproduce_and_check_targets():
    missing = []
    for name, (module, _) in PARTS.items():
        path = MODULES[module]
        defined = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
        imported = {a.asname or a.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.ImportFrom)
                    for a in n.names}
        for function in ("reproduce", "check_targets"):
            if function not in defined | imported:
                missing.append(f"{name}: {function}")
    assert not missing, "every part exposes reproduce(ctx) and check_targets(metrics, profile): " + ", ".join(missing)


def test_the_cycle_finder_finds_a_planted_cycle():
    GRAPH["plmkit.model"] = GRAPH["plmkit.model"] | {"plmkit.train"}
    try:
        assert find_cycle() is not None
    finally:
        GRAPH["plmkit.model"] = imported_modules(MODULES["plmkit.model"])
