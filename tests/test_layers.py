"""Imports point down only: orchestration -> pipelines -> models / classical / simulate -> geometry / io.

Every ``import`` of a package module in the source (at module level or
inside a function) is an arrow of the import graph. An arrow may stay within
a layer or point to a lower one, never up; and the graph has no circle.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "hxrg_denoiser"

# The rank of each top-level module or subpackage: a module imports only from ranks below its own, or from its
# own package. Pipelines that are peers get ranks of their own, so that an arrow between them (training
# importing the benchmark) shows as one pointing up.
LAYERS = {
    "_version": 0, "allocator": 0, "errors": 0, "dq": 0, "stats": 0, "threads": 0,
    "geometry": 1,
    "io": 2,
    "classical": 3, "simulate": 3, "plots": 3,
    "strips": 4,
    "models": 5,
    "fitting": 6,
    "denoise": 8,
    "training": 10,
    "bench": 11,
    "demo": 12, "batch": 12,
    "cli": 13, "jwst": 13,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """``{module: {package modules it imports}}`` over every file of the package."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("hxrg_denoiser"):
                    targets.add(node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("hxrg_denoiser")}
        graph[name] = {t for t in targets if t != name}
    return graph


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:  # the package's own __init__ re-exports the lowest layers
        return 1
    return LAYERS[parts[1]]


def test_every_module_has_a_layer():
    for module in import_graph():
        _layer(module)


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_imports_point_down_only():
    upward = [f"{a} -> {b}" for a, targets in import_graph().items() for b in targets
              if b != "hxrg_denoiser" and _layer(b) > _layer(a)]
    assert not upward, "imports that point up a layer: " + "; ".join(sorted(upward))


def test_peers_do_not_import_each_other():
    """Two packages of the same rank (classical and simulate, demo and batch) stay independent."""
    sideways = [f"{a} -> {b}" for a, targets in import_graph().items() for b in targets
                if _package(a) and _package(b) and _package(a) != _package(b) and _layer(b) == _layer(a)]
    assert not sideways, "imports between peers: " + "; ".join(sorted(sideways))


def test_training_does_not_import_the_benchmark():
    """Reserved seeds and the bench geometry live below both (simulate.held_out): the layers must say so."""
    assert _layer("hxrg_denoiser.bench") > _layer("hxrg_denoiser.training")


def test_the_import_graph_has_no_circle():
    full = import_graph()
    graph = {a: {b for b in targets if b in full} for a, targets in full.items()}
    # a package's __init__ is an alias of what it re-exports: arrows into it count as arrows to its modules
    state: dict[str, int] = {}
    circle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if nxt == node.rsplit(".", 1)[0]:  # a module importing its own package's __init__
                continue
            if state.get(nxt) == 1:
                circle.extend(path + [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, path + [node]):
                return True
        state[node] = 2
        return False

    for node in graph:
        if state.get(node) is None and visit(node, []):
            break
    assert not circle, "import circle: " + " -> ".join(circle[circle.index(circle[-1]):])


def test_no_module_outside_the_models_branches_on_an_architecture_name():
    """A comparison with an architecture's name (==, !=, in) only happens in the model package."""
    from hxrg_denoiser.models.registry import ARCHITECTURES

    names = set(ARCHITECTURES)
    branches = []
    for path in PACKAGE.rglob("*.py"):
        if "models" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                constants = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)]
                if any(c in names for c in constants if isinstance(c, str)):
                    branches.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not branches, "architecture names tested in: " + ", ".join(branches)


def test_importing_the_package_leaves_matplotlib_alone():
    """No backend is chosen and pyplot is not imported by the package's plots (figures are made without it)."""
    import subprocess
    import sys

    code = ("import matplotlib; before = matplotlib.rcParams._get_backend_or_none(); "
            "import hxrg_denoiser.plots, hxrg_denoiser.bench.report, hxrg_denoiser.training.loop, sys; "
            "assert 'matplotlib.pyplot' not in sys.modules; "
            "assert matplotlib.rcParams._get_backend_or_none() == before, before")
    subprocess.run([sys.executable, "-c", code], check=True)
