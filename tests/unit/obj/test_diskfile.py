"""The object-file API on real files with real xattrs in pytest's tmp_path."""

import os
import time

import pytest

from oiofs.common.exceptions import (
    ConfigError,
    DiskFileCollision,
    DiskFileDeleted,
    DiskFileDeviceUnavailable,
    DiskFileExpired,
    DiskFileNoSpace,
    DiskFileNotExist,
    DiskFileQuarantined,
    DiskFileXattrNotSupported,
)
from oiofs.common.hashing import md5
from oiofs.common.http.multipart import ByteRangesLayout
from oiofs.common.storage_policy import ReplicationPolicy
from oiofs.common.timestamp import Timestamp
from oiofs.obj import diskfile_writer
from oiofs.obj.diskfile import DiskFileManager
from oiofs.obj.hashes import consolidate_invalidations
from oiofs.obj.metadata import XATTR_NAME, write_metadata
from tests.support.log_lines import LogLines as Log
from tests.support.metadata import limits_metadata

POLICY0 = ReplicationPolicy(0, "gold")
POLICY1 = ReplicationPolicy(1, "silver")




@pytest.fixture(params=[True, False], ids=["threads", "inline"])
def manager(devices, request):
    return DiskFileManager({"devices": devices, "fsync_in_threads": request.param,
                            "disk_chunk_size": "7", "keep_cache_size": "10"}, Log())


def put(manager, body=b"hello world", ts="1700000000.00000", obj="o", policy=POLICY0,
        extra=None, size=None):
    df = manager.get_diskfile("sda", "7", "a", "c", obj, policy)
    with df.create(size=len(body) if size is None else size) as writer:
        for i in range(0, len(body), 4):
            writer.write(body[i:i + 4])
        metadata = {"X-Timestamp": Timestamp(ts).internal, "Content-Type": "text/plain",
                    "ETag": md5(body).hexdigest(), "Content-Length": str(len(body)),
                    "name": df.name}
        metadata.update(extra or {})
        writer.put(metadata)
    return df


def read_all(manager, obj="o", policy=POLICY0):
    df = manager.get_diskfile("sda", "7", "a", "c", obj, policy)
    df.open()
    reader = df.reader()
    try:
        return df, b"".join(reader)
    finally:
        reader.close()


def test_put_then_read(manager, devices):
    df = put(manager)
    assert sorted(os.listdir(df.hash_dir)) == ["1700000000.00000.data"]
    assert df.hash_dir == os.path.join(devices, "sda", "objects", "7", df.name_hash[-3:],
                                       df.name_hash)
    df2, body = read_all(manager)
    assert body == b"hello world"
    assert df2.metadata["ETag"] == md5(b"hello world").hexdigest()
    assert df2.content_length == 11
    assert df2.data_timestamp == Timestamp("1700000000.00000")
    assert os.listdir(os.path.join(devices, "sda", "tmp")) == []
    # the suffix was recorded for the replicator
    assert consolidate_invalidations(os.path.dirname(df.suffix_dir)) == [df.name_hash[-3:]]


def test_policy_has_its_own_directory(manager, devices):
    df = put(manager, policy=POLICY1)
    assert df.hash_dir.startswith(os.path.join(devices, "sda", "objects-1", "7"))
    with pytest.raises(DiskFileNotExist):
        manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0).open()


def test_reader_ranges_and_multipart(manager):
    put(manager, body=bytes(range(100)))
    df = manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0).open()
    reader = df.reader()
    assert b"".join(reader.set_range(10, 20)) == bytes(range(10, 20))
    assert all(len(chunk) <= 7 for chunk in reader.set_range(0, 100))
    layout = ByteRangesLayout([(0, 3), (97, 100)], 100, "x/y", "B")
    body = b"".join(reader.set_ranges(layout))
    assert len(body) == layout.content_length and bytes([0, 1, 2]) in body
    reader.close()
    reader.close()  # idempotent
    assert list(reader) == []  # nothing once closed


def test_newer_put_replaces_and_cleans_up(manager):
    put(manager, body=b"old", ts="1700000000.00000")
    df = put(manager, body=b"new", ts="1700000001.00000")
    assert os.listdir(df.hash_dir) == ["1700000001.00000.data"]
    assert read_all(manager)[1] == b"new"


def test_metadata_at_the_limits_round_trips(manager):
    big = limits_metadata()
    name = big.pop("name")
    obj = name.split("/", 3)[3]
    extra = {k: v for k, v in big.items() if k.startswith(("X-Object", "Content-Type"))}
    df = put(manager, body=b"payload", obj=obj, extra=extra)
    assert df.name == "/a/c/" + obj
    df2, body = read_all(manager, obj=obj)
    assert body == b"payload"  # the reader stops before the trailer
    assert df2.content_length == 7
    for key, value in extra.items():
        assert df2.metadata[key] == value


