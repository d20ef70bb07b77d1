"""The house stays level: an AST walk over hpsearch/ on every run, with no allow-list.

Imports run downwards through the layers (imports inside functions and under `if TYPE_CHECKING:`
count), there is no import circle, no module is over 500 lines (300 is a guide: a module is split
by job, never to meet a number) and no function over 80, no underscore name is imported from
another module, and Optuna's private API is used in one adapter module only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hpsearch"
MAX_LINES = 500
MAX_FUNCTION_LINES = 80  # where a reader loses the thread
ADAPTER = "hpsearch.engine.optuna_adapter"
# Lowest first; a module may import its own layer and the layers below it. The package's face
# (`hpsearch/__init__.py`, the public API) re-exports and is not a room.
LAYERS = (
    ("errors", ("hpsearch.errors", "hpsearch.client")),
    ("record", ("hpsearch.record",)),
    ("statistics", ("hpsearch.statistics",)),
    ("space and registries", ("hpsearch.space",)),
    ("tasks", ("hpsearch.tasks",)),
    ("training", ("hpsearch.training",)),
    ("study definition", ("hpsearch.definition",)),
    ("engine", ("hpsearch.engine",)),
    ("protocols", ("hpsearch.protocols",)),
    ("readers", ("hpsearch.report",)),
    ("cli and Python API", ("hpsearch.cli", "hpsearch.api", "hpsearch.__main__")),
)
# Readers read the record, the statistics, the registries and a protocol's pure plan; never the
# engine, training or a protocol's runner. Training knows no Optuna.
FORBIDDEN = {
    "hpsearch.report": ("hpsearch.engine", "hpsearch.training",
                        "hpsearch.protocols.tune", "hpsearch.protocols.compare",
                        "hpsearch.protocols.lr_find", "hpsearch.protocols.warmstart"),
    "hpsearch.training": ("optuna",),
    "hpsearch.record": tuple(f"hpsearch.{name}" for name in (
        "statistics", "space", "tasks", "training", "definition", "engine", "protocols", "report",
        "cli", "api")),
}
# An underscore attribute of anything but the module's own objects and these standard modules is
# taken for Optuna's (studies, trials, storages are the only foreign objects hpsearch holds).
OWN_OR_STANDARD = {"self", "cls", "os", "sys", "atexit"}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = modules()


def imports(module: str) -> Iterator[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of `module`, anywhere."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full, None, node.lineno) if full in MODULES else (base, alias.name, node.lineno)


def owner(name: str) -> str | None:
    """The hpsearch module an imported name lives in (its longest known prefix)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def layer(module: str) -> int | None:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _, _ in imports(module):
            found = owner(target) if target.startswith("hpsearch") else None
            if found and found != module:
                graph[module].add(found)
    return graph


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in MODULES if m != "hpsearch" and layer(m) is None]
    assert not unplaced, f"modules outside every layer: {unplaced}"


def test_imports_run_downwards() -> None:
    upward = []
    for module, targets in edges().items():
        if module == "hpsearch":  # the public API's face
            continue
        for target in targets:
            if target == "hpsearch":
                upward.append(f"{module} imports the package face")
            elif (layer(target) or 0) > (layer(module) or 0):
                upward.append(f"{module} ({LAYERS[layer(module) or 0][0]}) -> {target} "
                              f"({LAYERS[layer(target) or 0][0]})")
    assert not upward, "\n".join(upward)


def test_readers_training_and_the_record_import_only_what_they_may() -> None:
    found = []
    for module in MODULES:
        for prefix, banned in FORBIDDEN.items():
            if module != prefix and not module.startswith(prefix + "."):
                continue
            for target, _, line in imports(module):
                if any(target == b or target.startswith(b + ".") for b in banned):
                    found.append(f"{module}:{line} imports {target}")
    assert not found, "\n".join(found)


def test_no_import_circle() -> None:
    graph = edges()
    graph.pop("hpsearch")  # a face that only re-exports is not a room
    for targets in graph.values():
        targets.discard("hpsearch")
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert not circles, circles


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_500_lines(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines"


def test_no_function_is_over_80_lines() -> None:
    long = [f"{module}:{node.lineno} {node.name} has {node.end_lineno - node.lineno + 1} lines"
            for module, path in MODULES.items()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, "\n".join(long)


def test_no_underscore_name_is_imported_from_another_module() -> None:
    borrowed = [f"{module}:{line} imports {name} from {target}"
                for module in MODULES for target, name, line in imports(module)
                if target.startswith("hpsearch") and name and name.startswith("_")
                and not name.startswith("__")]
    assert not borrowed, "\n".join(borrowed)


def optuna_private_uses(module: str) -> list[str]:
    uses = [f"import {target}" for target, name, _ in imports(module)
            if target.split(".")[0] == "optuna"
            and any(part.startswith("_") for part in [*target.split("."), name or ""])]
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    uses += [f"{ast.unparse(node.value)}.{node.attr} (line {node.lineno})" for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and node.attr.startswith("_")
             and not node.attr.startswith("__") and ast.unparse(node.value) not in OWN_OR_STANDARD]
    return uses


def test_optunas_private_api_is_used_in_the_adapter_only() -> None:
    adapter = [m for m in MODULES if m == ADAPTER or m.startswith(ADAPTER + ".")]
    outside = {m: u for m in MODULES if m not in adapter and (u := optuna_private_uses(m))}
    assert not outside, outside
    assert any(optuna_private_uses(m) for m in adapter), "the adapter should hold what hpsearch relies on"
