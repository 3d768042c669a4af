"""ContainerBroker on real sqlite files: merges, newest-wins, stats, listings."""

import os
import random
import tempfile
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oiofs.common.db.broker import db_dir_for
from oiofs.common.timestamp import Timestamp
from oiofs.container.backend import (
    ContainerBroker,
    decode_timestamps,
    encode_timestamps,
)
from tests.support.listing_model import ALPHABET, listing_model


def new_broker(devices, container="c", policy=0, **kwargs):
    _dir, db_file = db_dir_for(devices, "sda", "containers", 3, "a", container)
    broker = ContainerBroker(db_file, account="a", container=container, **kwargs)
    broker.initialize(Timestamp(1).internal, storage_policy_index=policy)
    return broker


@pytest.fixture
def broker(devices):
    return new_broker(devices)


def ts(value):
    return Timestamp(value).internal


def test_put_delete_and_stats(broker):
    broker.put_object("a", ts(10), 100, "text/plain", "e1")
    broker.put_object("b", ts(11), 50, "text/plain", "e2")
    info = broker.get_info()
    assert (info["object_count"], info["bytes_used"]) == (2, 150)
    broker.put_object("a", ts(12), 7, "text/plain", "e3")  # overwrite
    info = broker.get_info()
    assert (info["object_count"], info["bytes_used"]) == (2, 57)
    broker.delete_object("b", ts(13))
    info = broker.get_info()
    assert (info["object_count"], info["bytes_used"]) == (1, 7)
    assert not broker.empty()
    broker.delete_object("a", ts(14))
    assert broker.empty()
    assert broker.list_objects_iter(10, "", None, None, None) == []


def test_older_updates_do_not_win(broker):
    broker.put_object("o", ts(20), 5, "text/plain", "new")
    broker.delete_object("o", ts(15))  # an old delete arriving late
    broker.put_object("o", ts(10), 9, "text/plain", "old")  # an old put arriving late
    rows = broker.list_objects_iter(10, "", None, None, None)
    assert rows == [("o", ts(20), 5, "text/plain", "new")]
    broker.delete_object("o", ts(30))
    broker.put_object("o", ts(25), 1, "text/plain", "older than the delete")
    assert broker.list_objects_iter(10, "", None, None, None) == []
    assert broker.get_info()["object_count"] == 0


update_st = st.tuples(st.sampled_from(["x", "y", "z/1"]), st.booleans(),
                      st.integers(0, 1000), st.integers(1, 60))


@settings(max_examples=25, deadline=None)
@given(updates=st.lists(update_st, min_size=1, max_size=25,
                        unique_by=lambda u: u[3]))  # unique timestamps: no ties
def test_newest_wins_in_any_order_and_stats_match(updates):
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "sda"))
        results = []
        for order in (updates, list(reversed(updates))):
            broker = new_broker(tmp, container=f"c{len(results)}", pending_cap=4096)
            for name, deleted, size, when in order:
                if deleted:
                    broker.delete_object(name, ts(when))
                else:
                    broker.put_object(name, ts(when), size, "text/plain", f"etag{when}")
            rows = broker.list_objects_iter(100, "", None, None, None)
            info = broker.get_info()
            results.append((rows, info["object_count"], info["bytes_used"], info["hash"]))
        newest = {}
        for name, deleted, size, when in updates:
            if name not in newest or when > newest[name][2]:
                newest[name] = (deleted, size, when)
        expected = [(name, ts(when), size, "text/plain", f"etag{when}")
                    for name, (deleted, size, when) in sorted(newest.items()) if not deleted]
        assert results[0][0] == expected
        assert results[0][1] == len(expected)
        assert results[0][2] == sum(row[2] for row in expected)
        assert results[0] == results[1]  # same rows, same stats, same hash


def test_content_type_and_metadata_timestamps_merge_by_field(broker):
    broker.put_object("o", ts(10), 5, "text/plain", "e10")
    # a POST changed the content type at 30 (the object server reports it this way)
    broker.put_object("o", ts(10), 5, "image/png", "e10", ctype_timestamp=ts(30),
                      meta_timestamp=ts(30))
    # a later-arriving data update from 20: new size/etag, but the content type of 30 stays
    broker.put_object("o", ts(20), 8, "text/html", "e20")
    rows = broker.list_objects_iter(10, "", None, None, None)
    assert rows == [("o", ts(30), 8, "image/png", "e20")]
    created_at = broker.get_items_since(-1, 10)[-1]["created_at"]
    assert decode_timestamps(created_at) == (Timestamp(20), Timestamp(30), Timestamp(30))


