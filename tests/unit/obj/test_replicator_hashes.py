"""Suffix hashes on real files: computation, invalidation, cleanup and tombstone reclaim."""

import json
import os
import time

import pytest

from oiofs.common.hashing import md5
from oiofs.common.storage_policy import ReplicationPolicy
from oiofs.common.timestamp import Timestamp
from oiofs.obj.diskfile import DiskFileManager
from oiofs.obj.hashes import (
    HASHES_FILE,
    get_hashes,
    hash_suffix,
    listing_hash,
    suffix_listing,
)
from tests.support.log_lines import LogLines as Log

POLICY = ReplicationPolicy(0, "gold")
NOW = 1_800_000_000.0
DAY = 86400.0




@pytest.fixture
def manager(devices):
    return DiskFileManager({"devices": devices, "fsync_in_threads": "false"}, Log())


def stamp(seconds: float) -> str:
    return Timestamp(seconds).internal


def put(manager, obj="o", ts=NOW - 10, body=b"x", part="3"):
    df = manager.get_diskfile("sda", part, "a", "c", obj, POLICY)
    with df.create(len(body)) as writer:
        writer.write(body)
        writer.put({"X-Timestamp": stamp(ts), "Content-Type": "text/plain",
                    "ETag": md5(body).hexdigest(), "Content-Length": str(len(body)),
                    "name": df.name})
    return df


def delete(manager, obj="o", ts=NOW - 5, part="3"):
    df = manager.get_diskfile("sda", part, "a", "c", obj, POLICY)
    df.delete(Timestamp(ts))
    return df


def post(manager, obj="o", ts=NOW - 3, part="3"):
    df = manager.get_diskfile("sda", part, "a", "c", obj, POLICY)
    df.write_metadata({"X-Timestamp": stamp(ts), "name": df.name, "X-Object-Meta-A": "1"})
    return df


def part_dir(devices, part="3"):
    return os.path.join(devices, "sda", "objects", part)


def test_suffix_hash_is_over_the_chosen_file_names(manager):
    df = put(manager)
    suffix = df.suffix_dir
    listing = suffix_listing(suffix, now=NOW)
    assert list(listing) == [df.name_hash]
    expected = md5(f"{df.name_hash} {stamp(NOW - 10)}.data -\n".encode()).hexdigest()
    assert hash_suffix(suffix, now=NOW) == expected == listing_hash(listing)
    post(manager)
    assert hash_suffix(suffix, now=NOW) == md5(
        f"{df.name_hash} {stamp(NOW - 10)}.data {stamp(NOW - 3)}.meta\n".encode()).hexdigest()


def test_same_files_same_hash_on_two_devices(manager, devices):
    os.makedirs(os.path.join(devices, "sdb"))
    a = put(manager, obj="x")
    other = manager.get_diskfile("sdb", "3", "a", "c", "x", POLICY)
    with other.create(1) as writer:
        writer.write(b"x")
        writer.put({"X-Timestamp": stamp(NOW - 10), "Content-Type": "text/plain",
                    "ETag": md5(b"x").hexdigest(), "Content-Length": "1", "name": other.name})
    assert hash_suffix(a.suffix_dir, now=NOW) == hash_suffix(other.suffix_dir, now=NOW)
    delete(manager, obj="x")
    assert hash_suffix(a.suffix_dir, now=NOW) != hash_suffix(other.suffix_dir, now=NOW)


def test_obsolete_files_are_cleaned_while_hashing(manager):
    df = put(manager)
    os.link(os.path.join(df.hash_dir, f"{stamp(NOW - 10)}.data"),
            os.path.join(df.hash_dir, f"{stamp(NOW - 20)}.data"))  # an older leftover
    hash_suffix(df.suffix_dir, now=NOW)
    assert os.listdir(df.hash_dir) == [f"{stamp(NOW - 10)}.data"]


def test_old_tombstones_are_reclaimed_and_empty_dirs_removed(manager):
    df = delete(manager, ts=NOW - 8 * DAY)
    assert hash_suffix(df.suffix_dir, reclaim_age=9 * DAY, now=NOW) is not None
    assert os.listdir(df.hash_dir)
    assert hash_suffix(df.suffix_dir, reclaim_age=7 * DAY, now=NOW) is None
    assert not os.path.exists(df.hash_dir)
    assert not os.path.exists(df.suffix_dir)  # emptied by the reclaim: removed


