"""Each class name of oiofs names one class, so a reader (or a grep) finds the one meant."""

import ast
import collections
import pathlib

import oiofs

ROOT = pathlib.Path(oiofs.__file__).parent


def class_definitions() -> dict[str, list[str]]:
    """``{class name: ["path:line", ...]}`` of every top-level class of the package."""
    found = collections.defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, ast.ClassDef):
                found[node.name].append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    return found


def test_classes_are_found():
    found = class_definitions()
    assert [w.split(":")[0] for w in found["ContainerUpdateSender"]] == [
        "oiofs/obj/container_update.py"]
    assert len(found) > 100


def test_no_two_classes_share_a_name():
    clashes = {name: where for name, where in class_definitions().items() if len(where) > 1}
    assert clashes == {}
