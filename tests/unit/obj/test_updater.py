"""The object updater against a real container server (a subprocess) in a real ring.

The container ring has three replicas on three devices of one container server (zones
1-3), so a single process serves every replica and one replica can be made to fail for
real by taking its device directory away (the server answers 507). Pendings are real
files written by :func:`oiofs.obj.async_pending.write_async_pending` on this node's
device; the updater runs in this process.
"""

from __future__ import annotations

import json
import logging
import os
import time

import pytest

from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.hashing import hash_path
from oiofs.common.ring import Ring, RingBuilder
from oiofs.common.storage_policy import POLICIES
from oiofs.common.timestamp import Timestamp
from oiofs.obj.async_pending import async_dir, write_async_pending
from oiofs.obj.updater import ObjectUpdater, newest_first
from tests.support.servers import ServerProcess, free_port, write_cluster_conf, write_server_conf

LOG = logging.getLogger("test.object_updater")
DEVICES = ("sda", "sdb", "sdc")
POLICY = POLICIES.get_by_index(0)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("objupdater")
    etc = str(base / "etc")
    write_cluster_conf(etc)
    port = free_port()
    builder = RingBuilder(2, 3, 0)
    for zone, device in enumerate(DEVICES, 1):
        builder.add_dev({"region": 1, "zone": zone, "ip": "127.0.0.1", "port": port,
                         "device": device, "weight": 100})
    builder.rebalance(seed=1)
    builder.get_ring().save(os.path.join(etc, "container.ring.gz"))
    devices = str(base / "containers")
    for device in DEVICES:
        os.makedirs(os.path.join(devices, device))
    conf = write_server_conf(str(base / "container.conf"), "egg:oiofs#container", {
        "bind_port": port, "workers": 0, "devices": devices, "mount_check": "false",
        "oiofs_dir": etc, "log_level": "WARNING"})
    server = ServerProcess("container", conf, port).start()
    try:
        yield {"etc": etc, "devices": devices, "server": server,
               "ring": Ring(etc, ring_name="container")}
    finally:
        server.kill()


@pytest.fixture
def node(tmp_path):
    """This object node's devices directory, with one device."""
    path = tmp_path / "node"
    os.makedirs(path / "sdo")
    return str(path)


def make_updater(cluster, node, **options) -> ObjectUpdater:
    conf = {"devices": node, "mount_check": "false", "oiofs_dir": cluster["etc"],
            "node_timeout": "5", "objects_per_second": "0", **options}
    return ObjectUpdater(conf, logger=LOG)


def create_container(cluster, account, container):
    part, nodes = cluster["ring"].get_nodes(account, container)
    for n in nodes:
        resp = direct_request(n["ip"], n["port"], "PUT",
                              backend_path(n["device"], part, account, container),
                              headers={"X-Timestamp": Timestamp.now().internal})
        assert resp.status in (201, 202)


def listings(cluster, account, container) -> dict[str, list]:
    """Per replica device: the (name, bytes, hash) rows of its listing."""
    part, nodes = cluster["ring"].get_nodes(account, container)
    result = {}
    for n in nodes:
        resp = direct_request(n["ip"], n["port"], "GET",
                              backend_path(n["device"], part, account, container),
                              query={"format": "json"})
        assert resp.status == 200, resp.status
        result[n["device"]] = [(r["name"], r["bytes"], r["hash"]) for r in resp.json()]
    return result


def pending(node, op, account, container, obj, timestamp, size=3, name_hash=None) -> str:
    headers = {"X-Timestamp": timestamp, "X-Backend-Storage-Policy-Index": "0",
               "X-Trans-Id": "tx-test", "User-Agent": "test"}
    if op == "PUT":
        headers.update({"X-Size": str(size), "X-Content-Type": "text/plain",
                        "X-Etag": "0" * 32})
    return write_async_pending(
        os.path.join(node, "sdo"), POLICY, name_hash or hash_path(account, container, obj),
        timestamp, {"op": op, "account": account, "container": container, "obj": obj,
                    "headers": headers})


def test_put_then_delete_reach_every_replica_and_the_pendings_go(cluster, node):
    create_container(cluster, "AUTH_u", "c1")
    path = pending(node, "PUT", "AUTH_u", "c1", "o1", Timestamp.now().internal)
    stats = make_updater(cluster, node).run_once()
    assert (stats.found, stats.successes, stats.failures, stats.unlinked) == (1, 1, 0, 1)
    assert not os.path.exists(path)
    assert not os.path.exists(os.path.dirname(path))  # the emptied suffix dir went too
    assert os.path.isdir(async_dir(os.path.join(node, "sdo"), POLICY))
    assert set(map(tuple, [rows for rows in listings(cluster, "AUTH_u", "c1").values()])) \
        == {(("o1", 3, "0" * 32),)}
    pending(node, "DELETE", "AUTH_u", "c1", "o1", Timestamp.now().internal)
    assert make_updater(cluster, node).run_once().successes == 1
    assert list(listings(cluster, "AUTH_u", "c1").values()) == [[], [], []]


