"""One fsync for the appends that pile up on one file: group commit for pending files.

Every row update a container (or account) server acknowledges is first appended to its
database's pending file and fsynced (:mod:`oiofs.common.db.pending`). Under load many
green threads of one server append to the same file at once (the three updates of
every PUT into one container land on the same three databases), and each paid its own
fsync, handed to a real thread and back. :class:`GroupFsync` lets them share: an fsync
that *starts* after an append was written makes that append durable, so a green thread
whose append is covered by an fsync already running waits for the next one to finish,
and one thread runs that next fsync for every append that arrived meanwhile.

Durability does not change: :meth:`GroupFsync.__call__` returns only once an fsync that
began after the caller's bytes were written has succeeded. If that fsync fails, every
caller it was meant to cover runs its own again (and the error reaches whoever sees it).

It is for green threads of one OS thread (a server's hub); the fsync itself may run in
a real thread (``fsync``, e.g. :func:`oiofs.common.real_threads.run_in_thread` of
:func:`os.fsync`).

Inline while the disk is fast (``inline``): handing an fsync to a real thread and back
costs about 150 us of CPU (queue, futexes, the GIL, the hub's wake-up pipe), as much as
the fsync itself on a fast disk, and a container update pays it once per row. With
``inline`` given, an fsync runs there, in the hub's own thread, blocking the process for
its duration. When the moving average of the inline fsyncs' durations passes
``inline_limit`` (a slow or busy disk, where blocking would hold up every other request
of the worker too long), the fsyncs of the next ``slow_period`` seconds go to the real
thread (``fsync``), after which inline is tried again. An average, not each fsync: on a
busy shared disk single fsyncs of 10-15 ms come every few seconds (measured here: p50 3
ms, p90 10 ms, p99 14 ms at a load average of 20). Appends that arrive while an fsync
runs in a thread still share it; inline ones cannot (the hub is blocked), but under load
the object servers' coalesced ``UPDATE`` batches rows before they reach here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from oiofs.common import runtime

#: weight of the latest inline fsync in the moving average of their durations
_AVERAGE_WEIGHT = 0.2


class _FileSyncs:
    """The fsync state of one file (one inode)."""

    __slots__ = ("asked", "done", "flight", "users")

    def __init__(self) -> None:
        #: tickets handed out (one per caller); ``done``: the highest ticket made durable
        self.asked = 0
        self.done = 0
        #: set when the fsync running now ends (``None`` when none runs)
        self.flight: Any = None
        #: callers between their ticket and their return (the state is dropped at 0)
        self.users = 0


class GroupFsync:
    """``fsync(fd)`` shared by concurrent callers on the same file; see the module."""

    def __init__(self, fsync: Callable[[int], None] = os.fsync,
                 inline: Callable[[int], None] | None = None, inline_limit: float = 0.02,
                 slow_period: float = 10.0):
        self._fsync = fsync
        self._inline = inline
        self.inline_limit = inline_limit
        self.slow_period = slow_period
        #: moving average of the inline fsyncs' durations (seconds)
        self.inline_average = 0.0
        #: ``time.monotonic()`` until which fsyncs go to ``fsync`` (after a slow inline one)
        self._threads_until = 0.0
        self._files: dict[tuple[int, int], _FileSyncs] = {}
        #: real fsyncs run, and how many of them inline (for tests and measurements)
        self.fsyncs = 0
        self.inline_fsyncs = 0

    def __call__(self, fd: int) -> None:
        """Return once the bytes written to ``fd`` before this call are on disk."""
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        state = self._files.get(key)
        if state is None:
            state = self._files[key] = _FileSyncs()
        state.asked += 1
        ticket = state.asked
        state.users += 1
        try:
            while state.done < ticket:
                if state.flight is not None:
                    state.flight.wait()  # it may have started before our write: not ours
                    continue
                self._run(state, fd)
        finally:
            state.users -= 1
            if state.users == 0:
                del self._files[key]

    def _run(self, state: _FileSyncs, fd: int) -> None:
        """One fsync for every ticket handed out so far."""
        covers = state.asked
        flight = state.flight = runtime.Event()
        try:
            self.fsyncs += 1
            self._sync(fd)
            state.done = max(state.done, covers)
        finally:
            state.flight = None
            flight.send(None)

    def _sync(self, fd: int) -> None:
        """One fsync: inline while the disk is fast (see the module), else ``fsync``."""
        if self._inline is None or time.monotonic() < self._threads_until:
            self._fsync(fd)
            return
        self.inline_fsyncs += 1
        began = time.monotonic()
        try:
            self._inline(fd)
        finally:
            ended = time.monotonic()
            self.inline_average += (ended - began - self.inline_average) * _AVERAGE_WEIGHT
            if self.inline_average > self.inline_limit:
                self._threads_until = ended + self.slow_period
                self.inline_average = self.inline_limit / 2  # a fresh start after it
