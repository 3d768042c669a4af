"""DatabaseBroker on real sqlite files: creation, metadata, sync points, reclaim, errors.

The base class is exercised through ContainerBroker (the simplest complete subclass).
"""

import os
import sqlite3

import pytest

from oiofs.common.db.broker import DatabaseBroker, db_dir_for
from oiofs.common.exceptions import (
    DbAlreadyExists,
    DbLockTimeout,
    DbNotFound,
    DbQuarantined,
)
from oiofs.common.timestamp import Timestamp
from oiofs.container.backend import ContainerBroker


@pytest.fixture
def make_broker(devices):
    def make(account="a", container="c", **kwargs):
        _dir, db_file = db_dir_for(devices, "sda", "containers", 7, account, container)
        return ContainerBroker(db_file, account=account, container=container, **kwargs)

    return make


@pytest.fixture
def broker(make_broker):
    broker = make_broker()
    broker.initialize(Timestamp(1000).internal, storage_policy_index=0)
    return broker


def test_db_path_layout(devices):
    directory, db_file = db_dir_for(devices, "sda", "containers", 7, "a", "c")
    name_hash = os.path.basename(directory)
    assert directory == os.path.join(devices, "sda", "containers", "7", name_hash[-3:],
                                     name_hash)
    assert db_file == os.path.join(directory, name_hash + ".db")


def test_initialize_creates_once_without_leftovers(make_broker):
    broker = make_broker()
    assert not broker.exists() and broker.is_deleted()
    broker.initialize(Timestamp(1000).internal)
    assert broker.exists()
    assert os.listdir(broker.db_dir) == [os.path.basename(broker.db_file)]
    with pytest.raises(DbAlreadyExists):
        broker.initialize(Timestamp(2000).internal)
    # a second broker racing on the same file loses cleanly too
    with pytest.raises(DbAlreadyExists):
        make_broker().initialize(Timestamp(3000).internal)
    info = broker.get_info()
    assert info["put_timestamp"] == Timestamp(1000).internal
    assert info["status_changed_at"] == Timestamp(1000).internal
    assert len(info["id"]) == 36 and info["hash"] == "0" * 32


def test_missing_database_is_not_found(make_broker):
    broker = make_broker()
    with pytest.raises(DbNotFound):
        broker.get_info()
    with pytest.raises(DbNotFound):
        broker.put_object("o", Timestamp(1).internal, 0, "t", "e")
    assert broker.get_info_is_deleted() == ({}, True)
    assert not os.path.exists(broker.pending_file)


def test_metadata_newest_wins_and_deletion_is_an_empty_value(broker):
    broker.update_metadata({"X-Container-Meta-A": ("1", Timestamp(10).internal),
                            "X-Container-Meta-B": ("2", Timestamp(10).internal)})
    changed = broker.update_metadata({"X-Container-Meta-A": ("old", Timestamp(5).internal),
                                      "X-Container-Meta-B": ("", Timestamp(20).internal)})
    assert changed
    assert broker.metadata == {"X-Container-Meta-A": ["1", Timestamp(10).internal],
                               "X-Container-Meta-B": ["", Timestamp(20).internal]}
    assert not broker.update_metadata({"X-Container-Meta-A": ("x", Timestamp(10).internal)})
    # reclaim forgets deletions older than the age, keeps values and newer deletions
    broker.reclaim(Timestamp(15).internal, 0)
    assert "X-Container-Meta-B" in broker.metadata
    broker.reclaim(Timestamp(25).internal, 0)
    assert broker.metadata == {"X-Container-Meta-A": ["1", Timestamp(10).internal]}


def test_metadata_validator_sees_the_merged_result_and_can_refuse(broker):
    broker.update_metadata({"X-Container-Meta-A": ("1", Timestamp(10).internal)})

    class Refused(Exception):
        pass

    def at_most_one(metadata):
        if sum(1 for v, _t in metadata.values() if v) > 1:
            raise Refused

    with pytest.raises(Refused):
        broker.update_metadata({"X-Container-Meta-B": ("2", Timestamp(11).internal)},
                               at_most_one)
    assert list(broker.metadata) == ["X-Container-Meta-A"]  # nothing written


