"""Server CPU time from ``/proc/<pid>/stat``: the steadiest figure on a shared machine.

Wall-clock rates on a 2-core machine shared with other work move with everything else that
runs; the CPU time the servers spend per request does not. A :class:`CpuMeter` sums user and
system time over a set of root processes and all their descendants (workers forked by a
server), including the time of children that already exited and were reaped (``cutime``,
``cstime``), so a worker that is replaced mid-phase does not make CPU vanish.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def read_stat(pid: int) -> tuple[int, int] | None:
    """``(ppid, cpu ticks incl. reaped children)`` of ``pid``; ``None`` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')': cut at the
    # last ')' and count fields from there.
    fields = data[data.rindex(b")") + 2:].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return ppid, utime + stime + cutime + cstime


def machine_cpu() -> tuple[float, float]:
    """``(busy, idle)`` CPU seconds of the whole machine so far, all cores (``/proc/stat``;
    iowait counts as idle, guest time is already inside user time)."""
    with open("/proc/stat") as handle:
        ticks = [int(field) for field in handle.readline().split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks[:8]) - idle) / CLOCK_TICKS, idle / CLOCK_TICKS


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(roots: Iterable[int]) -> set[int]:
    """``roots`` (those still alive) and every process below them."""
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        stat = read_stat(pid)
        if stat:
            children.setdefault(stat[0], []).append(pid)
    found: set[int] = set()
    todo = [pid for pid in roots if os.path.exists(f"/proc/{pid}")]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def read_pid_files(paths: Iterable[str]) -> list[int]:
    """Pids from files holding one pid a line (or ``name pid ...`` lines: first number wins
    after a name). Blank lines and ``#`` comments are ignored."""
    pids = []
    for path in paths:
        with open(path) as handle:
            for line in handle:
                line = line.split("#", 1)[0]
                numbers = [int(word) for word in line.split() if word.isdigit()]
                if numbers:
                    pids.append(numbers[0])
    return pids


def _own_lineage() -> set[int]:
    """This process and its ancestors (the shell that ran it holds the pattern too)."""
    mine = {os.getpid()}
    pid = os.getpid()
    while pid > 1:
        stat = read_stat(pid)
        if not stat:
            break
        pid = stat[0]
        mine.add(pid)
    return mine


def pids_matching(pattern: str) -> list[int]:
    """Pids whose command line matches the regular expression ``pattern``.

    The benchmark itself and its ancestors (the shell that started it) are left out: their
    command lines hold the pattern too.
    """
    regex = re.compile(pattern)
    excluded = _own_lineage()
    found = []
    for pid in _all_pids():
        if pid in excluded:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if cmdline and regex.search(cmdline):
            found.append(pid)
    return sorted(found)


class CpuMeter:
    """CPU seconds spent so far by ``roots`` and their descendants."""

    def __init__(self, roots: Iterable[int]):
        self.roots = sorted(set(roots))

    def sample(self) -> float:
        """Total CPU seconds now; subtract two samples to get the CPU of what ran between."""
        ticks = 0
        for pid in descendants(self.roots):
            stat = read_stat(pid)
            if stat:
                ticks += stat[1]
        return ticks / CLOCK_TICKS
