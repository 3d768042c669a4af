"""The database replicator between real container servers (subprocesses) in a real ring.

Three container servers on 127.0.0.1, each with its own devices directory, and a fourth
ring device on a port nobody listens on (a node that is down). Two replicas, so every
partition has handoffs. Databases are made with the brokers directly on the nodes'
disks; the replicator runs in this process, one node at a time, over HTTP.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import time

import pytest

from oiofs.common.db.broker import db_dir_for
from oiofs.common.hashing import hash_path
from oiofs.common.ring import Ring, RingBuilder
from oiofs.common.timestamp import Timestamp
from oiofs.container.backend import ContainerBroker
from oiofs.container.replicator import ContainerReplicator
from tests.support.servers import ServerProcess, free_port, write_cluster_conf, write_server_conf
from tests.support.waiting import wait_for

LIVE = 3
LOG = logging.getLogger("test.db_replicator")


class Node:
    def __init__(self, number: int, devices: str, port: int):
        self.number = number
        self.device = f"d{number}"
        self.devices = devices
        self.port = port


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("dbrepl")
    etc = str(base / "etc")
    write_cluster_conf(etc)
    nodes = []
    builder = RingBuilder(4, 2, 0)
    for number in range(1, LIVE + 2):
        devices = str(base / f"node{number}")
        os.makedirs(os.path.join(devices, f"d{number}"))
        node = Node(number, devices, free_port())
        nodes.append(node)
        builder.add_dev({"region": 1, "zone": number, "ip": "127.0.0.1", "port": node.port,
                         "device": node.device, "weight": 100})
    builder.rebalance(seed=1)
    builder.get_ring().save(os.path.join(etc, "container.ring.gz"))
    procs = []
    try:
        for node in nodes[:LIVE]:
            conf = write_server_conf(str(base / f"container{node.number}.conf"),
                                     "egg:oiofs#container", {
                                         "bind_port": node.port, "workers": 0,
                                         "devices": node.devices, "mount_check": "false",
                                         "oiofs_dir": etc, "log_level": "WARNING"})
            procs.append(ServerProcess("container", conf, node.port).start())
        yield {"nodes": nodes, "etc": etc, "ring": Ring(etc, ring_name="container")}
    finally:
        for proc in procs:
            proc.kill()


class Clock:
    def __init__(self):
        self.now = time.time() - 100

    def __call__(self) -> str:
        self.now += 0.01
        return Timestamp(self.now).internal


@pytest.fixture
def ts():
    return Clock()


_names = iter(range(1_000_000))


def pick_container(cluster, live_primaries: bool = True, live_handoff: bool = False):
    """A fresh container name whose primaries are live (or include the dead node)."""
    ring = cluster["ring"]
    dead = cluster["nodes"][LIVE].port
    while True:
        name = f"c{next(_names)}"
        part, primaries = ring.get_nodes("acct", name)
        ports = [n["port"] for n in primaries]
        if live_primaries != (dead not in ports):
            continue
        handoff = next(iter(ring.get_more_nodes(part)))
        if live_handoff and handoff["port"] == dead:
            continue
        by_port = {n.port: n for n in cluster["nodes"]}
        return (name, part, [by_port[p] for p in ports], by_port[handoff["port"]])


def broker_on(node: Node, part: int, container: str) -> ContainerBroker:
    _dir, db_file = db_dir_for(node.devices, node.device, "containers", part, "acct",
                               container)
    return ContainerBroker(db_file, account="acct", container=container)


def make_db(node, part, container, ts, objects=(), deleted=()):
    broker = broker_on(node, part, container)
    broker.initialize(ts(), storage_policy_index=0)
    for name in objects:
        broker.put_object(name, ts(), len(name), "text/plain", "etag")
    for name in deleted:
        broker.delete_object(name, ts())
    broker.commit_pending()
    return broker


def replicator(cluster, node: Node, **options) -> ContainerReplicator:
    conf = {"devices": node.devices, "mount_check": "false", "bind_ip": "127.0.0.1",
            "bind_port": str(node.port), "oiofs_dir": cluster["etc"], "conn_timeout": "0.5",
            "node_timeout": "5", **{k: str(v) for k, v in options.items()}}
    return ContainerReplicator(conf, logger=LOG, ring=cluster["ring"])


def replicate(cluster, node: Node, broker: ContainerBroker, **options):
    """One database through the replicator of ``node``; that replication's counters."""
    rep = replicator(cluster, node, **options)
    dev = next(d for d in cluster["ring"].devs if d["port"] == node.port)
    part = int(broker.db_file.split(os.sep)[-4])
    rep.replicate_db(dev, part, broker.db_file)
    rep.pool.close_all()
    return rep.stats


