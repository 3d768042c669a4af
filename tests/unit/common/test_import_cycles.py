"""No module of ``oiofs.common`` imports, directly or through others, a module importing it.

Read from the source (every ``import``, at module level or inside a function), so a cycle
hidden behind a late import is found too.
"""

import ast
import pathlib

import oiofs.common

COMMON = pathlib.Path(oiofs.common.__file__).parent


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(COMMON.parent.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def common_import_graph() -> dict[str, set[str]]:
    """``{module: modules of oiofs.common it imports}`` for every module of oiofs.common."""
    paths = {_module_name(p): p for p in COMMON.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                for alias in node.names:  # ``from pkg import submodule`` or a name of pkg
                    submodule = f"{base}.{alias.name}"
                    targets.add(submodule if submodule in paths else base)
        graph[name] = {t for t in targets if t in paths and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or ``None`` when there is none."""
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> list[str] | None:
        if node in stack:
            return stack[stack.index(node):] + [node]
        if node in done:
            return None
        stack.append(node)
        for target in sorted(graph[node]):
            cycle = visit(target, stack)
            if cycle:
                return cycle
        stack.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_the_checker_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_imports():
    graph = common_import_graph()
    assert "oiofs.common.db.broker" in graph["oiofs.common.db.server"]
    assert "oiofs.common.storage_policy" in graph["oiofs.common.cluster_config"]
    assert "oiofs.common.ring.placement" in graph["oiofs.common.ring.builder"]  # from pkg import
    assert "oiofs.common.ring" not in graph["oiofs.common.ring.builder"]


def test_no_import_cycle_in_common():
    assert find_cycle(common_import_graph()) is None