def test_post_metadata_replaces_user_metadata(manager):
    manager.post_keys = frozenset({"content-disposition"})
    put(manager, extra={"X-Object-Meta-A": "1", "X-Object-Sysmeta-S": "kept",
                        "Content-Disposition": "old", "X-Delete-At": "9999999999"})
    df = manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0)
    df.write_metadata({"X-Timestamp": "1700000005.00000", "name": df.name,
                       "X-Object-Meta-B": "2"})
    df2, _ = read_all(manager)
    meta = df2.metadata
    assert meta["X-Object-Meta-B"] == "2"
    assert "X-Object-Meta-A" not in meta and "Content-Disposition" not in meta
    assert "X-Delete-At" not in meta
    assert meta["X-Object-Sysmeta-S"] == "kept"
    assert meta["Content-Type"] == "text/plain" and meta["Content-Length"] == "11"
    assert meta["X-Timestamp"] == "1700000005.00000"
    assert df2.timestamp == Timestamp("1700000005.00000")
    assert df2.data_timestamp == Timestamp("1700000000.00000")


def test_delete_leaves_a_tombstone(manager):
    put(manager)
    df = manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0)
    df.delete(Timestamp("1700000001.00000"))
    assert os.listdir(df.hash_dir) == ["1700000001.00000.ts"]
    with pytest.raises(DiskFileDeleted) as info:
        manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0).open()
    assert info.value.timestamp == Timestamp("1700000001.00000")


def test_expired_objects(manager):
    put(manager, extra={"X-Delete-At": str(int(time.time()) - 1)})
    df = manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0)
    with pytest.raises(DiskFileExpired) as info:
        df.open()
    assert info.value.metadata["ETag"]
    df.open(replication=True).close()  # replicators still see it
    df.open(current_time=time.time() - 3600).close()


def test_nothing_visible_when_the_writer_is_not_put(manager, devices):
    put(manager, body=b"old")
    df = manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0)
    with pytest.raises(RuntimeError):
        with df.create(size=100) as writer:
            writer.write(b"partial")
            raise RuntimeError("client went away")
    assert os.listdir(os.path.join(devices, "sda", "tmp")) == []
    assert read_all(manager)[1] == b"old"


def test_missing_device(manager, devices):
    df = manager.get_diskfile("sdz", "7", "a", "c", "o", POLICY0)
    with pytest.raises(DiskFileDeviceUnavailable):
        df.open()
    with pytest.raises(DiskFileDeviceUnavailable):
        df.create(size=1)
    assert not os.path.exists(os.path.join(devices, "sdz"))


def test_mount_check_refuses_plain_directories(devices):
    manager = DiskFileManager({"devices": devices, "mount_check": "true"}, Log())
    with pytest.raises(DiskFileDeviceUnavailable):
        manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0)


def corrupt_xattr(path):
    value = os.getxattr(path, XATTR_NAME)
    os.setxattr(path, XATTR_NAME, value[:-2] + b"!}")


@pytest.mark.parametrize("damage", ["xattr", "truncate", "no-xattr", "meta-file"])
def test_corruption_is_quarantined(manager, devices, damage):
    df = put(manager)
    data_path = os.path.join(df.hash_dir, "1700000000.00000.data")
    if damage == "xattr":
        corrupt_xattr(data_path)
    elif damage == "truncate":
        os.truncate(data_path, 3)
    elif damage == "no-xattr":
        os.removexattr(data_path, XATTR_NAME)
    else:
        df.write_metadata({"X-Timestamp": "1700000001.00000", "name": df.name})
        corrupt_xattr(os.path.join(df.hash_dir, "1700000001.00000.meta"))
    with pytest.raises(DiskFileQuarantined):
        manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0).open()
    assert not os.path.exists(df.hash_dir)
    quarantined = os.path.join(devices, "sda", "quarantined", "objects", df.name_hash)
    assert "1700000000.00000.data" in os.listdir(quarantined)
    assert any("quarantined" in line for line in manager.logger.lines)
    with pytest.raises(DiskFileNotExist):
        manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0).open()
    # a second bad copy of the same object does not overwrite the first in quarantine
    df = put(manager)
    corrupt_xattr(os.path.join(df.hash_dir, "1700000000.00000.data"))
    with pytest.raises(DiskFileQuarantined):
        manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0).open()
    names = os.listdir(os.path.join(devices, "sda", "quarantined", "objects"))
    assert len(names) == 2 and all(n.startswith(df.name_hash) for n in names)


def test_hash_collision_is_refused_not_quarantined(manager):
    df = put(manager)
    path = os.path.join(df.hash_dir, "1700000000.00000.data")
    fd = os.open(path, os.O_RDWR)
    try:
        write_metadata(fd, {"X-Timestamp": "1700000000.00000", "Content-Type": "x",
                            "ETag": "e", "Content-Length": "11", "name": "/a/c/other"}, 11)
    finally:
        os.close(fd)
    with pytest.raises(DiskFileCollision):
        manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0).open()
    assert os.path.exists(path)


