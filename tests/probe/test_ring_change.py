"""Probe: a device is added to the object ring on a live cluster and the ring rebalanced.

The replicators move the partitions that the new device now owns; every object stays
readable through the proxy before, during and after the move, and ends up with all its
primary copies where the new ring says, with no copy left on the old holders.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from oiofs.common.hashing import hash_path, md5
from oiofs.common.ring import Ring
from tests.support.probe import ProbeClient

pytestmark = pytest.mark.probe

RING_RELOAD_SECONDS = 15  # the proxy's Ring checks its file at most this often


def ring_builder(cluster, *args: str) -> str:
    builder = os.path.join(cluster.oiofs_dir, "object.builder")
    result = subprocess.run([sys.executable, "-m", "oiofs.cli.ring_builder", builder, *args],
                            capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.stdout


def all_readable(client, bodies: dict[str, bytes]) -> None:
    for name, body in bodies.items():
        status, data = client.get("grow", name)
        assert status == 200, (name, status)
        assert md5(data).hexdigest() == md5(body).hexdigest(), name


def test_added_device_takes_its_partitions_and_nothing_is_lost(cluster):
    client = ProbeClient(cluster)
    client.put_container("grow")
    bodies = {f"obj-{i:03}": os.urandom(512 + i) for i in range(40)}
    for name, body in bodies.items():
        assert client.put("grow", name, body) == 201
    all_readable(client, bodies)

    # the operator adds a second device on node 1 and rebalances
    node1 = cluster.nodes[0]
    new_device = node1["device"] + "b"
    os.makedirs(os.path.join(node1["devices"], new_device))
    ring_builder(cluster, "add", f"r1z1-127.0.0.1:{node1['object_port']}/{new_device}", "100")
    out = ring_builder(cluster, "rebalance", "--seed", "7")
    ring_written = time.monotonic()
    assert "Reassigned" in out, out
    new_ring = Ring(cluster.oiofs_dir, ring_name="object")
    moved = [n for n in bodies
             if new_device in {d["device"] for d in new_ring.get_nodes(
                 client.account, "grow", n)[1]}]
    assert moved, "the new device should own some of the objects' partitions"
    all_readable(client, bodies)  # during: nothing moved yet

    results = cluster.aio.run_once("object-replicator")
    assert set(results.values()) == {0}, results
    # every object has its copies exactly on the new ring's primaries
    assert_on_primaries_only(cluster, client, new_ring, new_device, bodies)
    # Reads still work. A proxy that has not reloaded the ring yet may see an old
    # primary (now a handoff) without a copy and repair it (read-your-writes pushes the
    # newest copy to a replica found behind): the next pass moves that copy back.
    all_readable(client, bodies)

    # after: the proxy picks the new ring up and still reads everything
    remaining = RING_RELOAD_SECONDS + 1 - (time.monotonic() - ring_written)
    deadline = time.monotonic() + max(remaining, 0)
    while True:
        all_readable(client, bodies)
        if time.monotonic() >= deadline:
            break
        time.sleep(1)
    all_readable(client, bodies)
    # with the new ring everywhere, one more pass leaves copies on the primaries only
    results = cluster.aio.run_once("object-replicator")
    assert set(results.values()) == {0}, results
    assert_on_primaries_only(cluster, client, new_ring, new_device, bodies)


def assert_on_primaries_only(cluster, client, new_ring, new_device, bodies) -> None:
    node1 = cluster.nodes[0]
    by_device = {(n["devices"], n["device"]): n["node"] for n in cluster.nodes}
    by_device[(node1["devices"], new_device)] = node1["node"]
    for name in bodies:
        part, primaries = new_ring.get_nodes(client.account, "grow", name)
        name_hash = hash_path(client.account, "grow", name)
        holders = set()
        for (devices, device), _node in by_device.items():
            hash_dir = os.path.join(devices, device, "objects", str(part), name_hash[-3:],
                                    name_hash)
            if os.path.isdir(hash_dir) and any(f.endswith(".data")
                                               for f in os.listdir(hash_dir)):
                holders.add(device)
        assert holders == {p["device"] for p in primaries}, (name, holders)
