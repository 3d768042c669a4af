"""The REPLICATE verb of the container and account servers, in-process on real databases.

Requests go through werkzeug's test client into the real apps; the replicator's use of
them over real HTTP is covered by test_replicator.py.
"""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from werkzeug.test import Client

from oiofs.account.backend import AccountBroker
from oiofs.account.server import app_factory as account_app
from oiofs.common.db.broker import db_dir_for
from oiofs.common.db.replication_client import make_snapshot
from oiofs.common.hashing import hash_path
from oiofs.common.timestamp import Timestamp
from oiofs.container.backend import ContainerBroker
from oiofs.container.server import app_factory as container_app


@pytest.fixture
def client(devices):
    return Client(container_app({"devices": devices}, mount_check="false",
                                log_requests="false", fsync_in_threads="false"))


def path(container="c", part=3):
    return f"/sda/{part}/{hash_path('a', container)}"


def make_broker(devices, container="c", part=3, objects=(), start=1000):
    _dir, db_file = db_dir_for(devices, "sda", "containers", part, "a", container)
    broker = ContainerBroker(db_file, account="a", container=container)
    broker.initialize(Timestamp(start).internal, storage_policy_index=0)
    for number, name in enumerate(objects):
        broker.put_object(name, Timestamp(start + 1 + number).internal, 1, "text/plain", "e")
    broker.commit_pending()
    return broker


