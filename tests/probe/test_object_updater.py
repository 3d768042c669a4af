"""Probe: container updates missed while a container server was down reach it through the
object updater.

A node holding a replica of the container is stopped while objects are PUT through the
proxy: the object servers cannot tell that replica and leave async pendings. Once the node
is back, one updater pass (on every node, ``aio.run_once``) delivers them: every container
replica lists every object, and no pending is left on any node. The cluster runs without
background daemons, so nothing else delivers them meanwhile.
"""

from __future__ import annotations

import os

import pytest

from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.ring import Ring
from tests.support.probe import ProbeClient

pytestmark = pytest.mark.probe


def pending_files(cluster) -> list[str]:
    """Every async pending on every node's device (temporary files aside)."""
    found = []
    for node in cluster.nodes:
        device = os.path.join(node["devices"], node["device"])
        for entry in os.listdir(device):
            if not entry.startswith("async_pending"):
                continue
            for root, _dirs, files in os.walk(os.path.join(device, entry)):
                found += [os.path.join(root, f) for f in files if not f.startswith(".")]
    return found


def replica_listings(cluster, account: str, container: str) -> dict[int, list[str]]:
    """``{node: object names}`` by a direct GET on each container primary."""
    ring = Ring(cluster.oiofs_dir, ring_name="container")
    node_of = {n["device"]: n["node"] for n in cluster.nodes}
    part, nodes = ring.get_nodes(account, container)
    result = {}
    for node in nodes:
        resp = direct_request(node["ip"], node["port"], "GET",
                              backend_path(node["device"], part, account, container),
                              query={"format": "json"})
        assert resp.status == 200, (node_of[node["device"]], resp.status)
        result[node_of[node["device"]]] = sorted(row["name"] for row in resp.json())
    return result


def test_updater_delivers_updates_missed_by_a_stopped_container_server(cluster):
    client = ProbeClient(cluster)
    client.put_container("pending")
    down = sorted(replica_listings(cluster, client.account, "pending"))[0]
    assert pending_files(cluster) == []
    names = [f"obj-{i}" for i in range(6)]
    cluster.stop_node(down)
    try:
        for name in names:
            assert client.put("pending", name, name.encode()) == 201
        left = pending_files(cluster)
        assert len(left) >= len(names)  # at least one missed replica per object
    finally:
        cluster.start_node(down)
    listings = replica_listings(cluster, client.account, "pending")
    assert listings[down] == []
    assert all(rows == names for node, rows in listings.items() if node != down)

    results = cluster.aio.run_once("object-updater")
    assert set(results.values()) == {0}, results
    assert replica_listings(cluster, client.account, "pending") == {
        node: names for node in listings}
    assert pending_files(cluster) == []
    # what the object servers record as the object is what every replica now lists
    for name in names:
        assert client.get("pending", name) == (200, name.encode())
