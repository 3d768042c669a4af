"""Quorum and best-answer selection."""

from hypothesis import given
from hypothesis import strategies as st

from oiofs.common.timestamp import Timestamp
from oiofs.proxy.quorum import (
    best_status,
    pick_newest,
    quorum_size,
    read_failure_status,
    response_timestamp,
)


def test_quorum_sizes():
    assert [quorum_size(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 2, 3, 3]


def test_best_status_classes():
    assert best_status([201, 201, 201], 2) == 201
    assert best_status([201, 503, 201], 2) == 201
    assert best_status([201, 202, 202], 2) == 202  # highest of the winning class
    assert best_status([204, 404, 404], 2) == 404
    assert best_status([412, 412, 201], 2) == 412
    assert best_status([201, 503, 503], 2) == 503
    assert best_status([507, 507, 507], 2) == 503
    assert best_status([], 2) == 503


@given(st.lists(st.sampled_from([201, 204, 404, 409, 412, 499, 503, 507]),
                min_size=1, max_size=6))
def test_best_status_needs_a_quorum(statuses):
    quorum = quorum_size(len(statuses))
    status = best_status(statuses, quorum)
    if status != 503:
        same_class = [s for s in statuses if s // 100 == status // 100]
        assert len(same_class) >= quorum
        assert status in statuses


def test_read_failure_status():
    assert read_failure_status([404, 404, 404], 2) == 404
    assert read_failure_status([503, 404, 404], 2) == 404
    assert read_failure_status([503, 503, 404], 2) == 503
    assert read_failure_status([404], 2) == 404  # every node that answered said 404
    assert read_failure_status([503, 503, 503], 2) == 503


def test_response_timestamp_takes_the_newest_key():
    headers = {"x-timestamp": "0000000100.00000", "x-backend-timestamp": "0000000200.00000"}
    assert response_timestamp(headers) == Timestamp(200)
    assert response_timestamp({"x-timestamp": "garbage"}) is None


def test_pick_newest_prefers_newest_copy():
    t1, t2 = Timestamp(100), Timestamp(200)
    assert pick_newest([(200, t1), (200, t2), (404, None)]) == 1


def test_pick_newest_newer_tombstone_wins():
    old, tomb = Timestamp(100), Timestamp(200)
    assert pick_newest([(200, old), (404, tomb), (200, old)]) is None


def test_pick_newest_older_tombstone_loses():
    tomb, new = Timestamp(100), Timestamp(200)
    assert pick_newest([(404, tomb), (200, new)]) == 1


def test_pick_newest_nothing_found():
    assert pick_newest([(404, None), (404, None)]) is None
