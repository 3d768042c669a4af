"""The code base passes ``mypy`` with the configuration in pyproject.toml ([tool.mypy]:
strict on oiofs.common, mypy's default level elsewhere): CI runs this with the rest of the
suite, as tests/test_lint.py runs ruff."""

import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


def test_mypy_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", "/dev/null"],
        cwd=CHECKOUT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout, result.stdout