def test_orphan_meta_is_reclaimed_with_its_tombstone(manager):
    delete(manager, ts=NOW - 9 * DAY)
    df = post(manager, ts=NOW - 8 * DAY)
    assert len(os.listdir(df.hash_dir)) == 2
    assert hash_suffix(df.suffix_dir, reclaim_age=7 * DAY, now=NOW) is None
    assert not os.path.exists(df.hash_dir)


def test_young_empty_dirs_are_left_for_writers(manager, devices):
    df = put(manager)
    empty = os.path.join(df.suffix_dir, "0" * 29 + df.suffix_dir[-3:])
    os.mkdir(empty)  # a writer just made it and is about to rename its file in
    hash_suffix(df.suffix_dir, now=time.time())
    assert os.path.isdir(empty)
    hash_suffix(df.suffix_dir, now=time.time() + 3600)
    assert not os.path.exists(empty)


def test_get_hashes_rehashes_only_invalidated_suffixes(manager, devices):
    first = put(manager, obj="a")
    partition = part_dir(devices)
    hashes, hashed = get_hashes(partition, now=NOW)
    assert hashed == 1 and set(hashes) == {first.suffix_dir[-3:]}
    # nothing changed: nothing hashed, the cached answer
    again, hashed = get_hashes(partition, now=NOW)
    assert (again, hashed) == (hashes, 0)
    # a write invalidates exactly its suffix
    objs = [f"obj{i}" for i in range(40)]
    second = next(put(manager, obj=o) for o in objs
                  if manager.get_diskfile("sda", "3", "a", "c", o, POLICY).suffix_dir[-3:]
                  != first.suffix_dir[-3:])
    hashes2, hashed = get_hashes(partition, now=NOW)
    assert hashed == 1
    assert hashes2[first.suffix_dir[-3:]] == hashes[first.suffix_dir[-3:]]
    assert hashes2[second.suffix_dir[-3:]] == hash_suffix(second.suffix_dir, now=NOW)
    # a delete changes the hash of its suffix
    delete(manager, obj="a")
    hashes3, hashed = get_hashes(partition, now=NOW)
    assert hashed == 1 and hashes3[first.suffix_dir[-3:]] != hashes2[first.suffix_dir[-3:]]


def test_get_hashes_recalculates_on_request_and_drops_gone_suffixes(manager, devices):
    df = put(manager)
    partition = part_dir(devices)
    suffix = df.suffix_dir[-3:]
    get_hashes(partition, now=NOW)
    # files changed behind the bookkeeping's back (no invalidation recorded)
    os.unlink(os.path.join(df.hash_dir, os.listdir(df.hash_dir)[0]))
    assert suffix in get_hashes(partition, now=NOW).hashes  # stale cache
    hashes, hashed = get_hashes(partition, [suffix], now=NOW + 3600)
    assert hashed == 1 and hashes == {}


def test_missing_or_corrupt_hashes_file_means_a_full_rehash(manager, devices):
    for i in range(5):
        put(manager, obj=f"o{i}")
    partition = part_dir(devices)
    hashes, _ = get_hashes(partition, now=NOW)
    with open(os.path.join(partition, HASHES_FILE), "w") as handle:
        handle.write("{not json")
    again, hashed = get_hashes(partition, now=NOW)
    assert again == hashes and hashed == len(hashes)


def test_periodic_full_rehash_catches_a_lost_invalidation(manager, devices):
    df = put(manager)
    partition = part_dir(devices)
    get_hashes(partition, now=NOW)
    with open(os.path.join(df.hash_dir, f"{stamp(NOW - 1)}.ts"), "w"):
        pass  # as if the invalidation of this write was lost in a crash
    assert get_hashes(partition, full_rehash_interval=DAY, now=NOW + 60).hashed == 0
    result = get_hashes(partition, full_rehash_interval=DAY, now=NOW + DAY)
    assert result.hashed == 1
    assert result.hashes[df.suffix_dir[-3:]] == hash_suffix(df.suffix_dir, now=NOW)
    with open(os.path.join(partition, HASHES_FILE)) as handle:
        assert json.load(handle)["full"] <= NOW + DAY


def test_missing_partition_is_not_created(devices):
    partition = part_dir(devices, "9")
    assert get_hashes(partition) == ({}, 0)
    assert not os.path.exists(partition)
