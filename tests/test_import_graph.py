"""The import graph of ``src/telemedroom`` has no cycle, type-only and function-level imports included.

Every ``import`` and ``from ... import`` anywhere in a module (at the top, under
``TYPE_CHECKING``, inside a function) is an edge from that module to the telemedroom
module it names (``from a import b`` names ``a.b`` when that is a module, else ``a``).
A cycle means two modules each name the other, and a reader cannot tell which is the
lower layer: the lower one must define a small protocol instead (see docs/layout.md).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import telemedroom

SRC = Path(telemedroom.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def _imports(name: str, path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a name inside a module
                target = target.rpartition(".")[0]
            if target.startswith("telemedroom") and target != name:
                yield target


def import_graph() -> dict[str, set[str]]:
    """Each telemedroom module and the telemedroom modules it imports, in any way."""
    known = _modules()
    return {name: set(_imports(name, path, known)) for name, path in known.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_finder_sees_a_cycle_and_its_absence() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_holds_type_only_and_function_level_imports() -> None:
    graph = import_graph()
    # under TYPE_CHECKING in the facade's core, and imported inside a method of the room
    assert "telemedroom.session.peer" in graph["telemedroom._room._core"]
    assert "telemedroom._kiosk" in graph["telemedroom._room._room"]


def test_no_import_cycle_in_src() -> None:
    found = cycles(import_graph())
    assert found == [], "modules that import each other (directly or around a loop):\n" + "\n".join(
        " <-> ".join(component) for component in found
    )
