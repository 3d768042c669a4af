"""Probe: a wiped erasure-coded device is rebuilt by the object reconstructor's passes of
its neighbours, every object readable meanwhile and afterwards, even with two other
fragment holders stopped."""

from __future__ import annotations

import collections
import hashlib
import os
import re
import shutil

import pytest

from oiofs.common.ring import Ring
from tests.support.erasure import EC_INDEX, EC_POLICY, archive_files
from tests.support.probe import ProbeClient

pytestmark = pytest.mark.probe

SIZES = (0, 1, 5000, 1024 * 1024 + 17, 2 * 1024 * 1024 + 3)


def _digests(cluster, client, names):
    """``{name: {fragment index: (path, md5 of the file)}}`` of every durable archive."""
    out = {}
    for name in names:
        found = archive_files(cluster, client.account, "ecr", name)
        out[name] = {index: (path, hashlib.md5(open(path, "rb").read()).hexdigest())
                     for index, path in found.items()}
    return out


def test_wiped_device_is_rebuilt_and_objects_stay_readable(cluster):
    client = ProbeClient(cluster)
    status, _ = client.request("PUT", "/ecr", headers={"X-Storage-Policy": EC_POLICY})
    assert status in (201, 202)
    ring = Ring(cluster.oiofs_dir, ring_name=f"object-{EC_INDEX}")
    bodies = {f"o{i}-{size}": os.urandom(size) for i, size in enumerate(SIZES * 2)}
    for name, body in bodies.items():
        assert client.put("ecr", name, body) == 201
    before = _digests(cluster, client, bodies)
    assert all(sorted(got) == [0, 1, 2, 3, 4, 5] for got in before.values()), before

    # wipe the EC device holding the most archives: its objects-1 directory goes
    placements = {name: [(n["port"], n["device"])
                         for n in ring.get_nodes(client.account, "ecr", name)[1]]
                  for name in bodies}
    counts = collections.Counter(dev for slots in placements.values() for _, dev in slots
                                 if dev.endswith("ec"))
    wiped = counts.most_common(1)[0][0]
    node = next(n for n in cluster.nodes if n["ec_device"] == wiped)
    device_dir = os.path.join(node["devices"], wiped)
    shutil.rmtree(device_dir)
    os.makedirs(device_dir)
    lost = {(name, index) for name, slots in placements.items()
            for index, (_, dev) in enumerate(slots) if dev == wiped}
    assert lost
    for name, body in bodies.items():  # readable with the device empty
        assert client.get("ecr", name) == (200, body)

    results = cluster.aio.run_once("object-reconstructor")
    assert set(results.values()) == {0}, results
    rebuilt = 0
    for number in results:
        log = os.path.join(cluster.layout.log, f"object-reconstructor-{number}.once.log")
        with open(log) as handle:
            summary = re.findall(r"pass done: .*", handle.read())
        print(number, summary[-1])
        rebuilt += int(re.search(r"(\d+) archives rebuilt", summary[-1]).group(1))
    # each lost archive rebuilt by one of its two neighbours, or by both when their
    # passes run at the same time (both pushes are stored: the same bytes)
    assert len(lost) <= rebuilt <= 2 * len(lost)

    after = _digests(cluster, client, bodies)
    for name in bodies:
        assert after[name].keys() == before[name].keys(), name
        for index, (path, digest) in before[name].items():
            assert after[name][index] == (path, digest), (name, index)  # same bytes, place

    # reads that need the rebuilt archives: two other single-archive holders stopped
    by_port = {n["object_port"]: n["node"] for n in cluster.nodes}
    for name, _index in sorted(lost):
        holders = collections.Counter(by_port[port] for port, _ in placements[name])
        singles = [n for n, count in holders.items()
                   if count == 1 and n != node["node"]][:2]
        if len(singles) == 2:
            break
    else:
        pytest.skip("no object with two other single-archive holders (ring layout)")
    for stopped in singles:
        cluster.stop_node(stopped)
    try:
        assert client.get("ecr", name) == (200, bodies[name])
    finally:
        for stopped in singles:
            cluster.start_node(stopped)