def test_pending_is_kept_until_every_replica_accepted_it(cluster, node):
    create_container(cluster, "AUTH_u", "c2")
    part, nodes = cluster["ring"].get_nodes("AUTH_u", "c2")
    down, up = nodes[2], nodes[:2]
    device_dir = os.path.join(cluster["devices"], down["device"])
    os.rename(device_dir, device_dir + ".away")  # its server answers 507 for it
    try:
        path = pending(node, "PUT", "AUTH_u", "c2", "o", Timestamp.now().internal)
        stats = make_updater(cluster, node).run_once()
        assert (stats.successes, stats.failures, stats.unlinked) == (0, 1, 0)
        with open(path) as handle:
            assert sorted(json.load(handle)["successes"]) == sorted(
                str(n["id"]) for n in up)
    finally:
        os.rename(device_dir + ".away", device_dir)
    # now break a replica that already has the update: it must not be asked again
    first_dir = os.path.join(cluster["devices"], up[0]["device"])
    os.rename(first_dir, first_dir + ".away")
    try:
        stats = make_updater(cluster, node).run_once()
    finally:
        os.rename(first_dir + ".away", first_dir)
    assert (stats.successes, stats.unlinked) == (1, 1)
    assert not os.path.exists(path)
    assert all(rows == [("o", 3, "0" * 32)]
               for rows in listings(cluster, "AUTH_u", "c2").values())


def test_container_server_down_then_back(cluster, node):
    create_container(cluster, "AUTH_u", "c3")
    path = pending(node, "PUT", "AUTH_u", "c3", "o", Timestamp.now().internal)
    cluster["server"].kill()
    try:
        stats = make_updater(cluster, node, conn_timeout="0.2").run_once()
        assert (stats.successes, stats.failures) == (0, 1)
        assert os.path.exists(path)
        with open(path) as handle:
            assert "successes" not in json.load(handle)  # nobody accepted: not rewritten
    finally:
        cluster["server"].start()
    assert make_updater(cluster, node).run_once().successes == 1
    assert not os.path.exists(path)


def test_older_pending_for_the_same_name_is_dropped_unsent(cluster, node):
    create_container(cluster, "AUTH_u", "c4")
    name_hash = hash_path("AUTH_u", "c4", "kept")
    older = Timestamp.now()
    # an older pending under the same hash whose content would show if it were sent
    old_path = pending(node, "PUT", "AUTH_u", "c4", "never-sent", older.internal,
                       name_hash=name_hash)
    new_path = pending(node, "PUT", "AUTH_u", "c4", "kept", Timestamp(older, delta=1).internal,
                       name_hash=name_hash)
    stats = make_updater(cluster, node).run_once()
    assert (stats.found, stats.successes, stats.obsolete, stats.unlinked) == (2, 1, 1, 2)
    assert not os.path.exists(old_path) and not os.path.exists(new_path)
    assert all(rows == [("kept", 3, "0" * 32)]
               for rows in listings(cluster, "AUTH_u", "c4").values())


def test_bad_pending_is_quarantined_and_stale_temp_files_removed(cluster, node):
    suffix_dir = os.path.join(async_dir(os.path.join(node, "sdo"), POLICY), "abc")
    os.makedirs(suffix_dir)
    bad = os.path.join(suffix_dir, "f" * 29 + "abc-1700000000.00000")
    with open(bad, "w") as handle:
        handle.write("{not json")
    stale = os.path.join(suffix_dir, ".left.123.tmp")
    fresh = os.path.join(suffix_dir, ".busy.456.tmp")
    for path in (stale, fresh):
        open(path, "w").close()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    stats = make_updater(cluster, node).run_once()
    assert (stats.found, stats.quarantined, stats.successes) == (1, 1, 0)
    assert os.listdir(suffix_dir) == [".busy.456.tmp"]  # in use, and keeps its directory
    assert os.listdir(os.path.join(node, "sdo", "quarantined", "async_pending")) == \
        [os.path.basename(bad)]


def test_rate_limit_and_slowdown(cluster, node):
    create_container(cluster, "AUTH_u", "c5")
    for i in range(6):
        pending(node, "PUT", "AUTH_u", "c5", f"o{i}", Timestamp.now().internal)
    now = [1000.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    updater = make_updater(cluster, node, objects_per_second="2", slowdown="0.01")
    updater.clock, updater.sleep = (lambda: now[0]), sleep
    assert updater.run_once().successes == 6
    # six pendings at 2/s: at least 2.5 s between the first start and the last; the
    # slowdown sleeps come on top (and count as time the limiter has waited)
    assert slept.count(0.01) == 6
    assert 2.5 <= sum(slept) <= 3.1
    assert all(rows == [(f"o{i}", 3, "0" * 32) for i in range(6)]
               for rows in listings(cluster, "AUTH_u", "c5").values())


def test_newest_first_groups_by_hash():
    a, b = "a" * 32, "b" * 32
    names = [f"{a}-1700000000.00001", f"{b}-1700000000.00000", f"{a}-1700000000.00002",
             f"{a}-1700000000.00002_0000000000000001", "junk", ".tmp"]
    assert newest_first(names) == [
        (f"{b}-1700000000.00000", False),
        (f"{a}-1700000000.00002_0000000000000001", False),
        (f"{a}-1700000000.00002", True),
        (f"{a}-1700000000.00001", True),
    ]
