"""The ``>>>`` examples in docstrings run, so they stay true: every module of ``oiofs`` and
``tests/support`` that has one is found by scanning the files (a new module is picked up
without a list to maintain) and run with ``doctest``. An example that needs a running
cluster is marked ``# doctest: +SKIP`` line by line; every other example is checked."""

import doctest
import importlib
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]


def modules_with_examples() -> list[str]:
    names = []
    for root in ("oiofs", "tests/support"):
        for path in sorted((CHECKOUT / root).rglob("*.py")):
            if ">>> " in path.read_text(encoding="utf-8"):
                names.append(".".join(path.relative_to(CHECKOUT).with_suffix("").parts))
    return names


MODULES = modules_with_examples()


def test_examples_are_found():
    assert "oiofs.common.http.ranges" in MODULES and "tests.support.waiting" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = [t for t in finder.find(module, name) if t.examples]
    assert tests, f"{name} has '>>> ' in its text but no docstring example doctest can find"
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, "".join(report)
