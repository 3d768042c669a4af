"""The pending file: durable appends, torn entries, the cap, flushes, the lock."""

import fcntl
import multiprocessing
import os

import pytest

from oiofs.common.db.pending import PendingFile, decode_entries, encode_entry
from oiofs.common.exceptions import DbLockTimeout


def test_entries_round_trip_with_any_text():
    entries = [["o:1", 1, None], {"name": "snow \u2603 / : ;", "n": 2}, "x" * 1000]
    data = b"".join(encode_entry(e) for e in entries)
    assert decode_entries(data) == (entries, 0)


def test_a_torn_entry_spoils_only_itself():
    good = encode_entry(["before"]) + encode_entry(["torn entry"])[:-5]
    data = good + encode_entry(["after"])
    entries, bad = decode_entries(data)
    assert entries == [["before"], ["after"]]
    assert bad == 1


def fsync_spy(synced: list[int]):
    """A spy around the real fsync (whether data reached the platter cannot be observed):
    records the file's size at each call."""
    def fsync(fd):
        synced.append(os.fstat(fd).st_size)
        os.fsync(fd)
    return fsync


def test_add_appends_and_fsyncs_each_entry(tmp_path):
    synced: list[int] = []
    pending = PendingFile(str(tmp_path / "x.db.pending"), fsync=fsync_spy(synced))
    pending.add(["a"], merge=lambda entries: pytest.fail("no merge below the cap"))
    pending.add(["b"], merge=lambda entries: pytest.fail("no merge below the cap"))
    with open(pending.path, "rb") as handle:
        assert decode_entries(handle.read()) == ([["a"], ["b"]], 0)
    # the file was fsynced after each append, with that append in it
    assert synced == [len(encode_entry(["a"])), len(encode_entry(["a"]) + encode_entry(["b"]))]


def test_over_the_cap_everything_is_merged_at_once_and_the_file_emptied(tmp_path):
    merged = []
    pending = PendingFile(str(tmp_path / "x.db.pending"), cap=200)
    count = 0
    while not merged:
        pending.add([count, "y" * 20], merge=merged.append)
        count += 1
    assert [entry[0] for entry in merged[0]] == list(range(count))
    assert pending.size() == 0


def test_add_many_appends_all_entries_with_one_fsync(tmp_path):
    synced: list[int] = []
    pending = PendingFile(str(tmp_path / "x.db.pending"), fsync=fsync_spy(synced))
    batch = [["a"], ["b"], ["c"]]
    pending.add_many(batch, merge=lambda entries: pytest.fail("no merge below the cap"))
    pending.add_many([], merge=lambda entries: pytest.fail("nothing to add"))
    with open(pending.path, "rb") as handle:
        assert decode_entries(handle.read()) == (batch, 0)
    assert synced == [sum(len(encode_entry(e)) for e in batch)]


def test_add_many_over_the_cap_merges_the_file_and_the_batch(tmp_path):
    merged = []
    pending = PendingFile(str(tmp_path / "x.db.pending"), cap=100)
    pending.add(["waiting"], merge=merged.append)
    pending.add_many([[i, "y" * 20] for i in range(4)], merge=merged.append)
    assert merged == [[["waiting"]] + [[i, "y" * 20] for i in range(4)]]
    assert pending.size() == 0


def test_flush_merges_then_empties(tmp_path):
    pending = PendingFile(str(tmp_path / "x.db.pending"))
    assert pending.flush(lambda entries: pytest.fail("nothing to merge")) == 0
    for i in range(3):
        pending.add([i], merge=lambda entries: None)
    merged = []
    assert pending.flush(merged.append) == 3
    assert merged == [[[0], [1], [2]]]
    assert pending.size() == 0


def test_a_failed_merge_keeps_the_entries(tmp_path):
    pending = PendingFile(str(tmp_path / "x.db.pending"))
    pending.add(["kept"], merge=lambda entries: None)

    # the merge callback is the broker's; here it fails like a sqlite error would
    def broken(entries):
        raise RuntimeError("sqlite went away")

    with pytest.raises(RuntimeError):
        pending.flush(broken)
    merged = []
    pending.flush(merged.append)
    assert merged == [[["kept"]]]


def test_lock_held_elsewhere_times_out(tmp_path):
    pending = PendingFile(str(tmp_path / "x.db.pending"), lock_timeout=0.05)
    pending.add(["a"], merge=lambda entries: None)
    fd = os.open(pending.path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another holder (its own open file description)
        with pytest.raises(DbLockTimeout):
            pending.add(["b"], merge=lambda entries: None)
        with pytest.raises(DbLockTimeout):
            pending.flush(lambda entries: None, timeout=0.05)
    finally:
        os.close(fd)
    assert pending.flush(lambda entries: None) == 1


def _appender(path, worker, count):
    pending = PendingFile(path, cap=1 << 30)
    for i in range(count):
        pending.add([worker, i], merge=lambda entries: None)


def test_concurrent_processes_never_interleave_entries(tmp_path):
    path = str(tmp_path / "x.db.pending")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_appender, args=(path, w, 150)) for w in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    with open(path, "rb") as handle:
        entries, bad = decode_entries(handle.read())
    assert bad == 0
    assert sorted(map(tuple, entries)) == [(w, i) for w in range(3) for i in range(150)]