def test_swift_bytes_follows_the_data_and_the_type_follows_its_timestamp(broker):
    broker.put_object("m", ts(10), 0, "application/x;swift_bytes=100", "e")
    broker.put_object("m", ts(10), 0, "text/new", "e", ctype_timestamp=ts(12))
    item = broker.get_items_since(-1, 10)[-1]
    assert item["content_type"] == "text/new;swift_bytes=100"


@given(data=st.integers(0, 10 ** 14), d1=st.integers(-10 ** 6, 10 ** 6),
       d2=st.integers(-10 ** 6, 10 ** 6), offset=st.integers(0, 5))
def test_timestamp_encoding_round_trips(data, d1, d2, offset):
    t1 = Timestamp(0, delta=data, offset=offset)
    t2 = Timestamp(0, delta=max(data + d1, 0))
    t3 = Timestamp(0, delta=max(t2.raw + d2, 0))
    encoded = encode_timestamps(t1, t2, t3)
    got = decode_timestamps(encoded)
    assert got[0] == t1
    assert (got[1].raw, got[2].raw) == (t2.raw, t3.raw)
    if t1.raw == t2.raw == t3.raw:
        assert encoded == t1.internal  # a plain PUT is stored as its timestamp alone


def test_policy_stats_misplaced_rows_and_empty(broker):
    broker.put_object("o", ts(10), 10, "text/plain", "e", storage_policy_index=0)
    broker.put_object("o", ts(11), 20, "text/plain", "e", storage_policy_index=1)
    assert broker.get_policy_stats() == {0: {"object_count": 1, "bytes_used": 10},
                                         1: {"object_count": 1, "bytes_used": 20}}
    assert broker.get_info()["object_count"] == 1  # the container's own policy (0)
    misplaced = broker.get_misplaced_since(-1, 10)
    assert [(m["name"], m["storage_policy_index"]) for m in misplaced] == [("o", 1)]
    assert broker.list_objects_iter(10, "", None, None, None, storage_policy_index=1)[0][2] == 20
    broker.delete_object("o", ts(12), storage_policy_index=0)
    assert not broker.empty()  # a misplaced object still counts
    broker.delete_object("o", ts(13), storage_policy_index=1)
    assert broker.empty()


def test_set_storage_policy_index_reported_and_sync_points(broker):
    broker.set_storage_policy_index(2, timestamp=ts(50))
    info = broker.get_info()
    assert info["storage_policy_index"] == 2 and info["status_changed_at"] == ts(50)
    assert broker.storage_policy_index == 2
    broker.reported(ts(5), ts(0), 3, 30)
    info = broker.get_info()
    assert (info["reported_put_timestamp"], info["reported_object_count"],
            info["reported_bytes_used"]) == (ts(5), 3, 30)
    broker.set_x_container_sync_points(7, None)
    broker.set_x_container_sync_points(None, 4)
    info = broker.get_info()
    assert (info["x_container_sync_point1"], info["x_container_sync_point2"]) == (7, 4)
    broker.newid("peer")
    assert broker.get_info()["reported_object_count"] == 0


def test_get_info_has_every_documented_key(broker):
    keys = {"account", "container", "created_at", "put_timestamp", "delete_timestamp",
            "status_changed_at", "object_count", "bytes_used", "reported_put_timestamp",
            "reported_delete_timestamp", "reported_object_count", "reported_bytes_used",
            "hash", "id", "x_container_sync_point1", "x_container_sync_point2",
            "storage_policy_index"}
    assert keys <= set(broker.get_info())


def test_pending_file_is_merged_when_it_passes_the_cap(devices):
    broker = new_broker(devices, pending_cap=2048)
    for i in range(100):
        broker.put_object(f"o{i:03d}", ts(10 + i), 1, "text/plain", "e")
        assert os.path.getsize(broker.pending_file) <= 2048
    # rows went into sqlite along the way, without any read forcing a merge
    with broker.get() as conn:
        merged = conn.execute("SELECT count(*) FROM object").fetchone()[0]
    assert merged >= 100 - 2048 // 60
    assert broker.get_info()["object_count"] == 100


