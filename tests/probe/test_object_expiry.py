"""Probe: objects with X-Delete-After go into the expiry queue, answer 404 once their time
has passed, and are removed from listings and disks by the object expirer.

The cluster runs without background daemons: the test runs the container updater (it
carries the queue containers to the hidden account) and the expirer on every node. One
short real wait for the expiry time is unavoidable (2 s).
"""

from __future__ import annotations

import http.client
import os

import pytest

from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.expiring import EXPIRING_ACCOUNT, queue_container, queue_object
from oiofs.common.ring import Ring
from tests.support.probe import ProbeClient, object_dirs
from tests.support.waiting import wait_for

pytestmark = pytest.mark.probe


def replica_names(cluster, account: str, container: str) -> list[list[str]]:
    """Per container primary: the names it lists (direct GET)."""
    ring = Ring(cluster.oiofs_dir, ring_name="container")
    part, nodes = ring.get_nodes(account, container)
    result = []
    for node in nodes:
        resp = direct_request(node["ip"], node["port"], "GET",
                              backend_path(node["device"], part, account, container),
                              query={"format": "json"})
        result.append(sorted(r["name"] for r in resp.json()) if resp.status == 200 else [])
    return result


def run(cluster, daemon: str) -> None:
    results = cluster.aio.run_once(daemon)
    assert set(results.values()) == {0}, (daemon, results)


def queued(cluster, account: str, name: str, delete_at: int) -> list[bool]:
    """Per queue replica: whether it lists the row of ``name`` expiring at ``delete_at``."""
    row = queue_object(delete_at, account, "expiry", name)
    return [row in names for names in
            replica_names(cluster, EXPIRING_ACCOUNT, queue_container(delete_at))]


def test_expired_object_is_removed_and_a_kept_one_stays(cluster):
    client = ProbeClient(cluster)
    client.put_container("expiry")
    delete_at = {}
    for name, after in (("doomed", "2"), ("spared", "3")):
        status, _ = client.request("PUT", f"/expiry/{name}", name.encode(),
                                   {"X-Delete-After": after})
        assert status == 201
        conn_status, headers = _head(client, f"/expiry/{name}")
        assert conn_status == 200
        delete_at[name] = int(headers["x-delete-at"])
        # queued on every replica of its queue container by the object servers
        wait_for(lambda n=name: queued(cluster, client.account, n, delete_at[n]) == [True] * 3,
                 timeout=5, what=f"{name} queued on every replica", interval=0.05)
    # the spared one loses its expiry (a POST without X-Delete-At replaces it), and its row
    assert client.request("POST", "/expiry/spared", headers={"X-Object-Meta-Kept": "yes"}
                          )[0] == 202
    wait_for(lambda: queued(cluster, client.account, "spared", delete_at["spared"]) == [False] * 3,
             timeout=5, what="the spared object out of the queue", interval=0.05)

    wait_for(lambda: client.get("expiry", "doomed")[0] == 404, timeout=5,
             what="the doomed object to read 404", interval=0.05)
    assert client.get("expiry", "spared") == (200, b"spared")
    assert replica_names(cluster, client.account, "expiry") == [["doomed", "spared"]] * 3
    assert any(n.endswith(".data") for _node, d in object_dirs(cluster, client, "expiry",
                                                               "doomed") for n in os.listdir(d))

    run(cluster, "container-updater")  # the queue container reaches .expiring_objects
    run(cluster, "object-expirer")
    assert replica_names(cluster, client.account, "expiry") == [["spared"]] * 3
    dirs = object_dirs(cluster, client, "expiry", "doomed")
    assert len(dirs) >= 3  # each primary keeps a tombstone, and no data
    for _node, hash_dir in dirs:
        assert not [n for n in os.listdir(hash_dir) if n.endswith(".data")], hash_dir
    assert queued(cluster, client.account, "doomed", delete_at["doomed"]) == [False] * 3
    assert client.get("expiry", "spared") == (200, b"spared")


def test_hidden_account_is_refused_to_clients(cluster):
    client = ProbeClient(cluster)
    _url, token = cluster.auth("admin:admin")  # a reseller admin, the most powerful user
    for path in (f"/v1/{EXPIRING_ACCOUNT}", f"/v1/{EXPIRING_ACCOUNT}/0",
                 f"/v1/{EXPIRING_ACCOUNT}/0/0000000001-a/c/o"):
        for method in ("GET", "PUT", "DELETE"):
            conn_status = _request(client, method, path, token)
            assert conn_status == 403, (method, path, conn_status)


def _head(client: ProbeClient, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(client.host, client.port, timeout=30)
    try:
        conn.request("HEAD", client.base + path, headers={"X-Auth-Token": client.token})
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def _request(client: ProbeClient, method: str, path: str, token: str) -> int:
    conn = http.client.HTTPConnection(client.host, client.port, timeout=30)
    try:
        conn.request(method, path, headers={"X-Auth-Token": token, "Content-Length": "0"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()
