"""The layers of docs/architecture.md hold: every import in the project's code (read with ast, nothing imported)
goes to the module's own package or down to a lower layer, never up or sideways, and the imports form no cycle.
Tests may import any layer but scripts/."""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Lowest first. A module may import its own package and any package of a lower layer (docs/architecture.md).
LAYERS = [
    ["vae_core", "vae_core.base", "vae_core.files", "vae_core.lab"],  # vae_core itself: its empty __init__
    ["vae_core.model"],
    ["vae_core.training", "vae_core.evaluation"],
    ["vae_core.zoo"],
    ["explorer.compute"],
    ["explorer"],
    ["app", "app_pages", "serve", "train", "scripts"],
]
SOURCES = ["vae_core", "explorer", "app_pages", "scripts", "app.py", "serve.py", "train.py"]
OURS = ("vae_core", "explorer", "app_pages", "scripts", "app", "serve", "train", "tests")


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def package_of(module: str) -> tuple[int, str] | None:
    """(layer, package) of a module of ours: the longest package of LAYERS that holds it."""
    found = [(len(p), i, p) for i, layer in enumerate(LAYERS) for p in layer
             if module == p or module.startswith(p + ".")]
    return (max(found)[1], max(found)[2]) if found else None


@functools.cache
def imports(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, module) for every import of ``path`` (at any depth: a lazy import counts), relative ones resolved."""
    tree = ast.parse(source if source is not None else path.read_text(), str(path))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            # `from pkg import module` imports pkg.module; `from module import name`, the module
            found += [(node.lineno, f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module)
                      for a in node.names]
    return sorted({(line, m) for line, m in found if m.split(".")[0] in OURS})


@functools.cache
def files() -> list[Path]:
    return sorted(p for s in SOURCES for p in ([ROOT / s] if s.endswith(".py") else (ROOT / s).rglob("*.py")))


MODULES = {module_name(p) for p in files()}


def known(module: str) -> str | None:
    """The module of ours ``module`` names (``from pkg import name`` also lists pkg.name, which may be a function)."""
    while module and module not in MODULES:
        module = module.rpartition(".")[0]
    return module or None


def layer_breaks(path: Path, source: str | None = None) -> list[str]:
    """One sentence per import of ``path`` that goes up a layer or sideways to another package of its layer."""
    mine = package_of(module_name(path))
    breaks = []
    for line, target in sorted({(line, known(target)) for line, target in imports(path, source)}, key=str):
        theirs = target and package_of(target)
        if not theirs or theirs[1] == mine[1]:
            continue
        if theirs[0] >= mine[0]:
            way = "up to" if theirs[0] > mine[0] else "sideways to"
            breaks.append(f"{path.relative_to(ROOT)}:{line} imports {target}: {mine[1]} (layer {mine[0]}) reaches "
                          f"{way} {theirs[1]} (layer {theirs[0]})")
    return breaks


def cycles() -> list[list[str]]:
    """The import cycles among our modules (each once), by depth-first search."""
    graph = {module_name(p): {k for _, t in imports(p) if (k := known(t)) and k != module_name(p)} for p in files()}
    found, state = [], {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = "open"
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                found.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def test_every_module_has_a_layer():
    assert [module_name(p) for p in files() if package_of(module_name(p)) is None] == []


def test_no_import_goes_up_or_sideways():
    assert [b for p in files() for b in layer_breaks(p)] == []


def test_the_imports_form_no_cycle():
    assert cycles() == []


def test_no_test_imports_from_scripts():
    found = [f"{p.name}:{line} imports {m}" for p in sorted((ROOT / "tests").glob("*.py"))
             for line, m in imports(p) if m == "scripts" or m.startswith("scripts.")]
    assert found == []


@pytest.mark.parametrize("path, line, way", [
    ("vae_core/model/vae.py", "from vae_core.zoo.checkpoints import scan", "up to vae_core.zoo"),
    ("vae_core/training/loop.py", "from vae_core.evaluation.metrics import evaluate", "sideways to"),
    ("vae_core/base/data.py", "from ..model import vae", "up to vae_core.model"),
    ("explorer/compute/latent.py", "from explorer import cache", "up to explorer"),
])
def test_a_bad_import_is_named(path, line, way):
    """The rule can fail: an import added against it is reported with its file, line and the layers it crosses."""
    source = (ROOT / path).read_text() + f"\n{line}\n"
    breaks = layer_breaks(ROOT / path, source)
    assert len(breaks) == 1 and way in breaks[0] and breaks[0].startswith(f"{path}:")
