"""The layer contracts (DESIGN.md), checked on every module's imports — lazy imports inside functions included:

- `ftwizard.core` imports no textual, torch, transformers, peft, trl, bitsandbytes, accelerate, and no ui/cli/train;
- `ftwizard.ui` imports no torch/transformers/peft/trl and no train/cli;
- `ftwizard.train` imports no textual and no ui/cli;
- no import cycles between ftwizard modules.
Like harlequin's import-linter contracts, but as a test so it runs wherever the suite runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "ftwizard"
HEAVY = ("torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate")
FORBIDDEN = {
    "ftwizard.core": ("textual", *HEAVY, "ftwizard.ui", "ftwizard.cli", "ftwizard.train"),
    "ftwizard.ui": (*HEAVY, "ftwizard.train", "ftwizard.cli"),
    "ftwizard.train": ("textual", "ftwizard.ui", "ftwizard.cli"),
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _all_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:` (typing only: never imported at run time)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def _imports(name: str, path: Path, known: set[str], runtime_only: bool = False) -> set[str]:
    """Every module `name` imports, at any depth of the file (lazy imports count; with `runtime_only`, imports
    under `if TYPE_CHECKING:` do not)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _type_checking_nodes(tree) if runtime_only else set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            for a in node.names:  # `from pkg import submodule`
                if f"{mod}.{a.name}" in known:
                    out.add(f"{mod}.{a.name}")
    return out


def _is(mod: str, prefix: str) -> bool:
    return mod == prefix or mod.startswith(prefix + ".")


def test_layer_contracts() -> None:
    mods = _all_modules()
    known = set(mods)
    broken = []
    for name, path in sorted(mods.items()):
        for layer, banned in FORBIDDEN.items():
            if not _is(name, layer):
                continue
            for imp in sorted(_imports(name, path, known)):
                if any(_is(imp, b) for b in banned):
                    broken.append(f"{name} imports {imp} (forbidden in {layer})")
    assert not broken, "\n".join(broken)


# core's packages, bottom to top (README "Architecture"): a package imports only packages below it. Modules directly
# under core/ (trainers, prices, resources, yamlsafe, threads) sit below all of them and import none.
CORE_LAYERS: dict[str, int] = {"ftwizard.core.data": 1, "ftwizard.core.eval": 1, "ftwizard.core.plan": 2,
                               "ftwizard.core.run": 3, "ftwizard.core.wizard": 4}


def _core_layer(mod: str) -> tuple[str, int] | None:
    for pkg, rank in CORE_LAYERS.items():
        if _is(mod, pkg):
            return pkg, rank
    return ("ftwizard.core", 0) if _is(mod, "ftwizard.core") and mod != "ftwizard.core" else None


def test_core_packages_point_one_way() -> None:
    """data/eval ← plan ← run ← wizard, counting imports inside functions (a lazy import is still an edge)."""
    mods = _all_modules()
    known = set(mods)
    broken = []
    for name, path in sorted(mods.items()):
        here = _core_layer(name)
        if here is None:
            continue
        for imp in sorted(_imports(name, path, known)):
            there = _core_layer(imp)
            if there is None or there[0] == here[0] or imp == "ftwizard.core":
                continue
            if there[1] >= here[1]:
                broken.append(f"{name} imports {imp} ({here[0]} may import only packages below it)")
    assert not broken, "\n".join(broken)


def test_no_import_cycles() -> None:
    mods = _all_modules()
    known = set(mods)
    graph = {n: {i for i in _imports(n, p, known, runtime_only=True) if i in known and i != n} for n, p in mods.items()}
    # a package's __init__ importing its own submodules is how packages work; the reverse edge is the cycle we flag
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                cyc = stack[stack.index(m):] + [m]
                if not all(_is(a, b) or _is(b, a) for a, b in zip(cyc, cyc[1:], strict=False)):
                    cycles.append(cyc)
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


@pytest.mark.parametrize("module", ["ftwizard.core.run.service", "ftwizard.core.wizard", "ftwizard.ui.app",
                                    "ftwizard.cli"])
def test_pure_modules_load_without_heavy_libraries(module: str) -> None:
    """At run time too: importing these pulls in no torch/transformers (the app must start fast, without a GPU)."""
    code = (f"import sys, {module}; heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
            "print(','.join(heavy)); sys.exit(1 if heavy else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"{module} imported {res.stdout.strip()} {res.stderr[-500:]}"
