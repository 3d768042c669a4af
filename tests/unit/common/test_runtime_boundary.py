"""The runtime boundary: :mod:`oiofs.common.runtime` is the only module that imports eventlet.

Read from the source (every ``import``, at module level or inside a function), so that a
late import is found too. Everything else reaches green threads, pools and timeouts
through ``runtime``, which could then be swapped without touching the servers.
"""

import ast
import pathlib

import oiofs

PACKAGE = pathlib.Path(oiofs.__file__).parent


def eventlet_importers() -> list[str]:
    """Every module of oiofs (relative path) with an ``import eventlet...`` or a
    ``from eventlet... import``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) \
                else [node.module or ""] if isinstance(node, ast.ImportFrom) and \
                not node.level else []
            if any(name == "eventlet" or name.startswith("eventlet.") for name in names):
                found.append(str(path.relative_to(PACKAGE.parent)))
                break
    return found


def test_only_the_runtime_imports_eventlet():
    assert eventlet_importers() == ["oiofs/common/runtime.py"]
