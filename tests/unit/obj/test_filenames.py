"""Choosing the files that describe an object, and removing the obsolete ones."""

import os

import pytest

from oiofs.obj.filenames import (
    cleanup_after_write,
    cleanup_ondisk_files,
    filename,
    select_files,
    split_filename,
)

T1, T2, T3, T4 = (f"170000000{i}.00000" for i in range(1, 5))
T2_OFFSET = T2 + "_0000000000000001"


def test_split_filename():
    assert split_filename(T1 + ".data") == (T1, ".data")
    assert split_filename(T2_OFFSET + ".ts") == (T2_OFFSET, ".ts")
    for other in ("hashes.json", ".lock", "1.data", T1 + ".tmp", "junk", T1):
        assert split_filename(other) is None
    assert filename(T1, ".meta") == T1 + ".meta"


@pytest.mark.parametrize("names, data, meta, ts, obsolete", [
    ([], None, None, None, []),
    ([T1 + ".data"], T1 + ".data", None, None, []),
    ([T1 + ".data", T2 + ".data"], T2 + ".data", None, None, [T1 + ".data"]),
    ([T1 + ".data", T2 + ".ts"], None, None, T2 + ".ts", [T1 + ".data"]),
    ([T2 + ".data", T1 + ".ts"], T2 + ".data", None, None, [T1 + ".ts"]),
    # a tombstone wins over a .data of the same timestamp
    ([T1 + ".data", T1 + ".ts"], None, None, T1 + ".ts", [T1 + ".data"]),
    # the newest .meta newer than the .data applies; older .metas are obsolete
    ([T1 + ".data", T2 + ".meta", T3 + ".meta"], T1 + ".data", T3 + ".meta", None,
     [T2 + ".meta"]),
    # a .meta older than the .data, or of the same time, never applies
    ([T2 + ".data", T1 + ".meta"], T2 + ".data", None, None, [T1 + ".meta"]),
    ([T2 + ".data", T2 + ".meta"], T2 + ".data", None, None, [T2 + ".meta"]),
    # a .meta newer than a tombstone is kept (its .data may still come by replication)
    ([T1 + ".data", T2 + ".ts", T3 + ".meta"], None, T3 + ".meta", T2 + ".ts",
     [T1 + ".data"]),
    # offsets order after the plain timestamp
    ([T2 + ".data", T2_OFFSET + ".data"], T2_OFFSET + ".data", None, None, [T2 + ".data"]),
    # foreign names are left alone
    ([T1 + ".data", "hashes.json", ".lock"], T1 + ".data", None, None, []),
    ([T4 + ".meta"], None, T4 + ".meta", None, []),
])
def test_select_files(names, data, meta, ts, obsolete):
    files = select_files(names)
    assert (files.data, files.meta, files.tombstone) == (data, meta, ts)
    assert sorted(files.obsolete) == sorted(obsolete)


def test_timestamps_of_the_choice():
    files = select_files([T1 + ".data", T3 + ".meta"])
    assert files.data_or_ts_timestamp == T1
    assert files.meta_timestamp == T3
    assert files.newest == T3
    assert select_files([T2 + ".ts"]).newest == T2
    assert select_files([]).newest is None


def test_cleanup_unlinks_only_obsolete_files(tmp_path):
    names = [T1 + ".data", T2 + ".meta", T3 + ".data", T4 + ".meta", "foreign"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    files = cleanup_ondisk_files(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted([T3 + ".data", T4 + ".meta", "foreign"])
    assert (files.data, files.meta, files.obsolete) == (T3 + ".data", T4 + ".meta", [])


def test_cleanup_of_a_missing_directory(tmp_path):
    assert cleanup_ondisk_files(str(tmp_path / "nope")).data is None


def test_cleanup_after_write_trusts_the_listing_made_before(tmp_path):
    for name in (T1 + ".data", T2 + ".meta", T3 + ".ts"):
        (tmp_path / name).write_bytes(b"x")
    before = select_files(os.listdir(tmp_path))
    # a concurrent writer's file the listing did not see: left for the next cleanup
    (tmp_path / (T2 + ".data")).write_bytes(b"x")
    (tmp_path / (T4 + ".data")).write_bytes(b"x")
    files = cleanup_after_write(str(tmp_path), before, T4 + ".data")
    assert (files.data, files.meta, files.tombstone, files.obsolete) == \
        (T4 + ".data", None, None, [])
    assert sorted(os.listdir(tmp_path)) == [T2 + ".data", T4 + ".data"]
    # without a listing made before, it lists the directory
    files = cleanup_after_write(str(tmp_path), None, T4 + ".data")
    assert os.listdir(tmp_path) == [T4 + ".data"] and files.data == T4 + ".data"


def test_cleanup_after_write_of_an_older_file_unlinks_nothing_newer(tmp_path):
    (tmp_path / (T3 + ".data")).write_bytes(b"x")
    before = select_files([])  # listed before the T3 write of another writer
    (tmp_path / (T2 + ".data")).write_bytes(b"x")
    cleanup_after_write(str(tmp_path), before, T2 + ".data")
    assert sorted(os.listdir(tmp_path)) == [T2 + ".data", T3 + ".data"]
    assert select_files(os.listdir(tmp_path)).data == T3 + ".data"