def test_delete_db_clears_metadata_and_marks_deleted(broker):
    broker.update_metadata({"X-Container-Meta-A": ("1", Timestamp(10).internal)})
    broker.delete_db(Timestamp(2000).internal)
    assert broker.is_deleted()
    info = broker.get_info()
    assert info["delete_timestamp"] == Timestamp(2000).internal
    assert info["status"] == "DELETED"
    assert broker.metadata == {"X-Container-Meta-A": ["", Timestamp(2000).internal]}
    assert broker.is_reclaimable(2000 + 100, 50)
    assert not broker.is_reclaimable(2000 + 100, 500)
    broker.update_put_timestamp(Timestamp(3000).internal)
    assert not broker.is_deleted()


def test_put_and_status_timestamps_only_move_forward(broker):
    broker.update_put_timestamp(Timestamp(500).internal)
    broker.update_status_changed_at(Timestamp(500).internal)
    info = broker.get_info()
    assert info["put_timestamp"] == info["status_changed_at"] == Timestamp(1000).internal
    broker.update_put_timestamp(Timestamp(1500).internal)
    assert broker.get_info()["put_timestamp"] == Timestamp(1500).internal


def test_items_since_and_replication_merge_move_the_sync_point(broker, make_broker):
    for i in range(5):
        broker.put_object(f"o{i}", Timestamp(100 + i).internal, i, "text/plain", "e")
    items = broker.get_items_since(-1, 3)
    assert [item["name"] for item in items] == ["o0", "o1", "o2"]
    assert [item["ROWID"] for item in items] == [1, 2, 3]
    assert [i["name"] for i in broker.get_items_since(items[-1]["ROWID"], 10)] == ["o3", "o4"]

    other = make_broker(container="other")
    other.initialize(Timestamp(1000).internal)
    remote_id = broker.get_info()["id"]
    other.merge_items(items, source=remote_id)
    assert other.get_sync(remote_id) == 3
    other.merge_items(broker.get_items_since(3, 10), source=remote_id)
    assert other.get_sync(remote_id) == 5
    assert other.get_info()["hash"] == broker.get_info()["hash"]
    assert other.get_replication_info()["max_row"] == 5


def test_sync_points_never_go_back(broker):
    assert broker.get_sync("peer") == -1
    broker.merge_syncs([{"remote_id": "peer", "sync_point": 10}])
    broker.merge_syncs([{"remote_id": "peer", "sync_point": 4}])
    assert broker.get_sync("peer") == 10
    broker.merge_syncs([{"remote_id": "peer", "sync_point": 12}], incoming=False)
    assert broker.get_sync("peer", incoming=False) == 12
    assert broker.get_syncs() == [{"remote_id": "peer", "sync_point": 10}]
    # sync points not updated since the sync timestamp are forgotten by reclaim
    broker.reclaim(Timestamp(1).internal, sync_timestamp=2 ** 40)
    assert broker.get_syncs() == [] and broker.get_syncs(incoming=False) == []


def test_newid_changes_id_and_records_the_source(broker):
    broker.put_object("o", Timestamp(100).internal, 1, "text/plain", "e")
    broker.commit_pending()
    old_id = broker.get_info()["id"]
    broker.newid("source-db")
    assert broker.get_info()["id"] != old_id
    assert broker.get_sync("source-db") == broker.get_max_row() == 1


def test_replication_info(broker):
    broker.put_object("o", Timestamp(100).internal, 3, "text/plain", "e")
    broker.update_metadata({"X-Container-Meta-A": ("1", Timestamp(10).internal)})
    info = broker.get_replication_info()
    assert info["count"] == 1 and info["max_row"] == 1
    assert info["hash"] != "0" * 32
    assert '"X-Container-Meta-A"' in info["metadata"]
    for key in ("id", "created_at", "put_timestamp", "delete_timestamp", "status_changed_at"):
        assert key in info


