"""The object auditor on real files with real xattrs; rate limits on a clock we drive."""

import os
import time

import pytest

from oiofs.common.hashing import md5
from oiofs.common.storage_policy import POLICIES
from oiofs.common.timestamp import Timestamp
from oiofs.obj.auditor import FULL, ZBF, ObjectAuditor
from oiofs.obj.diskfile import DiskFileManager
from oiofs.obj.hashes import HASHES_INVALID
from oiofs.obj.metadata import XATTR_NAME, read_header, read_metadata_path, write_metadata
from tests.support.clock import Clock
from tests.support.log_lines import LogLines as Log

POLICY = POLICIES.get_by_index(0)
NOW = time.time()




@pytest.fixture
def manager(devices):
    return DiskFileManager({"devices": devices, "fsync_in_threads": "false"}, Log())


def auditor(devices, clock=None, **conf):
    clock = clock or Clock()
    return ObjectAuditor({"devices": devices, **{k: str(v) for k, v in conf.items()}},
                         logger=Log(), clock=clock, sleep=clock.sleep)


def put(manager, obj="o", body=b"hello world", ts=NOW - 10):
    df = manager.get_diskfile("sda", "5", "a", "c", obj, POLICY)
    with df.create(len(body)) as writer:
        writer.write(body)
        writer.put({"X-Timestamp": Timestamp(ts).internal, "Content-Type": "text/plain",
                    "ETag": md5(body).hexdigest(), "Content-Length": str(len(body)),
                    "name": df.name})
    return df, os.path.join(df.hash_dir, Timestamp(ts).internal + ".data")


def read_header_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return read_header(fd)
    finally:
        os.close(fd)


def quarantined(devices):
    where = os.path.join(devices, "sda", "quarantined", "objects")
    return sorted(os.listdir(where)) if os.path.isdir(where) else []


def test_full_pass_bytes_per_second_on_a_driven_clock(manager, devices):
    for i in range(8):
        put(manager, obj=f"o{i}", body=bytes([i]) * 100_000)
    clock = Clock()
    daemon = auditor(devices, clock, bytes_per_second=200_000, files_per_second=0,
                     disk_chunk_size=16384)
    daemon.run_once(mode=FULL)
    stats = daemon.last_stats[0]
    assert (stats.files, stats.bytes, stats.quarantined) == (8, 800_000, 0)
    # 800 kB at 200 kB/s: 4 s
    assert stats.elapsed == pytest.approx(4.0)


def test_files_per_second_limits_a_zbf_pass(manager, devices):
    for i in range(30):
        put(manager, obj=f"o{i}", body=b"x")
    clock = Clock()
    daemon = auditor(devices, clock, zero_byte_files_per_second=10)
    daemon.run_once(mode=ZBF)
    stats = daemon.last_stats[0]
    assert stats.files == 30
    assert stats.elapsed == pytest.approx(3.0)  # 30 files at 10/s


# --- finding bad files ---------------------------------------------------------------------

def test_good_objects_pass_both_sweeps(manager, devices):
    for i in range(5):
        put(manager, obj=f"o{i}")
    df = manager.get_diskfile("sda", "5", "a", "c", "o0", POLICY)
    df.write_metadata({"X-Timestamp": Timestamp(NOW - 5).internal, "name": df.name})
    manager.get_diskfile("sda", "5", "a", "c", "o1", POLICY).delete(Timestamp(NOW - 5))
    daemon = auditor(devices)
    daemon.run_once()
    zbf, full = daemon.last_stats
    assert (zbf.mode, full.mode) == (ZBF, FULL)
    assert zbf.files == full.files == 6  # o0: .data + .meta; o1: .ts; o2..o4: .data
    assert full.bytes == 4 * len(b"hello world")
    assert zbf.bytes == 0
    assert zbf.quarantined == full.quarantined == 0
    assert quarantined(devices) == []
    summaries = [line for line in daemon.logger.lines if "audit pass done" in line]
    assert len(summaries) == 2 and "0 quarantined" in summaries[1]


def test_flipped_bytes_are_found_by_the_full_sweep_only(manager, devices):
    df, path = put(manager, body=b"precious data")
    with open(path, "r+b") as handle:
        handle.seek(3)
        handle.write(b"X")
    daemon = auditor(devices)
    daemon.run_once(mode=ZBF)
    assert daemon.last_stats[0].quarantined == 0  # metadata alone looks fine
    daemon.run_once(mode=FULL)
    assert daemon.last_stats[0].quarantined == 1
    assert not os.path.exists(df.hash_dir)
    assert quarantined(devices) == [df.name_hash]
    # the suffix is invalidated so that the replicator restores a good copy
    with open(os.path.join(os.path.dirname(df.suffix_dir), HASHES_INVALID)) as handle:
        assert df.suffix_dir[-3:] in handle.read().split()
    # the quarantined file is kept, not deleted
    kept = os.path.join(devices, "sda", "quarantined", "objects", df.name_hash,
                        os.path.basename(path))
    assert read_metadata_path(kept)[0]["name"] == "/a/c/o"


