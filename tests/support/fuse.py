"""Real FUSE mounts for the tests: start ``oiofs-mount --foreground``, unmount in a finally."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def require_fuse() -> None:
    """Skip (saying why) where FUSE cannot work: no /dev/fuse or no fusermount3."""
    if not os.path.exists("/dev/fuse"):
        pytest.skip("/dev/fuse is missing: FUSE mounts cannot be tested here")
    if shutil.which("fusermount3") is None:
        pytest.skip("fusermount3 is missing (Debian package fuse3; install.sh installs it)")


class Mount:
    """A running ``oiofs-mount`` process and its mountpoint."""

    def __init__(self, proc: subprocess.Popen, mountpoint: str, log: str) -> None:
        self.proc = proc
        self.mountpoint = mountpoint
        self.log = log

    def path(self, *parts: str) -> str:
        return os.path.join(self.mountpoint, *parts)

    def kill(self) -> None:
        """SIGKILL the mount (a crash), then detach the dead mountpoint."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        subprocess.run(["fusermount3", "-u", "-z", self.mountpoint], check=False)

    def unmount(self, timeout: float = 120) -> None:
        """``fusermount3 -u`` and wait for the process, which uploads everything first."""
        if self.proc.poll() is None:
            subprocess.run(["fusermount3", "-u", self.mountpoint], check=False)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
                subprocess.run(["fusermount3", "-u", "-z", self.mountpoint], check=False)
                raise AssertionError(f"mount did not exit: {self.output()}") from None
        assert self.proc.returncode == 0, self.output()

    def output(self) -> str:
        with open(self.log) as f:
            return f.read()


@contextlib.contextmanager
def mounted(mountpoint: str, *args: str, env: dict[str, str] | None = None
            ) -> Iterator[Mount]:
    """Mount with ``oiofs-mount --foreground ARGS... MOUNTPOINT``; unmount at the end."""
    require_fuse()
    os.makedirs(mountpoint, exist_ok=True)
    log = mountpoint.rstrip("/") + ".log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oiofs.fs.mount", "--foreground", *args, mountpoint],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, **(env or {}), "PYTHONPATH": ROOT})
    mount = Mount(proc, mountpoint, log)
    try:
        deadline = time.monotonic() + 30
        while not os.path.ismount(mountpoint):
            if proc.poll() is not None:
                raise AssertionError(f"oiofs-mount exited: {mount.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not mounted after 30s: {mount.output()}")
            time.sleep(0.05)
        yield mount
    finally:
        if proc.poll() is None:
            mount.unmount()
        elif os.path.ismount(mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", mountpoint], check=False)
