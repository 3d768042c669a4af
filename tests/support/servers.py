"""Start real oiofs servers as subprocesses on 127.0.0.1 for tests, and stop them.

>>> srv = ServerProcess("object", conf_path).start()  # doctest: +SKIP
>>> srv.stop()                                         # doctest: +SKIP
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time

from oiofs.cli.allinone.processes import group_alive
from tests.support.waiting import wait_for

HASH_CONF = """\
[hash]
hash_path_prefix = test-prefix
hash_path_suffix = test-suffix
"""


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
            low, high = (int(x) for x in handle.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def server_port_candidates() -> range:
    """Ports for test servers: below the ephemeral range, where no client connection's
    local port can take a server's port between a restart's stop and start."""
    return range(10000, max(ephemeral_range()[0], 12000))


def free_port() -> int:
    """A TCP port on 127.0.0.1, outside the ephemeral range, that is free right now."""
    candidates = server_port_candidates()
    for _ in range(1000):
        port = random.choice(candidates)
        if port_free(port):
            return port
    raise RuntimeError("no free port found")


def port_free(port: int) -> bool:
    """True if a server could bind 127.0.0.1:port right now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def write_cluster_conf(oiofs_dir: str, extra: str = "") -> str:
    """Write ``oiofs.conf`` with a test hash secret (plus ``extra`` text); its path."""
    os.makedirs(oiofs_dir, exist_ok=True)
    path = os.path.join(oiofs_dir, "oiofs.conf")
    with open(path, "w") as handle:
        handle.write(HASH_CONF + textwrap.dedent(extra))
    return path


def write_server_conf(path: str, app_use: str, defaults: dict, app_options: dict | None = None,
                      extra_sections: str = "") -> str:
    """Write a PasteDeploy ini file with one app and the given ``[DEFAULT]`` options."""
    lines = ["[DEFAULT]"]
    lines += [f"{k} = {v}" for k, v in defaults.items()]
    lines += ["", "[pipeline:main]", "pipeline = app", "", "[app:app]", f"use = {app_use}"]
    lines += [f"{k} = {v}" for k, v in (app_options or {}).items()]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n\n" + textwrap.dedent(extra_sections))
    return path


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    """Block until something accepts on 127.0.0.1:port (or fail the test); fail at once if
    ``proc`` exits first."""

    def listening() -> bool:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    wait_for(listening, timeout, f"something to listen on port {port}", interval=0.05)


class ServerProcess:
    """One ``oiofs-server <type> <conf>`` subprocess; ``stop`` kills it and its workers."""

    def __init__(self, server_type: str, conf_path: str, port: int, log_path: str | None = None):
        self.server_type = server_type
        self.conf_path = conf_path
        self.port = port
        self.log_path = log_path or conf_path + ".log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        """Start the server and wait until it listens."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oiofs.cli.server", self.server_type, self.conf_path],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for_port(self.port, proc=self.proc)
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group (parent and workers) and reap it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        # The parent is reaped, but a forked worker may live a few more milliseconds with
        # the listening socket open: a restart would then seem to listen while connections
        # still reach the dying worker. Wait until the whole group is gone.
        deadline = time.monotonic() + 10
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), killing if it does not exit in time."""
        self.kill(signal.SIGTERM)

    def log_text(self) -> str:
        """What the server wrote to its log so far."""
        try:
            with open(self.log_path, errors="replace") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""