@pytest.mark.parametrize("garbage", [b"this is not a sqlite database at all" * 200,
                                     b"SQLite format 3\x00" + b"\xff" * 4000])
def test_corrupt_database_is_quarantined(broker, devices, garbage):
    with open(broker.db_file, "wb") as handle:
        handle.write(garbage)
    name_hash = os.path.basename(broker.db_dir)
    with pytest.raises(DbQuarantined):
        broker.get_info()
    assert not os.path.exists(broker.db_dir)
    quarantined = os.path.join(devices, "sda", "quarantined", "containers", name_hash)
    assert os.path.exists(os.path.join(quarantined, name_hash + ".db"))
    assert broker.is_deleted()  # gone from its place: replication brings a good copy


def test_second_quarantine_of_same_hash_keeps_both(make_broker, devices):
    for _attempt in range(2):
        broker = make_broker()
        broker.initialize(Timestamp(1).internal)
        with open(broker.db_file, "wb") as handle:
            handle.write(b"garbage" * 1000)
        with pytest.raises(DbQuarantined):
            broker.get_info()
    assert len(os.listdir(os.path.join(devices, "sda", "quarantined", "containers"))) == 2


def test_lock_held_by_another_connection_times_out(make_broker):
    broker = make_broker(timeout=0.05)
    broker.initialize(Timestamp(1).internal)
    other = sqlite3.connect(broker.db_file, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # a real lock, as another process would hold
        with pytest.raises(DbLockTimeout):
            broker.update_put_timestamp(Timestamp(5).internal)
        other.execute("ROLLBACK")
    finally:
        other.close()
    broker.update_put_timestamp(Timestamp(5).internal)
    assert broker.get_info()["put_timestamp"] == Timestamp(5).internal


def test_cached_connection_follows_a_replaced_file(broker, make_broker, tmp_path):
    broker.get_info()  # opens and caches the connection
    replacement = make_broker(container="c2")
    replacement.initialize(Timestamp(77).internal)
    os.replace(replacement.db_file, broker.db_file)
    assert broker.get_info()["put_timestamp"] == Timestamp(77).internal


def test_pending_updates_survive_a_new_broker(make_broker):
    broker = make_broker()
    broker.initialize(Timestamp(1).internal)
    broker.put_object("o", Timestamp(100).internal, 3, "text/plain", "e")
    assert os.path.getsize(broker.pending_file) > 0
    # a fresh broker (another process after a crash, say) finds the queued update
    assert make_broker().get_info()["object_count"] == 1
    assert os.path.getsize(broker.pending_file) == 0


def test_base_class_is_abstract(tmp_path):
    base = DatabaseBroker(str(tmp_path / "x.db"))
    with pytest.raises(NotImplementedError):
        base.get_info()


def test_preallocation_reserves_space_without_changing_the_size(make_broker):
    broker = make_broker(db_preallocation=True)
    broker.initialize(Timestamp(1).internal)
    size_before = os.path.getsize(broker.db_file)
    broker.put_object("o", Timestamp(100).internal, 3, "text/plain", "e")
    broker.commit_pending()
    st = os.stat(broker.db_file)
    assert st.st_size < 1024 * 1024 and st.st_size >= size_before
    # ext4 (the test filesystem) supports fallocate(KEEP_SIZE): 1 MiB is now reserved
    assert st.st_blocks * 512 >= 1024 * 1024


def test_a_malformed_pending_entry_does_not_block_merges(broker):
    from oiofs.common.db.pending import encode_entry

    broker.put_object("good", Timestamp(100).internal, 3, "text/plain", "e")
    with open(broker.pending_file, "ab") as handle:
        handle.write(encode_entry(["too", "short"]) + encode_entry({"not": "a list"}))
    broker.put_object("also-good", Timestamp(101).internal, 3, "text/plain", "e")
    names = [row[0] for row in broker.list_objects_iter(10, "", None, None, None)]
    assert names == ["also-good", "good"]