def rows(broker) -> list[tuple]:
    return [(r["name"], r["created_at"], r["deleted"]) for r in
            sorted(broker.get_items_since(-1, 100000), key=lambda r: r["name"])]


def test_run_once_replicates_every_local_database(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    make_db(a, part, name, ts, objects=["x"])
    stats = replicator(cluster, a).run_once()
    assert stats.checked >= 1 and stats.whole_copies >= 1
    assert rows(broker_on(b, part, name)) == rows(broker_on(a, part, name))


def test_rows_merged_both_ways_then_in_sync_pass_sends_nothing(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    one = make_db(a, part, name, ts, objects=["x", "y", "shared"])
    two = make_db(b, part, name, ts, objects=["z", "shared"], deleted=["y"])
    stats = replicate(cluster, a, one)
    assert stats.diffs == 1 and stats.rows_sent == 3 and stats.failures == 0
    stats = replicate(cluster, b, two)
    assert stats.diffs == 1 and stats.failures == 0
    assert rows(one) == rows(two)
    live = {r[0] for r in rows(one) if not r[2]}
    assert live == {"x", "z", "shared"}  # y was deleted after it was put
    assert one.get_info()["hash"] == two.get_info()["hash"]
    assert one.get_info()["object_count"] == two.get_info()["object_count"] == 3
    # another pass on each: the peer is in sync, no row goes anywhere, one request
    for node, broker in ((a, one), (b, two)):
        stats = replicate(cluster, node, broker)
        assert stats.rows_sent == 0 and stats.whole_copies == 0 and stats.diffs == 0
        assert stats.no_change == 1 and stats.requests == 1 and stats.failures == 0


def test_whole_copy_to_a_peer_without_the_database(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    source = make_db(a, part, name, ts, objects=[f"o{i}" for i in range(20)])
    source.update_metadata({"X-Container-Meta-Color": ["blue", ts()]})
    stats = replicate(cluster, a, source)
    assert stats.whole_copies == 1 and stats.failures == 0 and stats.requests == 2
    copy = broker_on(b, part, name)
    assert copy.exists()
    assert rows(copy) == rows(source)
    info, source_info = copy.get_info(), source.get_info()
    assert info["hash"] == source_info["hash"] and info["id"] != source_info["id"]
    assert copy.metadata["X-Container-Meta-Color"][0] == "blue"
    # the copy knows it holds every row of its source: no rows go either way now
    assert copy.get_sync(source_info["id"]) == source.get_max_row()
    assert replicate(cluster, a, source).no_change == 1
    back = replicate(cluster, b, copy)
    assert back.rows_sent == 0 and back.whole_copies == 0 and back.failures == 0
    # nothing left behind in the devices' tmp directories
    for node in (a, b):
        tmp = os.path.join(node.devices, node.device, "tmp")
        assert not os.path.isdir(tmp) or os.listdir(tmp) == []


def test_far_behind_peer_gets_a_copy_and_keeps_its_own_rows(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    ahead = make_db(a, part, name, ts, objects=[f"o{i:03d}" for i in range(300)])
    behind = make_db(b, part, name, ts, objects=["o000", "only-on-b"])
    stats = replicate(cluster, a, ahead, per_diff=50)
    assert stats.remote_merges == 1 and stats.rows_sent == 0 and stats.failures == 0
    names = {r[0] for r in rows(behind)}
    assert names == {f"o{i:03d}" for i in range(300)} | {"only-on-b"}
    assert behind.get_info()["object_count"] == 301
    # the peer recorded that it holds all of ours: the next pass is a no-op
    assert behind.get_sync(ahead.get_info()["id"]) == ahead.get_max_row()
    again = replicate(cluster, a, ahead, per_diff=50)
    assert again.no_change == 1 and again.remote_merges == 0
    # and the way back brings only-on-b over in rows
    back = replicate(cluster, b, behind, per_diff=50)
    assert back.failures == 0 and back.whole_copies == 0 and back.remote_merges == 0
    assert "only-on-b" in {r[0] for r in rows(ahead)}
    assert rows(ahead) == rows(behind)


def test_batches_are_capped_per_pass(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    one = make_db(a, part, name, ts, objects=[f"o{i}" for i in range(40)])
    other = make_db(b, part, name, ts, objects=[f"o{i}" for i in range(35)])
    stats = replicate(cluster, a, one, per_diff=10, max_diffs=1)
    # 40 rows are newer on a: one batch of 10 per pass, and the pass is not a success
    assert stats.diff_capped == 1 and stats.rows_sent == 10
    stats = replicate(cluster, a, one, per_diff=10, max_diffs=10)
    assert stats.diff_capped == 0 and stats.rows_sent == 30
    assert other.get_info()["object_count"] == 40


def test_metadata_and_timestamps_are_merged(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    one = make_db(a, part, name, ts)
    two = make_db(b, part, name, ts)
    one.update_metadata({"X-Container-Meta-A": ["1", ts()]})
    two.update_metadata({"X-Container-Meta-B": ["2", ts()]})
    newest_put = ts()
    one.update_put_timestamp(newest_put)
    replicate(cluster, a, one)
    for broker in (one, two):
        meta = broker.metadata
        assert meta["X-Container-Meta-A"][0] == "1" and meta["X-Container-Meta-B"][0] == "2"
    assert two.get_info()["put_timestamp"] == newest_put
    created = min(one.get_info()["created_at"], two.get_info()["created_at"])
    assert one.get_info()["created_at"] == two.get_info()["created_at"] == created


def test_a_deleted_container_replicates_its_deletion(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    one = make_db(a, part, name, ts, objects=["o"], deleted=["o"])
    two = make_db(b, part, name, ts)
    # an older PUT of the object reached only b: the deletion on a wins
    two.put_object("o", Timestamp(time.time() - 200).internal, 1, "text/plain", "e")
    one.delete_db(ts())
    assert one.is_deleted() and not two.is_deleted()
    replicate(cluster, a, one)
    assert two.is_deleted()


def test_handoff_is_pushed_to_every_primary_then_removed(cluster, ts):
    name, part, (a, b), handoff = pick_container(cluster, live_handoff=True)
    stray = make_db(handoff, part, name, ts, objects=["p", "q"])
    make_db(a, part, name, ts, objects=["r"])
    stats = replicate(cluster, handoff, stray)
    assert stats.removed_handoffs == 1 and stats.failures == 0
    assert not stray.exists()
    assert not os.path.exists(stray.db_dir)  # directory (and pending file) gone too
    for node in (a, b):
        names = {r[0] for r in rows(broker_on(node, part, name))}
        assert {"p", "q"} <= names


def test_handoff_stays_while_a_primary_is_down(cluster, ts):
    name, part, primaries, handoff = pick_container(cluster, live_primaries=False,
                                                    live_handoff=True)
    stray = make_db(handoff, part, name, ts, objects=["p"])
    stats = replicate(cluster, handoff, stray, node_timeout=1)
    assert stats.removed_handoffs == 0 and stats.failures == 1
    assert stray.exists()
    live = [n for n in primaries if n.port != cluster["nodes"][LIVE].port]
    assert len(live) == 1 and broker_on(live[0], part, name).exists()


def test_database_on_a_wrong_partition_moves_to_the_right_one(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    wrong = (part + 1) % cluster["ring"].partition_count
    stray = make_db(a, wrong, name, ts, objects=["m"])
    stats = replicate(cluster, a, stray)
    assert stats.removed_handoffs == 1
    assert not stray.exists()
    for node in (a, b):
        assert {r[0] for r in rows(broker_on(node, part, name))} == {"m"}


def test_handoff_removal_refuses_a_database_that_changed(cluster, ts):
    name, part, (a, _b), handoff = pick_container(cluster, live_handoff=True)
    broker = make_db(handoff, part, name, ts, objects=["p"])
    rep = replicator(cluster, handoff)
    max_row = broker.get_max_row()
    broker.put_object("late", ts(), 1, "text/plain", "e")  # queued after the pass looked
    assert not rep.remove_db(broker, max_row)
    broker.commit_pending()
    assert not rep.remove_db(broker, max_row)  # merged: new last row
    assert broker.exists()
    assert rep.remove_db(broker, broker.get_max_row())
    assert not broker.exists()
    # a writer that was waiting for the pending file's lock is told the db is gone
    from oiofs.common.exceptions import DbNotFound

    with pytest.raises(DbNotFound):
        broker._pending.add(["x"], lambda entries: None)


def test_reclaim_after_every_primary_is_in_sync(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    one = make_db(a, part, name, ts, objects=["keep"])
    one.delete_object("gone", Timestamp(time.time() - 5000).internal)
    one.commit_pending()
    assert "gone" in {r[0] for r in rows(one)}
    stats = replicate(cluster, a, one, reclaim_age=1000)
    assert stats.whole_copies == 1
    assert {r[0] for r in rows(one)} == {"keep"}
    # the peer got the tombstone, and reclaims it on its own pass
    two = broker_on(b, part, name)
    assert "gone" in {r[0] for r in rows(two)}
    replicate(cluster, b, two, reclaim_age=1000)
    assert {r[0] for r in rows(two)} == {"keep"}
    assert one.get_info()["hash"] == two.get_info()["hash"]


def test_no_reclaim_while_a_primary_is_out_of_reach(cluster, ts):
    name, part, primaries, _ = pick_container(cluster, live_primaries=False)
    live = next(n for n in primaries if n.port != cluster["nodes"][LIVE].port)
    broker = make_db(live, part, name, ts)
    broker.delete_object("gone", Timestamp(time.time() - 5000).internal)
    broker.commit_pending()
    # nothing answers on the dead primary (no 507, so no handoff stands in): the
    # tombstone must stay until that primary has it
    stats = replicate(cluster, live, broker, reclaim_age=1000, node_timeout=1)
    assert stats.failures == 1
    assert "gone" in {r[0] for r in rows(broker)}


def test_deleted_database_past_reclaim_age_is_removed(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    long_ago = time.time() - 5000
    broker = make_db(a, part, name, lambda: Timestamp(long_ago - 10).internal)
    broker.delete_db(Timestamp(long_ago).internal)
    info = broker.get_info()
    # the account has not been told of the deletion yet: kept, and synced
    stats = replicate(cluster, a, broker, reclaim_age=1000)
    assert stats.removed_deleted == 0 and stats.whole_copies == 1 and broker.exists()
    broker.reported(info["put_timestamp"], info["delete_timestamp"], 0, 0)
    stats = replicate(cluster, a, broker, reclaim_age=1000)
    assert stats.removed_deleted == 1 and stats.requests == 0 and not broker.exists()


def test_quarantined_database_is_restored_by_a_peer(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    good = make_db(a, part, name, ts, objects=["k1", "k2"])
    bad = make_db(b, part, name, ts, objects=["k1", "k2"])
    with open(bad.db_file, "r+b") as handle:
        handle.write(b"garbage" * 20)
    stats = replicate(cluster, b, bad)
    assert stats.quarantined == 1
    assert not bad.exists()
    assert os.listdir(os.path.join(b.devices, b.device, "quarantined", "containers"))
    assert replicate(cluster, a, good).whole_copies == 1
    assert rows(broker_on(b, part, name)) == rows(good)


def test_interrupted_upload_leaves_no_database(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    name_hash = hash_path("acct", name)
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as sock:
        sock.sendall(f"REPLICATE /{b.device}/{part}/{name_hash} HTTP/1.1\r\nHost: x\r\n"
                     "Content-Type: application/vnd.sqlite3\r\nContent-Length: 100000\r\n"
                     "X-Backend-Replication-Id: someone\r\n\r\n".encode() + b"x" * 5000)
    # the server sees the body end short and answers 499 to nobody. Poll until its
    # temporary file is gone rather than sleeping a guessed time.
    tmp = os.path.join(b.devices, b.device, "tmp")
    wait_for(lambda: os.path.isdir(tmp) and os.listdir(tmp) == [], 10,
             "the temporary file to be removed")
    assert not broker_on(b, part, name).exists()


def test_sync_answer_carries_the_peer_info(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    make_db(b, part, name, ts, objects=["s"])
    local = make_db(a, part, name, ts, objects=["s"])
    info = local.get_replication_info()
    conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=5)
    conn.request("REPLICATE", f"/{b.device}/{part}/{hash_path('acct', name)}",
                 json.dumps(["sync", info]), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    remote = json.loads(resp.read())
    conn.close()
    assert resp.status == 200
    assert remote["point"] == -1 and remote["max_row"] == 1 and remote["id"] != info["id"]
    assert remote["hash"] != info["hash"]  # same name, different timestamps


def test_primary_without_its_device_is_replaced_by_a_handoff(cluster, ts):
    name, part, (a, b), handoff = pick_container(cluster, live_handoff=True)
    source = make_db(a, part, name, ts, objects=["h"])
    device_dir = os.path.join(b.devices, b.device)
    os.rename(device_dir, device_dir + ".away")  # b answers 507 for its device
    try:
        stats = replicate(cluster, a, source)
    finally:
        os.rename(device_dir + ".away", device_dir)
    assert stats.whole_copies == 1 and stats.failures == 1  # the 507, then the handoff
    assert {r[0] for r in rows(broker_on(handoff, part, name))} == {"h"}
    assert not broker_on(b, part, name).exists()


def test_a_peer_with_a_corrupt_database_gets_a_copy_in_the_same_pass(cluster, ts):
    name, part, (a, b), _ = pick_container(cluster)
    good = make_db(a, part, name, ts, objects=["v1"])
    bad = make_db(b, part, name, ts, objects=["v1"])
    with open(bad.db_file, "r+b") as handle:
        handle.write(b"garbage" * 20)
    stats = replicate(cluster, a, good)  # the peer quarantines it on the sync, then 404
    assert stats.whole_copies == 1 and stats.failures == 0
    assert rows(broker_on(b, part, name)) == rows(good)
    assert os.listdir(os.path.join(b.devices, b.device, "quarantined", "containers"))
