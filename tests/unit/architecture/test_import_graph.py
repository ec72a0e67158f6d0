"""The project's modules import one another without a circle, and the layer imports nothing outside it.

A circle hides behind function-level imports and breaks as soon as one of them moves to module level; the
layer is what Lambda ships, so an import of the local stack, the tests or a tool from it would fail there.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# Import roots, as on pytest's path and in Lambda: each maps a folder to the package names it provides.
ROOTS = {
    "layers/shared": ("iotbridge",),
    "local": ("bridge_local", "iot_standin", "sam_local", "loopback"),
    ".": ("tools", "samples", "bench"),
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for folder, packages in ROOTS.items():
        base = ROOT / folder
        for package in packages:
            single = base / f"{package}.py"
            paths = [single] if single.is_file() else sorted((base / package).rglob("*.py"))
            modules.update({_module_name(path, base): path for path in paths})
    return modules


def _imported(tree: ast.Module, name: str, is_package: bool) -> Iterator[str]:
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = _imported(tree, name, path.name == "__init__.py")
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def circle_in(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of the graph (its first module repeated at the end), or [] when there is none."""
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        return list(exc.args[1])
    return []


def test_the_cycle_finder_finds_a_circle_of_three() -> None:
    # GIVEN a -> b -> c -> a, and d outside it
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}

    # WHEN a circle is looked for
    circle = circle_in(graph)

    # THEN that circle is reported, and d is not in it
    assert sorted(set(circle)) == ["a", "b", "c"]
    assert circle_in({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_the_project_and_its_imports() -> None:
    graph = import_graph()

    assert "iotbridge.webhook_receiver.wiring" in graph
    assert "iotbridge.clients" in graph["iotbridge.webhook_receiver.wiring"]
    assert "bench.cold_start" in graph


def test_no_module_of_the_project_is_part_of_an_import_circle() -> None:
    assert circle_in(import_graph()) == []


@pytest.mark.parametrize("outside", ["bridge_local", "iot_standin", "sam_local", "tools", "samples", "bench"])
def test_the_layer_imports_nothing_that_lambda_does_not_ship(outside: str) -> None:
    graph = import_graph()

    offenders = {
        name: sorted(t for t in targets if t.split(".")[0] == outside)
        for name, targets in graph.items()
        if name.startswith("iotbridge")
    }
    assert {name: found for name, found in offenders.items() if found} == {}
