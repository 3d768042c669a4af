"""Probe: a corrupted object file is quarantined by the auditor and restored by replication."""

from __future__ import annotations

import os

import pytest

from oiofs.common.hashing import md5
from tests.support.probe import (
    ProbeClient,
    object_dirs,
    primary_status,
)

pytestmark = pytest.mark.probe


def data_file(hash_dir: str) -> str:
    names = [n for n in os.listdir(hash_dir) if n.endswith(".data")]
    assert len(names) == 1, names
    return os.path.join(hash_dir, names[0])


def test_flipped_bytes_are_quarantined_then_restored(cluster):
    client = ProbeClient(cluster)
    client.put_container("audit")
    body = os.urandom(50_000)
    assert client.put("audit", "precious", body) == 201
    assert client.get("audit", "precious") == (200, body)
    victim, hash_dir = object_dirs(cluster, client, "audit", "precious")[0]
    path = data_file(hash_dir)
    with open(path, "r+b") as handle:  # flip bytes in place: size and metadata intact
        handle.seek(1000)
        chunk = handle.read(16)
        handle.seek(1000)
        handle.write(bytes(b ^ 0xFF for b in chunk))

    results = cluster.aio.run_once("object-auditor")
    assert set(results.values()) == {0}, results
    assert not os.path.exists(hash_dir)
    node = next(n for n in cluster.nodes if n["node"] == victim)
    quarantine = os.path.join(node["devices"], node["device"], "quarantined", "objects")
    assert os.listdir(quarantine) == [os.path.basename(hash_dir)]
    assert primary_status(client, "audit", "precious")[victim] == 404
    # the two good copies still serve the right bytes
    for _ in range(3):
        assert client.get("audit", "precious") == (200, body)

    results = cluster.aio.run_once("object-replicator")
    assert set(results.values()) == {0}, results
    assert set(primary_status(client, "audit", "precious").values()) == {200}
    with open(data_file(hash_dir), "rb") as handle:
        assert md5(handle.read(len(body))).hexdigest() == md5(body).hexdigest()
    for _ in range(3):
        assert client.get("audit", "precious") == (200, body)
    # a later audit finds nothing more to quarantine
    cluster.aio.run_once("object-auditor")
    assert os.listdir(quarantine) == [os.path.basename(hash_dir)]
