"""Import arrows run one way, runtime ← train ← export, and no module takes part in an import circle.

The graph is read from the source with ``ast`` (nothing is imported, so no
TensorFlow is needed): every ``import`` and ``from ... import`` of a module,
at its top, inside functions and under ``TYPE_CHECKING`` alike.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("runtime", "train", "export")  # each may import those before it, never those after


def module_files(repo: Path) -> dict[str, Path]:
    """``vclf.<layer>.<...>`` → its file, for every module under the layers' folders (packages by their ``__init__``)."""
    modules = {}
    for layer in LAYERS:
        for path in sorted((repo / layer).rglob("*.py")):
            parts = path.relative_to(repo).with_suffix("").parts
            modules[".".join(("vclf", *parts[: -1 if parts[-1] == "__init__" else None]))] = path
    return modules


def imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of the layers that ``module``'s file imports."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.add(submodule if submodule in known else source)
    return {target for target in targets if target in known and target != module}


def import_graph(repo: Path) -> dict[str, set[str]]:
    modules = module_files(repo)
    return {module: imported(module, path, set(modules)) for module, path in modules.items()}


def layer(module: str) -> int:
    return LAYERS.index(module.split(".")[1])


def arrows_against(graph: dict[str, set[str]]) -> list[str]:
    """Each import of a later layer by an earlier one (train importing export, runtime importing train ...)."""
    return sorted(f"{a} → {b}" for a, targets in graph.items() for b in targets if layer(b) > layer(a))


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_no_module_of_runtime_train_or_export_takes_part_in_an_import_circle():
    assert circles(import_graph(REPO)) == []


def test_runtime_imports_nothing_of_train_or_export_and_train_nothing_of_export():
    assert arrows_against(import_graph(REPO)) == []


def test_the_graph_holds_the_arrows_the_source_shows():
    graph = import_graph(REPO)
    assert "vclf.runtime.files" in graph["vclf.train.cache"]  # from vclf.runtime.files import ...
    assert "vclf.train.run" in graph["vclf.train.fit"]  # from . import run as rd
    assert "vclf.train.cache" in graph["vclf.train.features"]  # under TYPE_CHECKING
    assert "vclf.train.evaluate" in graph["vclf.export.cli"]  # inside the command's body
    assert "vclf.runtime.sampling" in graph["vclf.runtime.bundle"]  # from .sampling import ...


@pytest.mark.parametrize(
    "files, circle",
    [
        (
            {
                "train/a.py": "from .b import x\n",
                "train/b.py": "def f():\n    from vclf.train import c\n",
                "train/c.py": "from . import a\n",
            },
            ["vclf.train.a", "vclf.train.b", "vclf.train.c"],
        ),
        (
            {
                "runtime/live/__init__.py": "",
                "runtime/live/loop.py": "from ..engine import E\n",
                "runtime/engine.py": "import vclf.runtime.live.loop\n",
            },
            ["vclf.runtime.engine", "vclf.runtime.live.loop"],
        ),
    ],
)
def test_a_circle_is_found_through_relative_lazy_and_nested_imports(tmp_path, files, circle):
    assert circles(import_graph(write_tree(tmp_path, files))) == [circle]


def test_an_arrow_against_the_layers_is_found(tmp_path):
    write_tree(
        tmp_path,
        {
            "runtime/engine.py": "from vclf.train.fit import fit\n",
            "train/fit.py": "from vclf.export import sweep\n",
            "export/sweep.py": "from vclf.runtime import engine\n",
        },
    )
    assert arrows_against(import_graph(tmp_path)) == ["vclf.runtime.engine → vclf.train.fit", "vclf.train.fit → vclf.export.sweep"]
