"""The container updater against three real account servers (subprocesses) in a real ring.

The container databases are real files on this node's device; the updater runs in this
process and reports over HTTP to the account ring's primaries.
"""

from __future__ import annotations

import http.client
import logging
import os

import pytest

from oiofs.common.db.broker import db_dir_for
from oiofs.common.ring import Ring, RingBuilder
from oiofs.common.timestamp import Timestamp
from oiofs.container.backend import ContainerBroker
from oiofs.container.updater import ContainerUpdater
from tests.support.servers import ServerProcess, free_port, write_cluster_conf, write_server_conf

LOG = logging.getLogger("test.container_updater")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("updater")
    etc = str(base / "etc")
    write_cluster_conf(etc)
    accounts = RingBuilder(2, 3, 0)
    servers = []
    for number in range(3):
        devices = str(base / f"acct{number}")
        os.makedirs(os.path.join(devices, "sda"))
        port = free_port()
        accounts.add_dev({"region": 1, "zone": number + 1, "ip": "127.0.0.1", "port": port,
                          "device": "sda", "weight": 100})
        conf = write_server_conf(str(base / f"account{number}.conf"), "egg:oiofs#account", {
            "bind_port": port, "workers": 0, "devices": devices, "mount_check": "false",
            "oiofs_dir": etc, "log_level": "WARNING"})
        servers.append(ServerProcess("account", conf, port))
    accounts.rebalance(seed=1)
    accounts.get_ring().save(os.path.join(etc, "account.ring.gz"))
    # this node's container device: nothing needs to listen on its port
    local_port = free_port()
    containers = RingBuilder(2, 1, 0)
    containers.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": local_port,
                        "device": "sdc", "weight": 100})
    containers.rebalance(seed=1)
    containers.get_ring().save(os.path.join(etc, "container.ring.gz"))
    devices = str(base / "local")
    os.makedirs(os.path.join(devices, "sdc"))
    try:
        for server in servers:
            server.start()
        yield {"etc": etc, "servers": servers, "devices": devices, "port": local_port,
               "account_ring": Ring(etc, ring_name="account")}
    finally:
        for server in servers:
            server.kill()


def request(port, method, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def create_account(cluster, account):
    part, nodes = cluster["account_ring"].get_nodes(account)
    for node in nodes:
        status, _ = request(node["port"], "PUT", f"/sda/{part}/{account}",
                            {"X-Timestamp": Timestamp.now().internal})
        assert status == 201


def account_stats(cluster, account) -> list[tuple[str, str, str]]:
    """Per account primary: (containers, objects, bytes) as its HEAD says."""
    part, nodes = cluster["account_ring"].get_nodes(account)
    result = []
    for node in nodes:
        _status, headers = request(node["port"], "HEAD", f"/sda/{part}/{account}")
        result.append((headers.get("x-account-container-count"),
                       headers.get("x-account-object-count"),
                       headers.get("x-account-bytes-used")))
    return result


def make_container(cluster, account, container, sizes=()):
    _dir, db_file = db_dir_for(cluster["devices"], "sdc", "containers", 1, account, container)
    broker = ContainerBroker(db_file, account=account, container=container)
    broker.initialize(Timestamp.now().internal, storage_policy_index=0)
    for number, size in enumerate(sizes):
        broker.put_object(f"o{number}", Timestamp.now().internal, size, "text/plain", "e")
    return broker


def updater(cluster) -> ContainerUpdater:
    conf = {"devices": cluster["devices"], "mount_check": "false", "bind_ip": "127.0.0.1",
            "bind_port": str(cluster["port"]), "oiofs_dir": cluster["etc"],
            "node_timeout": "5"}
    return ContainerUpdater(conf, logger=LOG)


def test_reports_counts_then_only_changes(cluster):
    create_account(cluster, "AUTH_one")
    broker = make_container(cluster, "AUTH_one", "photos", sizes=[10, 20, 30])
    up = updater(cluster)
    assert up.process_container(broker.db_file)
    assert up.stats.reported == 1 and up.stats.requests == 3
    assert account_stats(cluster, "AUTH_one") == [("1", "3", "60")] * 3
    info = broker.get_info()
    assert (info["reported_object_count"], info["reported_bytes_used"]) == (3, 60)
    assert info["reported_put_timestamp"] == info["put_timestamp"]
    # nothing changed: no request
    up = updater(cluster)
    assert up.process_container(broker.db_file)
    assert up.stats.no_change == 1 and up.stats.requests == 0
    # an object goes: reported again
    broker.delete_object("o0", Timestamp.now().internal)
    up = updater(cluster)
    up.process_container(broker.db_file)
    assert up.stats.reported == 1
    assert account_stats(cluster, "AUTH_one") == [("1", "2", "50")] * 3


def test_run_once_walks_every_local_container(cluster):
    create_account(cluster, "AUTH_walk")
    for name in ("c1", "c2"):
        make_container(cluster, "AUTH_walk", name, sizes=[5])
    stats = updater(cluster).run_once()
    assert stats.reported >= 2 and stats.failures == 0
    assert account_stats(cluster, "AUTH_walk") == [("2", "2", "10")] * 3


def test_a_deleted_container_leaves_the_account(cluster):
    create_account(cluster, "AUTH_del")
    broker = make_container(cluster, "AUTH_del", "gone")
    assert updater(cluster).process_container(broker.db_file)
    assert account_stats(cluster, "AUTH_del")[0][0] == "1"
    broker.delete_db(Timestamp.now().internal)
    assert updater(cluster).process_container(broker.db_file)
    assert account_stats(cluster, "AUTH_del") == [("0", "0", "0")] * 3


def test_quorum_is_enough_and_less_is_retried(cluster):
    create_account(cluster, "AUTH_q")
    broker = make_container(cluster, "AUTH_q", "c", sizes=[7])
    part, nodes = cluster["account_ring"].get_nodes("AUTH_q")
    by_port = {s.port: s for s in cluster["servers"]}
    down = [by_port[n["port"]] for n in nodes[:2]]
    down[0].kill()
    try:
        up = updater(cluster)
        assert up.process_container(broker.db_file)  # 2 of 3 answered
        assert up.stats.reported == 1
        broker.put_object("more", Timestamp.now().internal, 3, "text/plain", "e")
        down[1].kill()
        up = updater(cluster)
        assert not up.process_container(broker.db_file)  # 1 of 3: not reported
        assert up.stats.failures == 1
        assert broker.get_info()["reported_object_count"] == 1
    finally:
        for server in down:
            server.start()
    up = updater(cluster)
    assert up.process_container(broker.db_file)
    assert broker.get_info()["reported_object_count"] == 2


def test_missing_account_is_counted_and_not_reported(cluster):
    broker = make_container(cluster, "AUTH_nobody", "c", sizes=[1])
    up = updater(cluster)
    assert not up.process_container(broker.db_file)
    assert up.stats.account_missing == 1
    assert broker.get_info()["reported_object_count"] == 0


def test_unreadable_database_is_quarantined_not_reported(cluster):
    broker = make_container(cluster, "AUTH_bad", "c")
    with open(broker.db_file, "r+b") as handle:
        handle.write(b"\0" * 100)
    up = updater(cluster)
    assert not up.process_container(broker.db_file)
    assert up.stats.quarantined == 1 and not broker.exists()