def test_fallocate_reserve(devices):
    manager = DiskFileManager({"devices": devices, "fallocate_reserve": "100%"}, Log())
    df = manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0)
    with pytest.raises(DiskFileNoSpace):
        df.create(size=1)
    assert os.listdir(os.path.join(devices, "sda", "tmp")) == []
    st = os.statvfs(devices)
    manager = DiskFileManager({"devices": devices,
                               "fallocate_reserve": str(st.f_bavail * st.f_frsize * 2)}, Log())
    with pytest.raises(DiskFileNoSpace):
        manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0).create(size=1)
    with pytest.raises(ConfigError):
        DiskFileManager({"devices": devices, "fallocate_reserve": "lots"}, Log())


def test_large_bodies_are_preallocated(manager):
    body = os.urandom(diskfile_writer.FALLOCATE_MIN * 2)
    put(manager, body=body)
    assert read_all(manager)[1] == body


def test_xattr_probe_accepts_this_filesystem(devices):
    DiskFileManager({"devices": devices}, Log()).check_xattr_support()
    assert [n for n in os.listdir(devices) if n.startswith(".oiofs")] == []


def test_xattr_probe_refuses_a_filesystem_without_user_xattrs(devices, monkeypatch):
    # Test double: every local filesystem here (ext4, tmpfs) supports user xattrs and
    # mounting one without them needs root, so the ENOTSUP answer is simulated.
    def no_xattrs(*args):
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(os, "setxattr", no_xattrs)
    with pytest.raises(DiskFileXattrNotSupported, match="extended attributes"):
        DiskFileManager({"devices": devices}, Log()).check_xattr_support()


def test_xattr_probe_needs_the_devices_directory(tmp_path):
    with pytest.raises(ConfigError):
        DiskFileManager({"devices": str(tmp_path / "nope")}, Log()).check_xattr_support()


def _record_directory_fsyncs(monkeypatch) -> list[str]:
    """The paths of the directories fsynced from now on, in order (by descriptor, as the
    writer does, or by name through ``fsync_dir``)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        if os.path.isdir(path):
            synced.append(path)
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_new_directories_are_made_and_their_parents_fsynced(manager, devices, monkeypatch):
    synced = _record_directory_fsyncs(monkeypatch)
    # a new device: objects, partition, suffix and hash directories made
    df = put(manager)
    partition_dir = os.path.dirname(df.suffix_dir)
    objects_dir = os.path.dirname(partition_dir)
    assert synced == [df.hash_dir, os.path.dirname(objects_dir), objects_dir,
                      partition_dir, df.suffix_dir]
    del synced[:]
    # the listing saw no hash directory, another writer made it before this write's
    # rename: the write goes in, and the parent is fsynced all the same
    df = manager.get_diskfile("sda", "7", "a", "c", "o2", POLICY0)
    assert df.ondisk().data is None
    os.makedirs(df.hash_dir)
    with df.create(size=0) as writer:
        writer.put({"X-Timestamp": "1700000001.00000", "name": df.name}, ".ts")
    assert os.listdir(df.hash_dir) == ["1700000001.00000.ts"]
    assert synced == [df.hash_dir, os.path.dirname(df.hash_dir)]


def test_a_hash_directory_removed_before_the_rename_is_made_again(manager, monkeypatch):
    """The writer opens the directories it fsyncs before its hop to the real thread; a
    replicator may remove the (empty) hash directory in between. The steps of ``put`` are
    run one by one here, with the directory removed for real between them: the write must
    land, and the directory made again must be fsynced with its parent."""
    df = put(manager, ts="1700000001.00000")
    os.unlink(os.path.join(df.hash_dir, "1700000001.00000.data"))
    df = manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0)
    assert df.ondisk().data is None  # the listing saw the directory, empty
    synced = _record_directory_fsyncs(monkeypatch)
    with df.create(size=0) as writer:
        dir_fds = writer._open_directories(missing=False)
        os.rmdir(df.hash_dir)  # the replicator's cleanup of an empty hash directory
        try:
            writer._make_durable("1700000002.00000.ts", dir_fds)
        finally:
            for fd in dir_fds:
                os.close(fd)
    assert os.listdir(df.hash_dir) == ["1700000002.00000.ts"]
    assert synced[:2] == [df.hash_dir, df.suffix_dir]


def test_a_write_unlinks_what_its_listing_showed_obsolete(manager):
    df = put(manager, ts="1700000001.00000")
    df = manager.get_diskfile("sda", "7", "a", "c", "o", POLICY0)
    assert df.ondisk().data == "1700000001.00000.data"
    with df.create(size=0) as writer:
        writer.put({"X-Timestamp": "1700000002.00000", "name": df.name}, ".ts")
    assert os.listdir(df.hash_dir) == ["1700000002.00000.ts"]
    assert df.ondisk().tombstone == "1700000002.00000.ts"
