"""oiofs as users install it: a wheel built from this checkout, installed into a fresh
virtual environment, runs an all-in-one cluster started from outside the checkout.

An editable install (what ``install.sh`` makes for development) reads the checkout itself and
hides files the package forgets to ship (``oiofs/obj`` once had no ``__init__.py`` and was
left out of every wheel). This test builds the wheel offline (``--no-build-isolation``, with
the build tools of the test environment), installs it with ``--no-deps --no-index`` into a new
venv, and makes the runtime dependencies visible through a ``.pth`` file pointing at the test
environment's site-packages, which holds the dependencies but not oiofs (installed there in
editable mode only, through a finder that a plain path entry does not activate). The cluster
then starts from a temporary directory with a clean environment (no PYTHONPATH), so every
oiofs module it runs comes from the installed wheel; the test checks that too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.support.cluster import free_port_base

CHECKOUT = Path(__file__).resolve().parents[2]


def run(argv: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
    return result


def command_lines() -> list[list[str]]:
    """The argv of every process on this machine."""
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        lines.append([a for a in argv if a])
    return lines


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools reuses a build/ folder, which could supply stale files
    source = out / "source"
    shutil.copytree(CHECKOUT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", out, source], cwd=out)
    (built,) = out.glob("oiofs-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory, wheel) -> tuple[Path, dict]:
    venv = tmp_path_factory.mktemp("venv")
    # nothing of the checkout may be visible to the new environment: no PYTHONPATH, and
    # every command runs from the venv's folder (a checkout's oiofs.egg-info would otherwise
    # make pip believe oiofs is already installed)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    run([sys.executable, "-m", "venv", venv], cwd=venv, env=env)
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
         "--no-index", wheel], cwd=venv, env=env)
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                    cwd=venv, env=env).stdout.strip())
    (site / "oiofs_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv, env


def test_wheel_ships_every_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    in_checkout = {str(p.relative_to(CHECKOUT)) for p in (CHECKOUT / "oiofs").rglob("*.py")}
    assert in_checkout <= names, f"left out of the wheel: {sorted(in_checkout - names)}"
    packages = {os.path.dirname(n) for n in in_checkout}
    assert {os.path.join(p, "__init__.py") for p in packages} <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("oiofs-allinone", "oiofs-server", "oiofs-daemon", "oiofs-ring-builder",
                   "oiofs-account-rebuilder", "account-service ="):
        assert script in text


def test_installed_wheel_imports_from_its_environment(fresh_env, tmp_path):
    venv, env = fresh_env
    code = ("import oiofs, oiofs.obj.server, oiofs.proxy.server, oiofs.cli.allinone;"
            "print(oiofs.obj.server.__file__)")
    where = run([venv / "bin" / "python", "-c", code], cwd=tmp_path, env=env).stdout.strip()
    assert where.startswith(str(venv)), where


def test_allinone_from_the_wheel_outside_the_checkout(fresh_env, tmp_path):
    venv, env = fresh_env
    base = free_port_base(3)
    state = tmp_path / "cluster"
    command = [venv / "bin" / "oiofs-allinone", "--dir", state, "--port-base", base,
               "--nodes", "3", "--part-power", "4", "--proxy-workers", "1"]
    try:
        started = run([*command[:1], "start", *command[1:], "--no-daemons"], cwd=tmp_path,
                      env=env, timeout=180)
        assert "auth URL" in started.stdout
        url = f"http://127.0.0.1:{base}"
        auth = urllib.request.urlopen(urllib.request.Request(
            url + "/auth/v1.0", headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"}))
        token, storage = auth.headers["X-Auth-Token"], auth.headers["X-Storage-Url"]
        body = os.urandom(70_000)
        for path, data in ((f"{storage}/wheel", b""), (f"{storage}/wheel/blob", body)):
            urllib.request.urlopen(urllib.request.Request(
                path, data=data, method="PUT", headers={"X-Auth-Token": token})).close()
        got = urllib.request.urlopen(urllib.request.Request(
            f"{storage}/wheel/blob", headers={"X-Auth-Token": token})).read()
        assert got == body
        listing = json.load(urllib.request.urlopen(urllib.request.Request(
            f"{storage}/wheel?format=json", headers={"X-Auth-Token": token})))
        assert [row["name"] for row in listing] == ["blob"]
        # every server ran the installed package, not the checkout
        for log in (state / "log").glob("*-server*.log"):
            assert str(CHECKOUT / "oiofs") not in log.read_text(errors="replace")
        servers = [argv for argv in command_lines() if str(state) in " ".join(argv)]
        # one config per server: 3 per node, the proxy, the directory (workers share theirs)
        assert len({argv[-1] for argv in servers}) == 3 * 3 + 2, servers
        assert all(argv[0].startswith(str(venv)) for argv in servers), servers
    finally:
        subprocess.run([str(a) for a in [*command[:1], "stop", *command[1:]]], cwd=tmp_path,
                       env=env, capture_output=True, timeout=120)
