"""The engine package's layers, read from its imports: no layer imports one above it, no module cycle.

Layers, lowest first (docs/engine.md, "Layers"): the shared leaves at the top of the package, then
model, index, s3vectors, ops, agent, cli. A module may import its own layer and the ones below.
Imports inside functions count too: they are how a layer would reach upwards without showing it.
On failure the message lists every module with its layer, so the picture needs no other tool.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "agent_scripts" / "imagesearch"
LEAVES = "leaves"
LAYERS = (LEAVES, "model", "index", "s3vectors", "ops", "agent", "cli")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else LEAVES


def imports_of(root: Path) -> dict[str, set[str]]:
    """Module -> the imagesearch modules it imports (resolved to modules, not names)."""
    modules = {module_name(root, p): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            found |= {t for t in targets if t in modules and t != name}
        graph[name] = {t for t in found if not (t == "imagesearch" or name.startswith(t + "."))}
    return graph


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    return sorted(f"{m} ({layer_of(m)}) imports {t} ({layer_of(t)})"
                  for m, targets in graph.items() for t in targets
                  if rank[layer_of(t)] > rank[layer_of(m)])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_picture(graph: dict[str, set[str]]) -> str:
    by_layer: dict[str, list[str]] = {}
    for m in sorted(graph):
        by_layer.setdefault(layer_of(m), []).append(m)
    return "\n".join(f"  {i} {layer}: {', '.join(by_layer.get(layer, []))}" for i, layer in enumerate(LAYERS))


def check(root: Path) -> list[str]:
    graph = imports_of(root)
    problems = upward_imports(graph) + [f"cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return [*problems, "layers, lowest first:\n" + layer_picture(graph)] if problems else []


def test_the_engine_keeps_its_layers():
    problems = check(PACKAGE)
    assert not problems, "\n".join(problems)


def test_every_module_has_a_known_layer():
    graph = imports_of(PACKAGE)
    assert {layer_of(m) for m in graph} <= set(LAYERS)
    # Every sub-package is a layer: a new folder must be placed in LAYERS (and docs/engine.md).
    assert {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} == set(LAYERS) - {LEAVES}


@pytest.mark.parametrize(("module", "plant", "expect"), [
    ("model/images.py", "from imagesearch.cli.common import print_json\n",
     "imagesearch.model.images (model) imports"),
    ("errors.py", "import imagesearch.index.vectors\n", "imagesearch.errors (leaves) imports"),
    ("ops/build.py", "from imagesearch.ops.ingest import apply_batch\n", "cycle: imagesearch.ops.build"),
])
def test_a_planted_upward_import_or_cycle_fails(tmp_path, module, plant, expect):
    # GIVEN a copy of the package with one import planted (plus, for the cycle, its way back)
    root = tmp_path / "imagesearch"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / module).write_text((root / module).read_text() + plant)
    if "cycle" in expect:
        ingest = root / "ops" / "ingest.py"
        ingest.write_text(ingest.read_text() + "from imagesearch.ops.build import build_index\n")
    # WHEN the layers are checked THEN the planted import is named, with the picture of the layers
    problems = check(root)
    assert any(expect in p for p in problems), problems
    assert "layers, lowest first" in problems[-1] and "1 model: imagesearch.model" in problems[-1]