def replicate(client, body, target=None, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.open(target or path(), method="REPLICATE", data=data,
                       headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("target", ["/sda/3/nothex", "/sda/3/" + "A" * 32,
                                    "/sda/x/" + "a" * 32])
def test_bad_paths_are_refused(client, target):
    assert replicate(client, ["sync", {}], target).status_code == 400


def test_missing_device_is_507(client):
    assert replicate(client, ["sync", {}], "/nodev/3/" + "a" * 32).status_code == 507


@pytest.mark.parametrize("body", [b"not json", b"{}", b"[]", b"[1]", b'["nope"]',
                                  b'["sync"]', b'["sync", 1]', b'["merge_items", []]'])
def test_malformed_operations_are_400(client, devices, body):
    make_broker(devices)
    assert replicate(client, body).status_code == 400


def test_unknown_content_type_is_415(client):
    resp = client.open(path(), method="REPLICATE", data=b"x",
                       headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415


def test_sync_without_database_is_404(client, devices):
    info = make_broker(devices, container="other").get_replication_info()
    assert replicate(client, ["sync", info]).status_code == 404


def test_sync_merges_metadata_and_timestamps_and_answers_the_point(client, devices):
    broker = make_broker(devices, objects=["o"])
    info = broker.get_replication_info()
    remote = dict(info, id="remote-id", hash="f" * 32, max_row=7,
                  put_timestamp=Timestamp(5000).internal,
                  metadata=json.dumps({"X-Container-Meta-K": ["v", Timestamp(6).internal]}))
    resp = replicate(client, ["sync", remote])
    assert resp.status_code == 200
    answer = resp.get_json()
    assert answer["point"] == -1 and answer["id"] == info["id"] and answer["max_row"] == 1
    assert broker.metadata["X-Container-Meta-K"][0] == "v"
    assert broker.get_info()["put_timestamp"] == Timestamp(5000).internal


def test_sync_takes_the_winning_policy_and_answers_the_state_before(client, devices):
    broker = make_broker(devices, objects=["o"])
    info = broker.get_replication_info()
    assert info["storage_policy_index"] == 0
    # a replica created earlier with policy 1: it wins (the first creation)
    earlier = Timestamp(float(Timestamp(info["status_changed_at"])) - 1).internal
    remote = dict(info, id="remote-id", storage_policy_index=1, status_changed_at=earlier)
    answer = replicate(client, ["sync", remote]).get_json()
    assert answer["storage_policy_index"] == 0  # what the sender compares with
    assert broker.storage_policy_index == 1
    assert broker.get_info()["status_changed_at"] == earlier
    assert broker.get_reconciler_sync() == -1
    assert [row["name"] for row in broker.get_misplaced_since(-1, 10)] == ["o"]
    # a later replica with policy 0 does not take it back
    later = dict(remote, storage_policy_index=0,
                 status_changed_at=Timestamp(float(Timestamp(earlier)) + 0.5).internal)
    replicate(client, ["sync", later])
    assert broker.storage_policy_index == 1


def test_sync_with_the_same_hash_records_the_point(client, devices):
    broker = make_broker(devices, objects=["o", "p"])
    info = dict(broker.get_replication_info(), id="twin", max_row=12)
    assert replicate(client, ["sync", info]).get_json()["point"] == 12
    assert broker.get_sync("twin") == 12


@pytest.mark.parametrize("info_change", [{"max_row": "1"}, {"id": ""}, {"hash": None},
                                         {"put_timestamp": "yesterday"},
                                         {"metadata": '{"k": "v"}'}, {"metadata": "{"},
                                         {"storage_policy_index": "1"},
                                         {"storage_policy_index": -1},
                                         {"storage_policy_index": True},
                                         {"status_changed_at": "later"},
                                         {"status_changed_at": None}, {"count": "1"}])
def test_sync_with_bad_info_is_400(client, devices, info_change):
    info = make_broker(devices).get_replication_info()
    assert replicate(client, ["sync", dict(info, **info_change)]).status_code == 400


def test_merge_items_then_merge_syncs(client, devices):
    broker = make_broker(devices)
    source = make_broker(devices, container="src", objects=["x", "y"])
    items = source.get_items_since(-1, 10)
    assert replicate(client, ["merge_items", items, "src-id"]).status_code == 204
    assert {r["name"] for r in broker.get_items_since(-1, 10)} == {"x", "y"}
    assert broker.get_sync("src-id") == items[-1]["ROWID"]
    points = [{"remote_id": "third", "sync_point": 42}]
    assert replicate(client, ["merge_syncs", points]).status_code == 204
    assert broker.get_sync("third") == 42


@pytest.mark.parametrize("items", [
    [{"ROWID": 2, "name": "a"}, {"ROWID": 1, "name": "b"}],
    [{"ROWID": "1", "name": "a"}],
    [{"ROWID": 1, "name": "a", "created_at": [1], "size": 1, "content_type": "t",
      "etag": "e", "deleted": 0, "storage_policy_index": 0}],
    [{"ROWID": 1, "name": "a", "created_at": "not a timestamp", "size": 1,
      "content_type": "t", "etag": "e", "deleted": 0, "storage_policy_index": 0}],
    ["row"],
])
def test_bad_rows_are_400_and_change_nothing(client, devices, items):
    broker = make_broker(devices, objects=["keep"])
    before = broker.get_replication_info()
    assert replicate(client, ["merge_items", items, "src"]).status_code == 400
    assert broker.get_replication_info()["hash"] == before["hash"]


def test_merge_items_without_database_is_404(client, devices):
    source = make_broker(devices, container="src", objects=["x"])
    resp = replicate(client, ["merge_items", source.get_items_since(-1, 5), "s"])
    assert resp.status_code == 404


# --- whole copies --------------------------------------------------------------------------


def upload(client, data: bytes, target=None, sender="sender-id"):
    headers = {"Content-Type": "application/vnd.sqlite3"}
    if sender:
        headers["X-Backend-Replication-Id"] = sender
    return client.open(target or path(), method="REPLICATE", data=data, headers=headers)


def snapshot_bytes(broker, tmp_path) -> bytes:
    snap = make_snapshot(broker, str(tmp_path / "snaps"))
    with open(snap, "rb") as handle:
        data = handle.read()
    os.unlink(snap)
    return data


def test_copy_is_placed_when_there_is_no_database(client, devices, tmp_path):
    source = make_broker(devices, part=9, objects=["a1", "a2"])
    data = snapshot_bytes(source, tmp_path)
    assert upload(client, data).status_code == 201
    placed = ContainerBroker(db_dir_for(devices, "sda", "containers", 3, "a", "c")[1])
    assert placed.get_info()["hash"] == source.get_info()["hash"]
    assert placed.get_info()["id"] != source.get_info()["id"]
    assert placed.get_sync("sender-id") == source.get_max_row()
    assert os.listdir(os.path.join(devices, "sda", "tmp")) == []


def test_copy_is_merged_into_an_existing_database(client, devices, tmp_path):
    existing = make_broker(devices, objects=["mine"], start=2000)
    existing_id = existing.get_info()["id"]
    source = make_broker(devices, part=9, objects=["theirs1", "theirs2"])
    source.update_metadata({"X-Container-Meta-T": ["1", Timestamp(7).internal]})
    source.merge_syncs([{"remote_id": "third", "sync_point": 5}])
    assert upload(client, snapshot_bytes(source, tmp_path)).status_code == 202
    assert {r["name"] for r in existing.get_items_since(-1, 10)} == {
        "mine", "theirs1", "theirs2"}
    info = existing.get_info()
    assert info["id"] == existing_id and info["object_count"] == 3
    assert existing.get_sync("sender-id") == source.get_max_row()
    assert existing.get_sync("third") == 5
    assert existing.metadata["X-Container-Meta-T"][0] == "1"
    assert info["created_at"] == min(info["created_at"], source.get_info()["created_at"])


@pytest.mark.parametrize("garbage", [b"SQLite format 3\x00", b"x" * 5000,
                                     b"SQLite format 3\x00" + b"\0" * 4000])
def test_garbage_copies_are_refused(client, devices, garbage):
    assert upload(client, garbage).status_code == 422
    assert not os.path.exists(db_dir_for(devices, "sda", "containers", 3, "a", "c")[1])
    assert os.listdir(os.path.join(devices, "sda", "tmp")) == []


def test_copy_of_another_database_is_refused(client, devices, tmp_path):
    other = make_broker(devices, container="other", objects=["x"])
    assert upload(client, snapshot_bytes(other, tmp_path)).status_code == 422


def test_copy_of_the_wrong_type_is_refused(client, devices, tmp_path):
    _dir, db_file = db_dir_for(devices, "sda", "accounts", 1, "a")
    account = AccountBroker(db_file, account="a")
    account.initialize(Timestamp(1).internal)
    assert upload(client, snapshot_bytes(account, tmp_path)).status_code == 422


def test_copy_with_a_damaged_page_is_refused(client, devices, tmp_path):
    source = make_broker(devices, part=9, objects=[f"o{i:04d}" * 20 for i in range(400)])
    data = bytearray(snapshot_bytes(source, tmp_path))
    page = sqlite3.connect(source.db_file).execute("PRAGMA page_size").fetchone()[0]
    last = len(data) - page  # a page of object rows
    data[last:last + 12] = b"\xff" * 12  # its b-tree page header
    assert upload(client, bytes(data)).status_code == 422


def test_copy_needs_the_sender_id(client, devices, tmp_path):
    source = make_broker(devices, part=9)
    assert upload(client, snapshot_bytes(source, tmp_path), sender=None).status_code == 400


def test_account_server_answers_replicate(devices, tmp_path):
    client = Client(account_app({"devices": devices}, mount_check="false",
                                log_requests="false", fsync_in_threads="false"))
    _dir, db_file = db_dir_for(devices, "sda", "accounts", 2, "acc")
    broker = AccountBroker(db_file, account="acc")
    broker.initialize(Timestamp(1).internal)
    broker.put_container("c1", Timestamp(2).internal, 0, 3, 30)
    broker.delete_db(Timestamp(5).internal)  # marked DELETED
    _dir, peer_file = db_dir_for(devices, "sda", "accounts", 4, "acc")
    target = f"/sda/4/{hash_path('acc')}"
    info = broker.get_replication_info()
    assert replicate(client, ["sync", info], target).status_code == 404
    assert upload(client, snapshot_bytes(broker, tmp_path), target).status_code == 201
    peer = AccountBroker(peer_file)
    assert peer.is_status_deleted()
    assert [r["name"] for r in peer.get_items_since(-1, 10)] == ["c1"]


def test_deleted_status_spreads_with_the_timestamps(devices):
    _dir, db_file = db_dir_for(devices, "sda", "accounts", 2, "acc")
    broker = AccountBroker(db_file, account="acc")
    broker.initialize(Timestamp(10).internal)
    created = broker.get_info()["created_at"]
    assert not broker.merge_timestamps(created, Timestamp(10).internal, Timestamp(0).internal)
    assert broker.merge_timestamps(Timestamp(5).internal, Timestamp(10).internal,
                                   Timestamp(30).internal, deleted_status=True)
    info = broker.get_info()
    assert info["created_at"] == Timestamp(5).internal
    assert info["delete_timestamp"] == Timestamp(30).internal
    assert broker.is_status_deleted() and broker.is_deleted()
    assert Timestamp(info["status_changed_at"]) > Timestamp(30)
