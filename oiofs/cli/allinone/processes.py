"""Start, stop and watch the processes of an all-in-one cluster through pid files.

Each process runs in its own session (so a server and its forked workers form one process
group) and is recorded in ``run/<name>.pid``. ``stop`` only signals a pid whose command
line still names the cluster's directory, so it never touches anything it did not start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable


def pid_path(run_dir: str, name: str) -> str:
    """The pid file of process ``name``."""
    return os.path.join(run_dir, f"{name}.pid")


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def read_pid(run_dir: str, name: str, marker: str) -> int | None:
    """The pid of ``name`` if it runs and its command line contains ``marker``."""
    try:
        with open(pid_path(run_dir, name)) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return pid if marker in _cmdline(pid) else None


def start_process(name: str, argv: list[str], run_dir: str, log_dir: str, marker: str) -> int:
    """Start ``argv`` detached, logging to ``log/<name>.log``; its pid (reused if running)."""
    running = read_pid(run_dir, name, marker)
    if running:
        return running
    os.makedirs(run_dir, exist_ok=True)
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, f"{name}.log"), "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    with open(pid_path(run_dir, name), "w") as handle:
        handle.write(f"{proc.pid}\n")
    return proc.pid


def stop_process(name: str, run_dir: str, marker: str, timeout: float = 15.0) -> bool:
    """SIGTERM the process group of ``name``, SIGKILL after ``timeout``; True if it ran."""
    pid = read_pid(run_dir, name, marker)
    try:
        os.unlink(pid_path(run_dir, name))
    except FileNotFoundError:
        pass
    if not pid:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_alive(pid):
            return True
        time.sleep(0.05)
    _signal_group(pid, signal.SIGKILL)
    return True


def kill_process(name: str, run_dir: str, marker: str) -> bool:
    """SIGKILL the process group of ``name`` at once (fault drills); True if it ran."""
    pid = read_pid(run_dir, name, marker)
    if not pid:
        return False
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.unlink(pid_path(run_dir, name))
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` lives (zombies do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    # a zombie leader still counts for killpg; look at its state
    try:
        with open(f"/proc/{pgid}/stat") as handle:
            if handle.read().split(") ", 1)[1].startswith("Z"):
                try:
                    os.waitpid(pgid, os.WNOHANG)
                except ChildProcessError:
                    pass
                return _any_member(pgid)
    except (OSError, IndexError):
        return _any_member(pgid)
    return True


def _any_member(pgid: int) -> bool:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().split(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def port_open(ip: str, port: int) -> bool:
    """True if something accepts TCP connections on ``ip:port``."""
    try:
        with socket.create_connection((ip, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for_ports(ip: str, ports: list[int], timeout: float = 60.0,
                   progress: Callable[[int, int], None] | None = None) -> list[int]:
    """Wait until every port accepts; returns those that still do not after ``timeout``.

    ``progress(answering, total)`` is called each time more ports answer.
    """
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        still = [p for p in pending if not port_open(ip, p)]
        if progress and len(still) < len(pending):
            progress(len(ports) - len(still), len(ports))
        pending = still
        if pending:
            time.sleep(0.05)
    return pending


def server_argv(server_type: str, conf: str) -> list[str]:
    """The command line that runs ``oiofs-server <type> <conf>`` with this Python."""
    return [sys.executable, "-m", "oiofs.cli.server", server_type, conf]


def daemon_group_argv(confs: list[str], log_name: str) -> list[str]:
    """The command line that runs ``oiofs-daemon group <confs>`` (every daemon with a
    section in those files, in one process) with this Python."""
    return [sys.executable, "-m", "oiofs.cli.daemon", "group", *confs, "--log-name",
            log_name]


def daemon_argv(name: str, conf: str, once: bool = False) -> list[str]:
    """The command line that runs ``oiofs-daemon <name> <conf>`` with this Python."""
    argv = [sys.executable, "-m", "oiofs.cli.daemon", name, conf]
    return argv + ["--once"] if once else argv
