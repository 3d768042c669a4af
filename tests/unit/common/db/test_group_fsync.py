"""GroupFsync: concurrent appends to one real file share fsyncs, never one begun too early."""

import os

from oiofs.common import runtime
from oiofs.common.db.group_fsync import GroupFsync


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
