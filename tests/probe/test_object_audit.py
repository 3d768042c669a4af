"""Probe: a corrupted object file is quarantined by the auditor and restored by replication."""

from __future__ import annotations

import http.client
import os
import shutil

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


def quarantine_of(cluster, node: int) -> str:
    """The object quarantine directory of ``node``'s device."""
    info = next(n for n in cluster.nodes if n["node"] == node)
    return os.path.join(info["devices"], info["device"], "quarantined", "objects")


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
    quarantine = quarantine_of(cluster, victim)
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


def _get_multirange(client: ProbeClient, path: str, ranges: str) -> tuple[int, bytes, bool]:
    """A GET of several ranges through the proxy: status, the bytes that came, and
    whether they were all that ``Content-Length`` announced (a read that waits for bytes
    that never come times out and fails the test)."""
    conn = http.client.HTTPConnection(client.host, client.port, timeout=30)
    try:
        conn.request("GET", client.base + path,
                     headers={"X-Auth-Token": client.token, "Range": ranges})
        resp = conn.getresponse()
        try:
            return resp.status, resp.read(), True
        except http.client.IncompleteRead as short:
            return resp.status, short.partial, False
    finally:
        conn.close()


def _restore(backup: str, hash_dir: str) -> None:
    """Put the saved (corrupt) copy back in place, data and xattrs, as a rotting disk
    would keep serving it."""
    shutil.copytree(backup, hash_dir, copy_function=shutil.copy2, dirs_exist_ok=True)


def _holds(hash_dir: str, data_name: str, corrupt: bytes) -> bool:
    """Whether ``hash_dir`` still holds the corrupt copy (not quarantined, nor replaced by
    a good copy that a proxy's repair pushed in after a quarantine)."""
    try:
        with open(os.path.join(hash_dir, data_name), "rb") as handle:
            return handle.read() == corrupt
    except FileNotFoundError:
        return False


def _quarantined(cluster, node: int, hash_dir: str) -> int:
    """How many times the object's hash directory was quarantined on ``node``."""
    where = quarantine_of(cluster, node)
    name = os.path.basename(hash_dir)
    return sum(1 for entry in os.listdir(where) if entry.startswith(name)) \
        if os.path.isdir(where) else 0


@pytest.mark.parametrize(("size", "block"), [(1000, 0), (65536, 0), (200_000, 3),
                                             (1_048_581, 7), (1_048_581, 0)])
def test_a_corrupt_replica_never_reaches_a_client(cluster, tmp_path, size, block):
    """Issue 15's measure: 30 GETs of an object with one corrupted replica, 0 wrong.

    The corrupt copy is put back before every GET (once found it is quarantined at once),
    so each GET has its chance to be served by it; whole GETs and a range alternate."""
    # Each copy met counts as an error of its device: the case before may have made the
    # proxy suppress the device holding this case's copy (10 errors: it is skipped for a
    # few seconds, then probed), and then the copy is never met (seen in CI: 0 of 30). A
    # fresh proxy starts without that memory.
    cluster.kill_proxy()
    cluster.start_proxy()
    client = ProbeClient(cluster)
    client.put_container("rot")
    obj = f"rotten-{size}-{block}"
    body = os.urandom(size)
    assert client.put("rot", obj, body) == 201
    # the victim is a primary (reads ask primaries; a copy a write left on a handoff
    # would never be read)
    primaries = {node["node"] for node in client.primaries("rot", obj)}
    victim, hash_dir = next((node, where) for node, where
                            in object_dirs(cluster, client, "rot", obj) if node in primaries)
    path = data_file(hash_dir)
    bad = min(block * 65536 + 100, size - 1)
    with open(path, "r+b") as handle:  # one flipped bit, size and metadata intact
        handle.seek(bad)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0x04]))
    with open(path, "rb") as handle:
        corrupt = handle.read()
    backup = str(tmp_path / "corrupt")
    shutil.copytree(hash_dir, backup, copy_function=shutil.copy2)
    wrong = 0
    # a range over the bad bit that starts a block or more before it, if it can (the
    # body is cut after the first block, and the proxy resumes that range elsewhere)
    start, stop = max(0, bad - 70000), min(size, bad + 70000)
    for attempt in range(30):
        # The last GET may have met the corrupt copy: it was quarantined, and a bad first
        # block answers 404, so the proxy may already have pushed a good copy back in its
        # place (read repair). Either way the corrupt copy goes back before the next GET.
        if not _holds(hash_dir, os.path.basename(path), corrupt):
            _restore(backup, hash_dir)
        if attempt % 3 == 2:
            got = client.request("GET", f"/rot/{obj}",
                                 headers={"Range": f"bytes={start}-{stop - 1}"})
            wrong += got != (206, body[start:stop])
        elif attempt % 6 == 1:  # several ranges: not resumed, but never wrong nor stuck
            status, data, complete = _get_multirange(client, f"/rot/{obj}",
                                                     f"bytes=0-9,{start}-{stop - 1}")
            wrong += status != 206 or (complete and body[start:stop] not in data) or \
                (not complete and body[start:stop] in data)
        else:
            wrong += client.get("rot", obj) != (200, body)
    hits = _quarantined(cluster, victim, hash_dir)
    assert wrong == 0, f"{wrong} wrong answers of 30 ({hits} met the corrupt copy)"
    # the corrupt copy was met (a miss in 30 tries: 1 in ~190,000)
    assert hits >= 1, "30 GETs never met the corrupt copy"