@pytest.mark.parametrize("damage", ["no-xattr", "bad-checksum", "truncated", "wrong-name",
                                    "wrong-timestamp"])
def test_bad_metadata_is_found_by_the_zbf_sweep(manager, devices, damage):
    df, path = put(manager)
    if damage == "no-xattr":
        os.removexattr(path, XATTR_NAME)
    elif damage == "bad-checksum":
        value = bytearray(os.getxattr(path, XATTR_NAME))
        value[-3] ^= 1
        os.setxattr(path, XATTR_NAME, bytes(value))
    elif damage == "truncated":
        os.truncate(path, 5)
    else:
        meta = read_metadata_path(path)[0]
        if damage == "wrong-name":
            meta["name"] = "/a/c/another"
        else:
            meta["X-Timestamp"] = Timestamp(NOW - 99).internal
        fd = os.open(path, os.O_RDWR)
        try:
            write_metadata(fd, meta, len(b"hello world"))
        finally:
            os.close(fd)
    daemon = auditor(devices)
    daemon.run_once(mode=ZBF)
    stats = daemon.last_stats[0]
    assert stats.quarantined == 1, stats.problems
    assert quarantined(devices) == [df.name_hash]
    assert any("quarantined" in line for line in daemon.logger.lines)


def test_a_file_replaced_meanwhile_is_not_quarantined(manager, devices):
    df, path = put(manager, body=b"old")
    with open(path, "r+b") as handle:
        handle.write(b"BAD")
    daemon = auditor(devices)
    original = daemon._check_data

    def check_then_overwrite(*args):
        # a newer PUT lands while the old file is being read (a real write, real files)
        put(manager, body=b"new", ts=NOW - 1)
        return original(*args)

    daemon._check_data = check_then_overwrite
    daemon.run_once(mode=FULL)
    assert daemon.last_stats[0].quarantined == 0
    assert os.listdir(df.hash_dir) == [Timestamp(NOW - 1).internal + ".data"]


# --- block checksums ----------------------------------------------------------------------

def test_a_bad_block_is_named_even_when_the_md5_would_match(manager, devices):
    body = os.urandom(5 * 65536)
    _df, path = put(manager, body=body)
    metadata, length = read_metadata_path(path)
    swapped = body[65536:131072] + body[:65536] + body[131072:]
    with open(path, "r+b") as handle:  # blocks 0 and 1 swapped, the ETag made to match
        handle.write(swapped[:131072])
    metadata["ETag"] = md5(swapped).hexdigest()
    fd = os.open(path, os.O_RDWR)
    try:
        blocks = read_header_path(path).blocks
        write_metadata(fd, metadata, length, blocks)
    finally:
        os.close(fd)
    daemon = auditor(devices)
    daemon.run_once(mode=FULL)
    stats = daemon.last_stats[0]
    assert stats.quarantined == 1
    assert "block 0 does not match its checksum" in stats.problems[0]


def test_an_older_data_file_gets_its_block_checksums_after_a_good_md5(manager, devices):
    body = os.urandom(3 * 65536 + 10)
    df, path = put(manager, body=body)
    metadata, _ = read_metadata_path(path)
    fd = os.open(path, os.O_RDWR)
    try:  # as written before block checksums: data and inline metadata only
        write_metadata(fd, metadata, len(body))
        os.ftruncate(fd, len(body))
    finally:
        os.close(fd)
    assert read_header_path(path).blocks is None
    daemon = auditor(devices)
    daemon.run_once(mode=ZBF)
    assert daemon.last_stats[0].checksums_added == 0  # only a full check earns them
    daemon.run_once(mode=FULL)
    assert (daemon.last_stats[0].checksums_added, daemon.last_stats[0].quarantined) == (1, 0)
    header = read_header_path(path)
    assert header.metadata == metadata and header.data_length == len(body)
    assert header.blocks is not None and header.blocks.offset == len(body)
    # from now on reads check them, and so does the next pass (adding nothing more)
    with df.open():
        assert b"".join(df.reader()) == body
    daemon.run_once(mode=FULL)
    assert (daemon.last_stats[0].checksums_added, daemon.last_stats[0].quarantined) == (0, 0)
    with open(path, "r+b") as handle:
        handle.seek(2 * 65536 + 7)
        handle.write(b"\x00" if body[2 * 65536 + 7] else b"\x01")
    daemon.run_once(mode=FULL)
    assert "block 2 does not match" in daemon.last_stats[0].problems[0]
