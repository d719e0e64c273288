"""The package layout's rule: imports flow one way along the path a chunk takes (media -> player
-> sim -> policies -> bench -> dqn) and the tools beside it (clients, dashjs, cli); the service
uses the library up to the policies and never torch."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# lowest first: a package may import from itself and from the ones before it
LAYERS = [
    "abr.units",
    "abr.data",
    "abr.media",
    "abr.player",
    "abr.sim",
    "abr.policies",
    "abr.bench",
    "abr.dqn",
    "service",
    "abr.clients",
    "abr.dashjs",
    "abr.cli",
]
# the service sits above the library it uses, but none of the training code
SERVICE_MAY_NOT_IMPORT = ("abr.bench", "abr.dqn", "torch")


def _layer(module: str) -> int | None:
    for index, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return index
    return None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _modules() -> list[tuple[str, Path]]:
    paths = [*REPO.glob("abr/**/*.py"), *REPO.glob("service/**/*.py")]
    return [(".".join(p.relative_to(REPO).with_suffix("").parts), p) for p in sorted(paths)]


def test_every_module_belongs_to_a_layer() -> None:
    loose = [name for name, _ in _modules() if _layer(name) is None and name != "abr.__init__"]
    assert loose == []


@pytest.mark.parametrize("name, path", _modules(), ids=[name for name, _ in _modules()])
def test_imports_flow_one_way(name: str, path: Path) -> None:
    own = _layer(name)
    if own is None:
        return
    wrong = [
        f"{path.name}:{line} imports {module}"
        for line, module in _imports(path)
        if (layer := _layer(module)) is not None and layer > own
    ]
    if name.startswith("service"):
        wrong += [
            f"{path.name}:{line} imports {module}"
            for line, module in _imports(path)
            if module.startswith(SERVICE_MAY_NOT_IMPORT)
        ]
    assert wrong == []


def test_the_rule_finds_an_import_against_the_flow(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from abr.dqn.train import train\n")
    assert _imports(module) == [(2, "abr.dqn.train")]
    assert _layer("abr.dqn.train") > _layer("abr.sim.simulator")


def _import_graph(modules: list[tuple[str, Path]]) -> dict[str, set[str]]:
    """Each module's imports of other project modules, those inside functions too
    (`from abr.x import y` counts as importing abr.x.y where that is a module)."""
    names = {name.removesuffix(".__init__") for name, _ in modules}
    graph: dict[str, set[str]] = {}
    for name, path in modules:
        own = name.removesuffix(".__init__")
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                targets |= {f"{node.module}.{alias.name}" for alias in node.names}
        graph[own] = {t for t in targets if t in names and t != own}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    assert _cycles(_import_graph(_modules())) == []


def test_the_circle_check_finds_one(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import abr.b\n")
    (tmp_path / "b.py").write_text("def f():\n    from abr import a\n")
    graph = _import_graph([("abr.a", tmp_path / "a.py"), ("abr.b", tmp_path / "b.py")])
    assert _cycles(graph) == [["abr.a", "abr.b"]]
