"""AccountBroker on real sqlite files: container reports, totals, policies, listings."""

import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oiofs.account.backend import AccountBroker
from oiofs.common.db.broker import db_dir_for
from oiofs.common.timestamp import Timestamp
from tests.support.listing_model import ALPHABET, listing_model


def ts(value):
    return Timestamp(value).internal


def new_broker(devices, account="a"):
    _dir, db_file = db_dir_for(devices, "sda", "accounts", 5, account)
    broker = AccountBroker(db_file, account=account)
    broker.initialize(ts(1))
    return broker


@pytest.fixture
def broker(devices):
    return new_broker(devices)


def totals(broker):
    info = broker.get_info()
    return info["container_count"], info["object_count"], info["bytes_used"]


def test_reports_update_totals_and_latest_counts_win(broker):
    broker.put_container("c1", ts(10), ts(0), 3, 300)
    broker.put_container("c2", ts(11), ts(0), 1, 10)
    assert totals(broker) == (2, 4, 310)
    broker.put_container("c1", ts(10), ts(0), 5, 500)  # a newer report of c1
    assert totals(broker) == (2, 6, 510)
    broker.put_container("c2", ts(11), ts(20), 0, 0)  # c2 deleted
    assert totals(broker) == (1, 5, 500)
    rows = broker.list_containers_iter(10, "", None, None, None)
    assert rows == [("c1", 5, 500, ts(10), 0)]
    broker.put_container("c2", ts(15), ts(0), 0, 0)  # a late report older than the delete
    assert totals(broker) == (1, 5, 500)
    items = {i["name"]: i for i in broker.get_items_since(-1, 10)}
    assert items["c2"]["deleted"] == 1 and items["c2"]["delete_timestamp"] == ts(20)


def test_identical_report_changes_nothing(broker):
    broker.put_container("c", ts(10), ts(0), 1, 1)
    broker.commit_pending()
    max_row = broker.get_max_row()
    broker.put_container("c", ts(10), ts(0), 1, 1)
    broker.commit_pending()
    assert broker.get_max_row() == max_row  # no new ROWID: nothing new to replicate


def test_policy_stats(broker):
    broker.put_container("gold", ts(10), ts(0), 2, 20, storage_policy_index=0)
    broker.put_container("silver", ts(10), ts(0), 3, 30, storage_policy_index=1)
    assert broker.get_policy_stats() == {
        0: {"container_count": 1, "object_count": 2, "bytes_used": 20},
        1: {"container_count": 1, "object_count": 3, "bytes_used": 30}}
    # deleted and re-created in another policy: the stats move with it
    broker.put_container("gold", ts(10), ts(11), 0, 0, storage_policy_index=0)
    broker.put_container("gold", ts(12), ts(11), 1, 5, storage_policy_index=1)
    stats = broker.get_policy_stats()
    assert stats[0] == {"container_count": 0, "object_count": 0, "bytes_used": 0}
    assert stats[1] == {"container_count": 2, "object_count": 4, "bytes_used": 35}


def test_deleted_status_and_empty(broker):
    assert broker.empty() and not broker.is_deleted()
    broker.put_container("c", ts(10), ts(0), 0, 0)
    assert not broker.empty()
    broker.delete_db(ts(50))
    assert broker.is_deleted() and broker.is_status_deleted()
    info, deleted = broker.get_info_is_deleted()
    assert deleted and info["status"] == "DELETED"


def test_hash_is_order_independent(devices):
    reports = [("a", ts(10), ts(0), 1, 1), ("b", ts(11), ts(0), 2, 2),
               ("a", ts(10), ts(12), 0, 0)]
    first = new_broker(devices, "one")
    for report in reports:
        first.put_container(*report)
    second = new_broker(devices, "two")
    second.merge_items([{"name": "b", "put_timestamp": ts(11), "delete_timestamp": ts(0),
                         "object_count": 2, "bytes_used": 2, "deleted": 0,
                         "storage_policy_index": 0}])
    for report in reversed(reports[::2]):
        second.put_container(*report)
    assert first.get_info()["hash"] == second.get_info()["hash"]
    assert totals(first) == totals(second) == (1, 2, 2)


def test_reclaim_forgets_old_deleted_containers(broker):
    broker.put_container("gone", ts(10), ts(20), 0, 0)
    broker.put_container("live", ts(10), ts(0), 1, 1)
    broker.reclaim(ts(30), 0)
    assert [i["name"] for i in broker.get_items_since(-1, 10)] == ["live"]
    assert totals(broker) == (1, 1, 1)


@settings(max_examples=50, deadline=None)
@given(names=st.lists(st.text(ALPHABET, min_size=1, max_size=5), max_size=25),
       limit=st.integers(0, 12), marker=st.text(ALPHABET, max_size=4),
       end_marker=st.one_of(st.none(), st.text(ALPHABET, max_size=4)),
       prefix=st.one_of(st.none(), st.text(ALPHABET, max_size=3)),
       delimiter=st.sampled_from([None, "/", "a", "a/", "//"]), reverse=st.booleans())
def test_listing_matches_the_model(names, limit, marker, end_marker, prefix, delimiter,
                                   reverse):
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "sda"))
        broker = new_broker(tmp)
        broker.merge_items([{"name": n, "put_timestamp": ts(10), "delete_timestamp": ts(0),
                             "object_count": 1, "bytes_used": 2, "deleted": 0,
                             "storage_policy_index": 0} for n in names])
        rows = broker.list_containers_iter(limit, marker, end_marker, prefix, delimiter,
                                           reverse)
        got = [(row[0], bool(row[4])) for row in rows]
        assert got == listing_model(names, limit, marker, end_marker, prefix, delimiter,
                                    None, reverse)
        for row in rows:
            assert row[1:] == ((0, 0, "0", 1) if row[4] else (1, 2, ts(10), 0))
