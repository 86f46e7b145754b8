"""The deployed layer stands alone: no module of primecloud imports the local runtime, and its
module-level imports form no cycle (a cycle works or breaks depending on which module loads first)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

LAYER = Path(__file__).resolve().parents[2] / "layers" / "common"
PACKAGE = LAYER / "primecloud"


def _module_name(path: Path) -> str:
    parts = path.relative_to(LAYER).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, nodes: Iterator[ast.AST]) -> Iterator[str]:
    """Every name an import among ``nodes`` reaches: ``from a import b`` gives ``a`` and ``a.b``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join([*base, node.module] if node.module else base)
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)


def _module_level(tree: ast.Module) -> Iterator[ast.AST]:
    """Imports that run when the module loads: top level, in try/if blocks, not under TYPE_CHECKING."""
    for statement in tree.body:
        if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
            for node in statement.orelse:
                yield from ast.walk(node)
        elif not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield from ast.walk(statement)


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    return {_module_name(path): (path, ast.parse(path.read_text(encoding="utf-8"))) for path in PACKAGE.rglob("*.py")}


def test_the_layer_never_imports_localrun() -> None:
    offenders = sorted(
        f"{path.relative_to(LAYER)}: {name}"
        for path, tree in _modules().values()
        for name in _imported(path, ast.walk(tree))  # lazy imports inside functions count too
        if name == "localrun" or name.startswith("localrun.")
    )
    assert offenders == []


def test_module_level_imports_of_the_layer_form_no_cycle() -> None:
    modules = _modules()
    graph = {
        name: {imported for imported in _imported(path, _module_level(tree)) if imported in modules} - {name}
        for name, (path, tree) in modules.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, str] = {}  # "open" while on the current path, "done" once explored

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for imported in sorted(graph[name]):
            if state.get(imported) == "open":
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
    assert graph["primecloud.adapters.registry"] >= {"primecloud.config", "primecloud.errors"}  # the walk sees edges


def _edge_imports(module: str) -> set[str]:
    """The parts of the edge (``primecloud.api``) that ``module`` imports anywhere, lazily included."""
    path, tree = _modules()[module]
    edge = {name for name in _modules() if name == "primecloud.api" or name.startswith("primecloud.api.")}
    return {name for name in _imported(path, ast.walk(tree)) if name in edge}


def test_the_edge_is_layered_request_first() -> None:
    # idempotency reaches into the edge only for the request (its caller, session and transaction),
    # and the request is the bottom: nothing of the edge above it.
    assert _edge_imports("primecloud.api.idempotency") == {"primecloud.api.request"}
    assert _edge_imports("primecloud.api.request") == set()
    assert _edge_imports("primecloud.api.problems") == {"primecloud.api.request"}
    # Only an idempotent app loads idempotency: the package and the resolver never do at import.
    modules = _modules()
    for name in ("primecloud.api", "primecloud.api.app"):
        path, tree = modules[name]
        assert "primecloud.api.idempotency" not in set(_imported(path, _module_level(tree))), name
