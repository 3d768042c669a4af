"""The backend protocol's update headers: dealing them (proxy) and parsing them (servers)."""

from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oiofs.common.backend_protocol import (
    UpdateTarget,
    deal_update_headers,
    environ_key,
    parse_update_targets,
)


def nodes(count):
    return [{"ip": "127.0.0.1", "port": 6000 + i, "device": f"d{i}"} for i in range(count)]


def test_one_queue_replica_per_object_replica():
    headers = deal_update_headers("X-Delete-At", 9, nodes(3), 3, 2, 2)
    assert [h["X-Delete-At-Host"] for h in headers] == \
        ["127.0.0.1:6000", "127.0.0.1:6001", "127.0.0.1:6002"]
    assert [h["X-Delete-At-Device"] for h in headers] == ["d0", "d1", "d2"]
    assert {h["X-Delete-At-Partition"] for h in headers} == {"9"}


def test_a_quorum_of_slots_reaches_a_quorum_of_nodes():
    # 3 queue replicas, 2 object replicas: one slot tells two replicas
    headers = deal_update_headers("X-Container", 1, nodes(3), 2, 2, 2)
    assert headers[0]["X-Container-Device"] == "d0,d2"
    assert headers[1]["X-Container-Device"] == "d1"
    # 5 object replicas of which 3 may succeed, 3 queue replicas with quorum 2: any 3
    # slots together send at least 2 updates
    headers = deal_update_headers("X-Container", 1, nodes(3), 5, 2, 3)
    sent = [len(h["X-Container-Device"].split(",")) if h else 0 for h in headers]
    assert sum(sent) == 4
    for trio in combinations(sent, 3):
        assert sum(trio) >= 2


def test_erasure_coded_put_one_update_per_container_replica():
    # ec42: 6 archives, k + 1 = 5 must commit; 3 container replicas, quorum 2. Swift's
    # Qc + Ro - Qo = 3 updates, one per replica, and any 5 committed slots still name 2
    # distinct replicas.
    headers = deal_update_headers("X-Container", 1, nodes(3), 6, 2, 5)
    named = [set(h["X-Container-Device"].split(",")) if h else set() for h in headers]
    assert sum(len(n) for n in named) == 3
    assert set().union(*named) == {"d0", "d1", "d2"}
    for five in combinations(named, 5):
        assert len(set().union(*five)) >= 2
    # a DELETE of the same object is decided by a majority (4 of 6): one more update
    headers = deal_update_headers("X-Container", 1, nodes(3), 6, 2, 4)
    assert sum(len(h["X-Container-Device"].split(",")) for h in headers if h) == 4


def test_no_nodes_no_headers():
    assert deal_update_headers("X-Delete-At", 1, [], 3, 0, 2) == [{}, {}, {}]
    assert deal_update_headers("X-Delete-At", 1, nodes(3), 0, 2, 0) == []


def test_by_default_each_node_is_dealt_once():
    # container -> account updates: 3 account replicas over 3 or 2 container replicas
    headers = deal_update_headers("X-Account", 4, nodes(3), 3)
    assert [h["X-Account-Device"] for h in headers] == ["d0", "d1", "d2"]
    headers = deal_update_headers("X-Account", 4, nodes(3), 2)
    assert [h["X-Account-Device"] for h in headers] == ["d0,d2", "d1"]
    assert deal_update_headers("X-Account", 4, nodes(1), 3)[1:] == [{}, {}]


@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 1000))
def test_what_is_dealt_parses_back(node_count, slots, part):
    dealt = deal_update_headers("X-Container", part, nodes(node_count), slots)
    seen = []
    for slot in dealt:
        seen += parse_update_targets(slot.get("X-Container-Host"),
                                     slot.get("X-Container-Device"),
                                     slot.get("X-Container-Partition"))
    assert sorted(t.device for t in seen) == sorted(n["device"] for n in nodes(node_count))
    assert {t.partition for t in seen} == {str(part)}


def test_environ_key():
    assert environ_key("X-Backend-Replication-Op") == "HTTP_X_BACKEND_REPLICATION_OP"


def test_one_target():
    assert parse_update_targets("127.0.0.1:6201", "sdb", "12") == [
        UpdateTarget("127.0.0.1", 6201, "sdb", "12")]


def test_several_targets_share_one_partition():
    assert parse_update_targets("127.0.0.1:1, 127.0.0.2:2", "d1, d2", "5") == [
        UpdateTarget("127.0.0.1", 1, "d1", "5"), UpdateTarget("127.0.0.2", 2, "d2", "5")]


def test_ipv6_hosts():
    assert parse_update_targets("[::1]:6201", "d", "1") == [UpdateTarget("::1", 6201, "d", "1")]


def test_absent():
    assert parse_update_targets(None, None, None) == []
    assert parse_update_targets("", "d", "1") == []


@pytest.mark.parametrize("hosts, devices, parts", [
    ("127.0.0.1:1,127.0.0.1:2", "d1", "1"),
    ("127.0.0.1:1", "d1,d2", "1"),
    ("127.0.0.1:1,127.0.0.1:2", "d1,d2", "1,2,3"),
    ("127.0.0.1", "d", "1"),
    ("127.0.0.1:port", "d", "1"),
    ("127.0.0.1:1", "", "1"),
    ("127.0.0.1:1", "d", None),
    ("127.0.0.1:1", "d", "x1"),
])
def test_mismatches_are_refused(hosts, devices, parts):
    with pytest.raises(ValueError):
        parse_update_targets(hosts, devices, parts)
