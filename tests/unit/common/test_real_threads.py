"""run_in_thread: a blocking call runs in a real thread while green threads go on."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import eventlet.patcher
import pytest

from oiofs.common import real_threads, runtime

#: the real sleep: it releases the GIL in a real thread, as fsync does
real_sleep = eventlet.patcher.original("time").sleep


def test_result_and_exception_come_back():
    assert real_threads.run_in_thread(lambda a, b=0: a + b, 2, b=3) == 5

    def fails():
        raise FileNotFoundError("gone")

    with pytest.raises(FileNotFoundError, match="gone"):
        real_threads.run_in_thread(fails)


def test_runs_in_another_real_thread_and_nested_calls_run_inline():
    here = threading.get_ident()

    def where():
        return threading.get_ident(), real_threads.run_in_thread(threading.get_ident)

    outer, inner = real_threads.run_in_thread(where)
    assert outer != here
    assert inner == outer  # already off the hub: no second hop


def test_green_threads_go_on_while_a_call_blocks():
    ticks = []

    def ticker():
        for _ in range(5):
            ticks.append(time.monotonic())
            runtime.sleep(0.02)

    green = runtime.spawn(ticker)
    start = time.monotonic()
    real_threads.run_in_thread(real_sleep, 0.3)
    assert time.monotonic() - start >= 0.3
    green.wait()
    assert len(ticks) == 5
    assert ticks[-1] - start < 0.25  # the ticker ran during the call, not after it


def test_a_timeout_waits_for_the_call_to_end():
    """A green thread cut short while its call runs must not unwind (closing what the
    call uses) before the call is over."""
    finished = []

    def slow():
        real_sleep(0.3)
        finished.append(True)

    start = time.monotonic()
    with pytest.raises(runtime.Timeout):
        with runtime.Timeout(0.05):
            real_threads.run_in_thread(slow)
    assert finished == [True]
    assert time.monotonic() - start >= 0.3


def test_many_concurrent_calls_all_come_back():
    """Replies that finish while the hub is reading the wake-up pipe are not lost (a
    flag cleared in the wrong place once left every call waiting forever)."""
    script = textwrap.dedent("""
        import os, time
        from oiofs.common import runtime
        runtime.monkey_patch()
        import eventlet.patcher
        from oiofs.common.real_threads import run_in_thread
        real_sleep = eventlet.patcher.original("time").sleep
        pool = runtime.GreenPool(32)
        results = list(pool.imap(lambda i: run_in_thread(lambda: (real_sleep(0.0002), i)[1]),
                                 range(20000)))
        assert results == list(range(20000)), "wrong results"
        print("done")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "done"


def test_a_forked_child_gets_threads_of_its_own():
    """Threads do not survive fork: a child's calls must run on threads it makes, and the
    pipe it inherited from the parent's runner is closed."""
    assert real_threads.run_in_thread(os.getpid) == os.getpid()  # the parent's runner
    parent_pipe = (real_threads._runner.wake_read, real_threads._runner.wake_write)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            closed = all(not _is_open(fd) for fd in parent_pipe)
            ran = real_threads.run_in_thread(os.getpid) == os.getpid()
            os.write(write_fd, b"ok" if closed and ran else b"no")
        finally:
            os._exit(0)
    os.close(write_fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert os.read(read_fd, 2) == b"ok"
    os.close(read_fd)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