def test_reclaim_removes_old_deleted_rows_only(broker):
    broker.put_object("live", ts(10), 1, "text/plain", "e")
    broker.delete_object("old", ts(10))
    broker.delete_object("recent", ts(100))
    hash_before = broker.get_info()["hash"]
    broker.reclaim(ts(50), 0)
    names = [item["name"] for item in broker.get_items_since(-1, 10)]
    assert names == ["live", "recent"]
    info = broker.get_info()
    assert info["object_count"] == 1 and info["hash"] != hash_before


@settings(max_examples=60, deadline=None)
@given(names=st.lists(st.text(ALPHABET, min_size=1, max_size=5), max_size=25),
       deleted=st.lists(st.text(ALPHABET, min_size=1, max_size=5), max_size=5),
       limit=st.integers(0, 12), marker=st.text(ALPHABET, max_size=4),
       end_marker=st.one_of(st.none(), st.text(ALPHABET, max_size=4)),
       prefix=st.one_of(st.none(), st.text(ALPHABET, max_size=3)),
       delimiter=st.sampled_from([None, "/", "a", "a/", "//"]),
       path=st.one_of(st.none(), st.text(ALPHABET, max_size=3)), reverse=st.booleans())
def test_listing_matches_the_model(names, deleted, limit, marker, end_marker, prefix,
                                   delimiter, path, reverse):
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "sda"))
        broker = new_broker(tmp)
        item = {"created_at": ts(10), "size": 1, "content_type": "text/plain", "etag": "e",
                "deleted": 0, "storage_policy_index": 0}
        items = [dict(item, name=name) for name in names]
        for name in deleted:  # deleted rows and other policies must never show
            items.append(dict(item, name=name, created_at=ts(20), deleted=1))
            items.append(dict(item, name=name + "!", storage_policy_index=1))
        broker.merge_items(items)  # one transaction: keeps the example cheap
        live = set(names) - set(deleted)
        rows = broker.list_objects_iter(limit, marker, end_marker, prefix, delimiter, path,
                                        reverse=reverse)
        got = [(row[0], row[3] is None) for row in rows]
        assert got == listing_model(live, limit, marker, end_marker, prefix, delimiter, path,
                                    reverse)


def test_listing_10000_objects_is_one_fast_indexed_query(broker):
    names = [f"photos/{i:05d}.jpg" for i in range(10000)]
    random.Random(3).shuffle(names)
    broker.merge_items([{"name": n, "created_at": ts(10), "size": 1, "content_type": "image/jpeg",
                         "etag": "e", "deleted": 0, "storage_policy_index": 0} for n in names])
    with broker.get() as conn:
        plan = " ".join(str(r) for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT name FROM object WHERE deleted = 0 AND name > ? "
            "AND storage_policy_index = ? ORDER BY name LIMIT ?", ("a", 0, 10)))
    assert "ix_object_deleted_name" in plan and "TEMP B-TREE" not in plan
    start = time.perf_counter()
    rows = broker.list_objects_iter(10000, "", None, None, None)
    elapsed = time.perf_counter() - start
    assert [r[0] for r in rows] == sorted(names)
    assert elapsed < 1.0, f"listing 10000 rows took {elapsed:.3f}s"


def test_is_deleted_is_kept_until_the_file_or_this_broker_changes_it(broker):
    assert broker.is_deleted() is False
    before = broker._deleted_cache
    assert broker.is_deleted() is False and broker._deleted_cache is before  # no query
    # another broker (another worker or daemon) deletes the container: the file changes.
    # (20 ms apart, so that even a kernel with coarse file times shows a new one.)
    time.sleep(0.02)
    other = ContainerBroker(broker.db_file, account="a", container="c")
    other.delete_db(ts(5))
    assert broker.is_deleted() is True
    # this broker's own writes drop what it kept at once
    broker.update_put_timestamp(ts(6))
    assert broker._deleted_cache is None and broker.is_deleted() is False
    os.unlink(broker.db_file)
    assert broker.is_deleted() is True
