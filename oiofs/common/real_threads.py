"""Running a blocking call (fsync, a large read) in a real thread while green threads go on.

:func:`run_in_thread` is what every server uses for the disk calls that would otherwise
stall its hub. It replaces eventlet's ``tpool`` for that job, for two reasons:

* *Cost.* ``tpool`` hands each call over through two ``queue.Queue`` (a lock and a
  condition in Python on each side) and a socket write per call; measured in one process,
  70-110 us of CPU per hop, which made the hop the largest single item of a small PUT on
  the object server (``docs/benchmarks.md``, "the hop to the real thread"). Here a call goes
  through a ``queue.SimpleQueue`` (in C), comes back through a ``deque``, and the hub is
  woken by a pipe write only when no wake-up is already on its way: 10-30 us per hop.
* *A green thread killed mid-call.* With ``tpool`` a timeout or a kill raised in the
  waiting green thread let it unwind (closing files, say) while the real thread still used
  them. Here the waiting green thread always waits for the call to end before it raises
  what interrupted it: a blocking call cannot be cut short, so nothing it uses is pulled
  from under it.

The threads (at most ``OIOFS_REAL_THREADS``, default 20, as many as ``tpool`` had) are made
on demand, one more whenever a call finds them all busy, and are daemon threads: a process
exits without waiting for them. Each process has its own set: a forked worker starts from
none (threads do not survive ``fork``).
"""

from __future__ import annotations

import collections
import os
import sys
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, ParamSpec, TypeVar

from oiofs.common import runtime

_P = ParamSpec("_P")
_R = TypeVar("_R")

THREAD_NAME = "oiofs-real-thread"

_Call = tuple[Any, Callable[..., Any], tuple[Any, ...], dict[str, Any]]
_Outcome = tuple[bool, Any]

#: most real threads per process (``OIOFS_REAL_THREADS`` overrides; read at import)
MAX_THREADS = max(1, int(os.environ.get("OIOFS_REAL_THREADS", "20")))


class _Runner:
    """The threads of one process, their call queue, and the hub's side of the replies."""

    def __init__(self) -> None:
        self.calls: SimpleQueue[_Call] = runtime.real_queue.SimpleQueue()
        self.replies: collections.deque[tuple[Any, _Outcome]] = collections.deque()
        #: threads made, and calls submitted but not yet delivered: both touched by the hub
        #: only, so no lock is needed (a thread free but not yet delivered counts as busy:
        #: at worst one thread more than needed is made, never more than MAX_THREADS)
        self.threads = 0
        self.outstanding = 0
        self.wake_pending = False
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        runtime.spawn_n(self._deliver)

    def submit(self, event: Any, func: Callable[..., Any], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> None:
        self.outstanding += 1
        if self.outstanding > self.threads and self.threads < MAX_THREADS:
            self.threads += 1
            runtime.real_threading.Thread(target=self._work, name=THREAD_NAME,
                                          daemon=True).start()
        self.calls.put((event, func, args, kwargs))

    def _work(self) -> None:
        """A real thread: run calls, queue their outcomes, wake the hub if it sleeps."""
        _in_real_thread.value = True
        get = self.calls.get
        replies = self.replies
        while True:
            event, func, args, kwargs = get()
            outcome: _Outcome
            try:
                outcome = (True, func(*args, **kwargs))
            except BaseException:  # handed to the caller, whatever it is
                outcome = (False, sys.exc_info()[1])
            replies.append((event, outcome))
            # drop the references now: a thread idle in get() must not keep them alive
            del event, func, args, kwargs, outcome
            # one byte per batch of replies: the hub reads them all when it wakes
            if not self.wake_pending:
                self.wake_pending = True
                os.write(self.wake_write, b"!")

    def _deliver(self) -> None:
        """In the hub: hand each finished call's outcome to its waiting green thread."""
        replies = self.replies
        while True:
            runtime.wait_readable(self.wake_read)
            try:
                os.read(self.wake_read, 4096)
            except BlockingIOError:
                pass
            # Cleared after the read (which lets the threads run: one could write its byte
            # then, and the read take it) and before draining: a reply queued before this
            # point is drained below; one queued after finds the flag clear and writes a
            # byte that stays in the pipe for the next wake-up.
            self.wake_pending = False
            while replies:
                event, outcome = replies.popleft()
                self.outstanding -= 1
                event.send(outcome)


_runner: _Runner | None = None
#: ``value`` is true in this module's threads (green threads get their own locals)
_in_real_thread = runtime.real_threading.local()


def _forget_in_child() -> None:
    """In a forked child: drop the parent's runner (its threads did not survive the fork)
    and close the pipe the child inherited with it."""
    global _runner
    if _runner is not None:
        for fd in (_runner.wake_read, _runner.wake_write):
            try:
                os.close(fd)
            except OSError:
                pass
        _runner = None


os.register_at_fork(after_in_child=_forget_in_child)


def _get_runner() -> _Runner:
    """This process's runner, made at the first call (only the hub's thread calls this:
    a call from a real thread of the runner runs inline)."""
    global _runner
    if _runner is None:
        _runner = _Runner()
    return _runner


def run_in_thread(func: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """``func(*args, **kwargs)`` run in a real thread; this green thread waits for it, the
    others go on. Its result is returned and its exception raised here. A timeout or kill
    aimed at the waiting green thread takes effect only once the call has ended."""
    if getattr(_in_real_thread, "value", False):
        return func(*args, **kwargs)  # already off the hub
    event = runtime.Event()
    _get_runner().submit(event, func, args, kwargs)
    interrupted: BaseException | None = None
    while True:
        try:
            ok, value = event.wait()
            break
        except BaseException as err:
            if interrupted is None:
                interrupted = err
    if interrupted is not None:
        raise interrupted
    if ok:
        return value  # type: ignore[no-any-return]
    raise value
