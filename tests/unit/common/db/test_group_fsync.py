"""GroupFsync: concurrent appends to one real file share fsyncs, never one begun too early."""

import os
import time

import pytest

from oiofs.common import runtime
from oiofs.common.config import ConfigError
from oiofs.common.db.group_fsync import GroupFsync
from oiofs.common.db.server import pending_fsync


class SlowFsync:
    """A real fsync that takes a while (as a disk does), recording what it covers: the
    number of appends written when it began."""

    def __init__(self, fail_first: bool = False):
        self.written = 0
        self.began: list[int] = []
        self.fail_first = fail_first

    def __call__(self, fd: int) -> None:
        self.began.append(self.written)
        runtime.sleep(0.02)  # other green threads append meanwhile
        if self.fail_first and len(self.began) == 1:
            raise OSError(5, "Input/output error")
        os.fsync(fd)


def append_and_sync(path: str, group: GroupFsync, disk: SlowFsync, delay: float,
                    returned: list) -> None:
    runtime.sleep(delay)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"entry\n")
        disk.written += 1
        mine = disk.written
        group(fd)
        # an fsync that began once our append was written must have run
        returned.append(any(covered >= mine for covered in disk.began))
    finally:
        os.close(fd)


def run(path, group, disk, count, spread):
    returned: list = []
    pool = runtime.GreenPool(count)
    threads = [pool.spawn(append_and_sync, path, group, disk, i * spread, returned)
               for i in range(count)]
    errors = []
    for thread in threads:
        try:
            thread.wait()
        except OSError as err:
            errors.append(err)
    return returned, errors


def test_concurrent_appends_share_fsyncs_each_covered(tmp_path):
    disk = SlowFsync()
    group = GroupFsync(disk)
    path = str(tmp_path / "pending")
    returned, errors = run(path, group, disk, 20, 0.003)
    assert errors == [] and returned == [True] * 20
    assert 2 <= group.fsyncs < 20  # shared, yet more than one: appends kept arriving
    with open(path, "rb") as handle:
        assert handle.read() == b"entry\n" * 20
    assert group._files == {}  # nothing kept once everybody returned


def test_a_failed_fsync_is_run_again_for_those_it_should_have_covered(tmp_path):
    disk = SlowFsync(fail_first=True)
    group = GroupFsync(disk)
    returned, errors = run(str(tmp_path / "pending"), group, disk, 5, 0.0)
    assert len(errors) == 1 and errors[0].errno == 5  # the caller whose fsync failed
    assert returned == [True] * 4  # the others waited for a good one
    assert group.fsyncs >= 2


def test_lone_caller_runs_its_own(tmp_path):
    disk = SlowFsync()
    group = GroupFsync(disk)
    returned, _ = run(str(tmp_path / "pending"), group, disk, 1, 0.0)
    assert returned == [True] and group.fsyncs == 1


def test_different_files_do_not_wait_for_each_other(tmp_path):
    count = 3
    disk = SlowFsync()
    group = GroupFsync(disk)
    pool = runtime.GreenPool(count)
    returned: list = []
    for i in range(count):
        pool.spawn(append_and_sync, str(tmp_path / f"p{i}"), group, disk, 0.0, returned)
    pool.waitall()
    assert returned == [True] * count and group.fsyncs == count


class TimedFsync:
    """An fsync that blocks for ``seconds`` (as an inline one does), noting what it covers
    in ``disk`` as the threaded one does."""

    def __init__(self, disk: SlowFsync, seconds: float):
        self.disk = disk
        self.seconds = seconds
        self.calls = 0

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.disk.began.append(self.disk.written)
        os.fsync(fd)
        time.sleep(self.seconds)


def test_inline_while_fast_then_threads_for_a_while_when_slow(tmp_path):
    disk = SlowFsync()
    inline = TimedFsync(disk, 0.0)
    group = GroupFsync(disk, inline=inline, inline_limit=0.05, slow_period=1.0)
    path = str(tmp_path / "pending")
    returned, _ = run(path, group, disk, 3, 0.03)
    assert returned == [True] * 3
    assert (inline.calls, len(disk.began), group.inline_fsyncs) == (3, 3, 3)
    inline.seconds = 0.08  # the disk turns slow: one slow fsync is not enough...
    run(path, group, disk, 1, 0.0)
    assert group._threads_until == 0.0
    for _ in range(20):  # ...but a few are
        run(path, group, disk, 1, 0.0)
        if group._threads_until:
            break
    slow_ones = inline.calls
    assert 3 < slow_ones < 20 and group.inline_average == 0.025
    returned, _ = run(path, group, disk, 2, 0.03)
    assert returned == [True] * 2  # covered by the threaded fsyncs
    assert inline.calls == slow_ones and slow_ones + 1 <= len(disk.began) <= slow_ones + 2
    began = len(disk.began)
    time.sleep(1.0)  # the slow period is over: inline is tried again
    inline.seconds = 0.0
    run(path, group, disk, 1, 0.0)
    assert inline.calls == slow_ones + 1 and len(disk.began) == began + 1


def test_pending_fsync_modes():
    assert pending_fsync({"fsync_in_threads": "false"}) is os.fsync
    threads = pending_fsync({"fsync_in_threads": "true"})
    assert isinstance(threads, GroupFsync) and threads._inline is None
    auto = pending_fsync({"fsync_inline_limit": "0.5"})
    assert isinstance(auto, GroupFsync) and auto._inline is os.fsync
    assert auto.inline_limit == 0.5
    with pytest.raises(ConfigError):
        pending_fsync({"fsync_in_threads": "perhaps"})
