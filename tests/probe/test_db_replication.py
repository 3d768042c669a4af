"""Probe: container database replication on a real all-in-one cluster, with faults.

A node is stopped while containers and objects are written through the proxy, or a
container database is damaged on disk; one pass of the real daemons
(``aio.run_once``: one process per node) must bring every replica back in line. The
cluster runs without its background daemons, so each pass is the one the test asks for.
"""

from __future__ import annotations

import http.client
import json
import os
from urllib.parse import quote, urlparse

import pytest

from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.hashing import hash_path
from oiofs.common.ring import Ring
from tests.support.probe import use_cluster_secret

pytestmark = pytest.mark.probe


class Proxy:
    """The Swift API as ``test:tester``, and the container ring of the cluster."""

    def __init__(self, cluster):
        url, self.token = cluster.auth()
        parsed = urlparse(url)
        self.port, self.base = parsed.port, parsed.path
        self.account = self.base.rsplit("/", 1)[-1]
        # the ring places names with the cluster's own secret
        use_cluster_secret(cluster)
        self.ring = Ring(cluster.oiofs_dir, ring_name="container")
        self.nodes = {n["device"]: n for n in cluster.nodes}

    def request(self, method: str, path: str = "", body: bytes | None = None
                ) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, quote(self.base + path), body=body,
                         headers={"X-Auth-Token": self.token})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def primaries(self, container: str) -> tuple[int, list[dict]]:
        """The container's partition and primaries, each with its all-in-one node."""
        part, nodes = self.ring.get_nodes(self.account, container)
        return part, [dict(n, node=self.nodes[n["device"]]) for n in nodes]

    def listing(self, node: dict, part: int, container: str) -> tuple[int, list[str]]:
        """A direct GET of the container on one primary: status and object names."""
        resp = direct_request(node["ip"], node["port"], "GET",
                              backend_path(node["device"], part, self.account, container),
                              query="format=json")
        names = [row["name"] for row in json.loads(resp.body)] if resp.status == 200 else []
        return resp.status, names

    def db_file(self, node: dict, part: int, container: str) -> str:
        name_hash = hash_path(self.account, container)
        return os.path.join(node["node"]["devices"], node["device"], "containers", str(part),
                            name_hash[-3:], name_hash, name_hash + ".db")


@pytest.fixture
def proxy(cluster):
    return Proxy(cluster)


def run(cluster, daemon: str) -> None:
    results = cluster.aio.run_once(daemon)
    assert set(results.values()) == {0}, (daemon, results)


def test_container_down_during_puts_catches_up(cluster, proxy):
    container = "down-during-puts"
    assert proxy.request("PUT", f"/{container}")[0] == 201
    part, primaries = proxy.primaries(container)
    down = primaries[0]["node"]["node"]
    sizes = {f"obj{i}": 10 * (i + 1) for i in range(6)}
    cluster.stop_node(down)
    try:
        for name, size in sizes.items():
            assert proxy.request("PUT", f"/{container}/{name}", b"x" * size)[0] == 201
    finally:
        cluster.start_node(down)
    before = {n["node"]["node"]: proxy.listing(n, part, container)[1] for n in primaries}
    assert before[down] == []  # it missed every update
    run(cluster, "container-replicator")
    for node in primaries:
        assert proxy.listing(node, part, container) == (200, sorted(sizes))
    run(cluster, "container-updater")
    status, headers, _ = proxy.request("HEAD")
    assert status == 204
    assert headers["x-account-object-count"] == str(len(sizes))
    assert headers["x-account-bytes-used"] == str(sum(sizes.values()))


def test_container_created_while_a_primary_is_down_reaches_it(cluster, proxy):
    container = "created-while-down"
    part, primaries = proxy.primaries(container)
    down = primaries[1]["node"]["node"]
    cluster.stop_node(down)
    try:
        assert proxy.request("PUT", f"/{container}")[0] == 201
        assert proxy.request("PUT", f"/{container}/o", b"data")[0] == 201
    finally:
        cluster.start_node(down)
    assert proxy.listing(primaries[1], part, container)[0] == 404
    primary_devices = {n["device"] for n in primaries}
    handoff_dbs = [proxy.db_file({"device": n["device"], "node": n}, part, container)
                   for n in cluster.nodes if n["device"] not in primary_devices]
    # the proxy wrote the container to a handoff in place of the stopped primary
    assert [path for path in handoff_dbs if os.path.exists(path)]
    run(cluster, "container-replicator")
    for node in primaries:
        assert proxy.listing(node, part, container) == (200, ["o"])
    # and that handoff gave its copy away once every primary had it
    assert not [path for path in handoff_dbs if os.path.exists(path)]


def test_corrupt_database_is_quarantined_then_restored(cluster, proxy):
    container = "corrupted"
    assert proxy.request("PUT", f"/{container}")[0] == 201
    for name in ("a", "b", "c"):
        assert proxy.request("PUT", f"/{container}/{name}", b"abc")[0] == 201
    part, primaries = proxy.primaries(container)
    victim = primaries[2]
    db_file = proxy.db_file(victim, part, container)
    if not os.path.exists(db_file):
        # the PUT needed 2 of 3 primaries: under load the third may have missed it
        # (seen once in a CI run); replication gives it its copy first
        run(cluster, "container-replicator")
    with open(db_file, "r+b") as handle:
        handle.write(b"this is no longer a sqlite database" * 4)
    run(cluster, "container-auditor")
    assert not os.path.exists(db_file)
    quarantined = os.path.join(victim["node"]["devices"], victim["device"], "quarantined",
                               "containers", hash_path(proxy.account, container))
    assert os.path.isdir(quarantined)
    run(cluster, "container-replicator")
    assert os.path.exists(db_file)
    for node in primaries:
        assert proxy.listing(node, part, container) == (200, ["a", "b", "c"])
