"""libfuse's worker threads, each keeping its Python thread state from call to call.

mfusepy's operations are ctypes callbacks that libfuse calls from its own worker threads,
threads Python did not start. For such a thread ctypes makes a Python thread state when a
callback arrives and frees it when the callback returns, on every FUSE request: measured
on an untar, about a quarter of the mount's CPU (docs/benchmarks.md, "The FUSE binding").
:class:`KeptStateFUSE` has the first callback of each thread take the thread state once
more (``PyGILState_Ensure``) and never give it back, so the state lives as long as the
thread and every later callback reuses it.

The states kept are bounded by libfuse's threads: since libfuse 3.12 its multi-threaded
loop keeps idle worker threads (``max_idle_threads`` is unlimited unless set) and runs at
most ``max_threads`` (10) of them. A worker thread that ended would leave its state
behind (a few kilobytes): :func:`kept_threads` counts them, and the tests check that the
count stays bounded.

It also fills the ``stat`` of ``getattr`` directly (:meth:`KeptStateFUSE.fgetattr`):
mfusepy's generic loop costs a few microseconds per call, and tar makes about six
``getattr`` per file it extracts. Times in the operations' ``getattr`` are seconds
(floats) whatever ``use_ns`` says (``use_ns`` is for ``utimens``).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
from typing import Any

import mfusepy

_kept = threading.local()
_DEBUG = functools.partial(logging.getLogger("fuse").isEnabledFor, logging.DEBUG)
_count_lock = threading.Lock()
_kept_count = 0


def keep_thread_state() -> None:
    """Make the calling thread's Python thread state outlive the current callback
    (once per thread; later calls cost one attribute lookup)."""
    global _kept_count
    if getattr(_kept, "done", False):
        return
    ctypes.pythonapi.PyGILState_Ensure()  # never released: the state stays
    _kept.done = True
    with _count_lock:
        _kept_count += 1


def kept_threads() -> int:
    """How many threads have kept their state so far (main thread included)."""
    return _kept_count


_STAT_SIZE = ctypes.sizeof(mfusepy.c_stat)
_INTS = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_blksize", "st_blocks",
         "st_ino", "st_dev", "st_rdev")
_TIMES = {"st_atime": "st_atimespec", "st_mtime": "st_mtimespec",
          "st_ctime": "st_ctimespec"}


def fill_stat(st: Any, attrs: dict[str, Any]) -> None:
    """Set the fields of the ``struct stat`` ``st`` from ``attrs`` (times in seconds)."""
    for key, value in attrs.items():
        spec = _TIMES.get(key)
        if spec is not None:
            seconds = int(value)
            timespec = getattr(st, spec)
            timespec.tv_sec = seconds
            timespec.tv_nsec = int((value - seconds) * 1e9)
        elif key in _INTS:
            setattr(st, key, value)


class KeptStateFUSE(mfusepy.FUSE):
    """``mfusepy.FUSE`` whose callbacks keep their thread's Python state and fill
    ``stat`` directly (module docstring). A callback that fails with an errno returns it
    at once; other failures (and every failure with debug logging on) go through
    mfusepy's handling as before."""

    def _wrapper(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        if not getattr(_kept, "done", False):
            keep_thread_state()
        try:
            return func(*args, **kwargs) or 0
        except mfusepy.FuseOSError as exc:      # the usual failure: an errno to report
            if exc.errno > 0 and not _DEBUG() and func.__name__ != "init":
                return -exc.errno
            failure: BaseException = exc
        except BaseException as exc:            # mfusepy's own handling, below
            failure = exc

        def again(*_: Any, **__: Any) -> Any:
            raise failure

        again.__name__ = func.__name__          # mfusepy logs and reports it as before
        return super()._wrapper(again)

    def fgetattr(self, path: bytes | None, buf: Any, fip: Any) -> int:
        ctypes.memset(buf, 0, _STAT_SIZE)
        fh = (fip.contents if self.raw_fi else fip.contents.fh) if fip else None
        name = None if path is None else path.decode(self.encoding, self.errors)
        fill_stat(buf.contents, self.operations.getattr(name, fh))
        return 0
