"""The package's layer rule, read from the source (AST), so a violation fails before anything runs.

leaves (files, runtime) < chem < data < nn < sampling < training < cli; the package root
(``inertialar/__init__.py``, the notebook API in ``api.py``, loaded lazily) sits on top. A module imports first-party code only
from its own sub-package or a lower layer, at the top of the file (function-level first-party
imports only in ``cli/``, for start-up time); ``sampling/`` takes nothing from ``chem/`` but the
molecule and the groups (the honesty rule: selection never reads the metrics' bond tables,
valences or RDKit sanitisation); nothing in the library imports streamlit or reads ``benchmarks/``;
the import graph has no cycle; no module is over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "inertialar"
LAYERS = {"files": 0, "runtime": 0, "chem": 1, "data": 2, "nn": 3, "sampling": 4, "training": 5, "cli": 6,
          "__main__": 6, "__init__": 7, "api": 7}
SAMPLING_MAY_USE_FROM_CHEM = {"inertialar.chem.molecule", "inertialar.chem.groups"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS["__init__"] if len(parts) == 1 else LAYERS[parts[1]]


def first_party_imports(tree: ast.Module, module: str, is_package: bool):
    """(imported module, line, at top level?) for every first-party import in a module."""
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "inertialar"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                pkg = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
            if base.split(".")[0] == "inertialar":
                names = [f"{base}.{a.name}" if (PKG.parent / f"{base}.{a.name}".replace(".", "/")).with_suffix(".py").exists()
                         or (PKG.parent / f"{base}.{a.name}".replace(".", "/")).is_dir() else base for a in node.names]
        for name in names:
            yield name, node.lineno, id(node) in top


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def test_every_import_respects_the_layers():
    bad = []
    for mod, path in modules().items():
        tree = ast.parse(path.read_text())
        for target, line, at_top in first_party_imports(tree, mod, path.name == "__init__.py"):
            where = f"{path.relative_to(PKG.parent)}:{line} imports {target}"
            sub = mod.split(".")[1] if "." in mod else ""
            if not at_top and sub != "cli" and not (mod == "inertialar" and target == "inertialar.api"):
                bad.append(f"{where} inside a function (only cli/ may)")
            if target == "inertialar":
                if mod != "inertialar":
                    bad.append(f"{where}: the package root is the top layer")
                continue
            same = target.split(".")[:2] == mod.split(".")[:2]
            if not same and layer(target) > layer(mod):
                bad.append(f"{where}: a higher layer")
            if sub == "sampling" and target.startswith("inertialar.chem") and target not in SAMPLING_MAY_USE_FROM_CHEM:
                bad.append(f"{where}: sampling may take only the molecule and the groups from chem")
    assert not bad, "\n".join(bad)


def test_import_graph_has_no_cycle():
    mods = modules()
    graph = {m: set() for m in mods}
    for mod, path in mods.items():
        for target, _, at_top in first_party_imports(ast.parse(path.read_text()), mod, path.name == "__init__.py"):
            if at_top and target in graph and target != mod:
                graph[mod].add(target)
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " → ".join(trail[trail.index(t):] + [m, t]) if t in trail
                                     else f"import cycle through {m} → {t}")
            if t not in state:
                visit(t, trail + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_sampling_never_imports_rdkit():
    """Selection and redraws cannot sanitise or perceive bonds: no RDKit anywhere in sampling/."""
    hits = [str(p.relative_to(PKG.parent)) for p in (PKG / "sampling").rglob("*.py")
            if any(isinstance(n, (ast.Import, ast.ImportFrom)) and "rdkit" in ((n.module or "") if isinstance(n, ast.ImportFrom)
                   else " ".join(a.name for a in n.names)) for n in ast.walk(ast.parse(p.read_text())))]
    assert not hits, hits


@pytest.mark.parametrize("forbidden", ["streamlit", "benchmarks"])
def test_library_never_imports_the_app_or_reads_benchmarks(forbidden):
    hits = [str(p.relative_to(PKG.parent)) for p in PKG.rglob("*.py") if p.name != "files.py"  # files.py names the path
            and (f"import {forbidden}" in p.read_text() or f'"{forbidden}' in p.read_text())]
    assert not hits, f"{forbidden} used in {hits}"


def test_no_module_over_400_lines():
    long = {str(p.relative_to(PKG.parent)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_the_rule_can_fail(tmp_path, monkeypatch):
    """The checker sees a function-level import and an upward import in a throwaway module."""
    src = "from inertialar.training.loop import train\n\ndef f():\n    from inertialar.chem import metrics\n"
    found = list(first_party_imports(ast.parse(src), "inertialar.chem.fake", False))
    assert ("inertialar.training.loop", 1, True) in found
    assert ("inertialar.chem.metrics", 4, False) in found
    assert layer("inertialar.training.loop") > layer("inertialar.chem.fake")
