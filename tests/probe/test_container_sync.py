"""Container sync between two clusters side by side: cluster A (3 nodes, 3 replicas) and
cluster B (1 node), each its own all-in-one; passes run with ``once``.

B's proxy records every signed sync request it answers (tests/support/sync_clusters.py),
so the tests count what B received.
"""

import json
import os
import signal
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from oiofs.cli.allinone import processes
from oiofs.common.hashing import hash_path
from oiofs.common.ring import Ring
from oiofs.container.sync_points import row_owner
from tests.support.probe import use_cluster_secret
from tests.support.proxy_client import Client, unique
from tests.support.sync_clusters import REALM, start_sync_clusters, sync_requests

pytestmark = pytest.mark.probe


@pytest.fixture(scope="module")
def clusters():
    a, b = start_sync_clusters(3)
    try:
        yield a, b
    finally:
        a.destroy()
        b.destroy()


@pytest.fixture(scope="module")
def cluster(clusters):
    """Cluster A, as the probe conftest's ``cluster`` (its hash secret; no extra cluster)."""
    return clusters[0]


@pytest.fixture(scope="module")
def clients(clusters):
    a, b = clusters
    ca, cb = Client(a), Client(b)
    yield ca, cb
    ca.close()
    cb.close()


def sync_pass(cluster, nodes=None):
    """One container-sync pass on each node in turn (a node sees what the previous one
    sent: the replicas of a row's container are not racing each other)."""
    for node in nodes or cluster.layout.node_numbers():
        assert cluster.aio.run_once("container-sync", nodes=[node]) == {node: 0}


def make_synced_pair(ca, cb, key="secret"):
    name = unique("sync")
    assert cb.request("PUT", f"/{name}", headers={"X-Container-Sync-Key": key}
                      ).status == 201
    assert ca.request("PUT", f"/{name}", headers={
        "X-Container-Sync-To": f"//{REALM}/b/AUTH_test/{name}",
        "X-Container-Sync-Key": key}).status == 201
    return name


def listing(client, name):
    resp = client.request("GET", f"/{name}?format=json", quote_path=False)
    assert resp.status == 200
    return {r["name"]: r for r in json.loads(resp.body)}


def test_sync_settings_are_checked_and_shown_to_owners_only(clusters, clients):
    ca, _cb = clients
    info = json.loads(ca.request("GET", "/info", absolute=True).body)
    assert info["container_sync"]["realms"] == {REALM: {"clusters": {"A": {}, "B": {}}}}
    name = unique("sync")
    resp = ca.request("PUT", f"/{name}", headers={"X-Container-Sync-To": "//NOPE/b/a/c"})
    assert resp.status == 400 and b"No realm key" in resp.body
    assert ca.request("HEAD", f"/{name}").status == 404
    resp = ca.request("PUT", f"/{name}", headers={
        "X-Container-Sync-To": "http://10.1.2.3/v1/a/c"})
    assert resp.status == 400 and b"Invalid host" in resp.body
    assert ca.request("PUT", f"/{name}", headers={
        "X-Container-Sync-To": f"//{REALM}/b/AUTH_test/x", "X-Container-Sync-Key": "k",
        "X-Container-Read": "test:tester3"}).status == 201
    head = ca.request("HEAD", f"/{name}")
    assert head.headers["x-container-sync-to"] == f"//{REALM}/b/AUTH_test/x"
    assert head.headers["x-container-sync-key"] == "k"
    other = Client(clusters[0], user="test:tester3")  # not an admin of the account
    try:
        head = other.request("HEAD", f"/{name}")
        assert head.status == 204
        assert "x-container-sync-to" not in head.headers
        assert "x-container-sync-key" not in head.headers
    finally:
        other.close()


def test_puts_overwrites_and_deletes_reach_the_other_cluster(clusters, clients):
    a, b = clusters
    ca, cb = clients
    name = make_synced_pair(ca, cb)
    for i in range(6):
        assert ca.request("PUT", f"/{name}/o{i}", body=b"v1-%d" % i, headers={
            "X-Object-Meta-Color": "blue", "Content-Type": "text/x-test"}).status == 201
    sync_pass(a)
    for i in range(6):
        src, dst = ca.request("HEAD", f"/{name}/o{i}"), cb.request("HEAD", f"/{name}/o{i}")
        assert dst.status == 200
        for header in ("x-timestamp", "etag", "x-object-meta-color", "content-type",
                       "content-length"):
            assert src.headers[header] == dst.headers[header], header
    time.sleep(0.01)
    assert ca.request("PUT", f"/{name}/o0", body=b"version two").status == 201
    assert ca.request("DELETE", f"/{name}/o1").status == 204
    sync_pass(a)
    got = cb.request("GET", f"/{name}/o0")
    assert got.body == b"version two"
    assert got.headers["x-timestamp"] == ca.request("HEAD", f"/{name}/o0").headers[
        "x-timestamp"]
    assert "x-object-meta-color" not in got.headers
    assert cb.request("HEAD", f"/{name}/o1").status == 404
    assert sorted(listing(cb, name)) == ["o0", "o2", "o3", "o4", "o5"]


def test_large_object_manifests_and_their_segments_sync(clusters, clients):
    a, _b = clusters
    ca, cb = clients
    name = make_synced_pair(ca, cb)
    parts = [b"first part ", b"second part"]
    segments = []
    for i, body in enumerate(parts):
        resp = ca.request("PUT", f"/{name}/seg/{i}", body=body)
        assert resp.status == 201
        segments.append({"path": f"/{name}/seg/{i}", "etag": resp.headers["etag"],
                         "size_bytes": len(body)})
    assert ca.request("PUT", f"/{name}/slo?multipart-manifest=put", quote_path=False,
                      body=json.dumps(segments).encode()).status == 201
    assert ca.request("PUT", f"/{name}/dlo", body=b"",
                      headers={"X-Object-Manifest": f"{name}/seg/"}).status == 201
    sync_pass(a)
    for obj in ("slo", "dlo"):
        src, dst = ca.request("GET", f"/{name}/{obj}"), cb.request("GET", f"/{name}/{obj}")
        assert dst.status == 200 and dst.body == b"".join(parts), obj
        assert dst.headers["etag"] == src.headers["etag"]
        assert dst.headers["x-timestamp"] == src.headers["x-timestamp"]
    assert cb.request("HEAD", f"/{name}/slo").headers["x-static-large-object"] == "True"
    assert cb.request("HEAD", f"/{name}/dlo").headers["x-object-manifest"] == \
        f"{name}/seg/"


def test_each_row_is_sent_once_even_with_a_container_replica_down(clusters, clients):
    a, b = clusters
    ca, cb = clients
    name = make_synced_pair(ca, cb)
    before = len(sync_requests(b))
    for i in range(30):
        assert ca.request("PUT", f"/{name}/r{i}", body=b"x%d" % i).status == 201
    a.stop_node(3)
    try:
        sync_pass(a, nodes=[1, 2])
        sync_pass(a, nodes=[1, 2])  # the stopped replica's share, found missing
    finally:
        a.start_node(3)
    received = sync_requests(b)[before:]
    puts = [path for method, path, status in received if method == "PUT"]
    assert sorted(puts) == sorted(f"/v1/AUTH_test/{name}/r{i}" for i in range(30))
    assert all(status // 100 == 2 for method, _p, status in received if method == "PUT")
    assert {method for method, _p, _s in received} <= {"PUT", "HEAD"}  # HEAD: checks
    assert len(listing(cb, name)) == 30
    # the replica back up sends its own share once more (its sync points never saw
    # those rows; docs/container-sync.md): B answers 202, nothing changes there
    sync_pass(a)
    again = [(p, s) for m, p, s in sync_requests(b)[before:] if m == "PUT"][30:]
    assert len(again) < 30 and all(s == 202 for _p, s in again)
    assert len(listing(cb, name)) == 30


def test_two_way_sync_converges_without_loops(clusters, clients):
    a, b = clusters
    ca, cb = clients
    name = unique("sync")
    for client, other in ((ca, "b"), (cb, "a")):
        assert client.request("PUT", f"/{name}", headers={
            "X-Container-Sync-To": f"//{REALM}/{other}/AUTH_test/{name}",
            "X-Container-Sync-Key": "both"}).status == 201
    assert ca.request("PUT", f"/{name}/from-a", body=b"a").status == 201
    assert cb.request("PUT", f"/{name}/from-b", body=b"b").status == 201
    for _round in range(2):
        sync_pass(a)
        sync_pass(b)
    assert sorted(listing(ca, name)) == sorted(listing(cb, name)) == ["from-a", "from-b"]
    for obj in ("from-a", "from-b"):
        assert ca.request("HEAD", f"/{name}/{obj}").headers["x-timestamp"] == \
            cb.request("HEAD", f"/{name}/{obj}").headers["x-timestamp"]
    assert cb.request("DELETE", f"/{name}/from-a").status == 204
    count = len(sync_requests(b))
    for _round in range(2):
        sync_pass(b)
        sync_pass(a)
    assert sorted(listing(ca, name)) == sorted(listing(cb, name)) == ["from-b"]
    # settled: more passes send nothing new that B would have to take
    count = len(sync_requests(b))
    sync_pass(a)
    sync_pass(b)
    new = [r for r in sync_requests(b)[count:] if r[0] in ("PUT", "DELETE")]
    assert new == []


def test_wrong_or_missing_keys_are_refused(clusters, clients):
    a, b = clusters
    ca, cb = clients
    name = make_synced_pair(ca, cb, key="right")
    assert cb.request("POST", f"/{name}", headers={"X-Container-Sync-Key": "changed"}
                      ).status == 204
    before = len(sync_requests(b))
    assert ca.request("PUT", f"/{name}/o", body=b"data").status == 201
    sync_pass(a)
    received = sync_requests(b)[before:]
    assert received and all(status == 401 for _m, _p, status in received)
    assert cb.request("HEAD", f"/{name}/o").status == 404
    # an unsigned request with an X-Timestamp keeps nothing of it
    anon = Client(b, user=None)
    try:
        resp = anon.request("PUT", f"/{name}/p", body=b"x", headers={
            "X-Container-Sync-Auth": f"{REALM} 1-ab 0123", "X-Timestamp": "1.00000"})
        assert resp.status == 401
    finally:
        anon.close()
    # fixed key: the rows that failed go next pass
    assert cb.request("POST", f"/{name}", headers={"X-Container-Sync-Key": "right"}
                      ).status == 204
    time.sleep(5.5)  # B's proxy caches container info for 5 s
    sync_pass(a)
    assert cb.request("GET", f"/{name}/o").body == b"data"


def test_full_url_targets_carry_the_sync_key(clusters, clients):
    a, b = clusters
    ca, cb = clients
    name = unique("sync")
    assert cb.request("PUT", f"/{name}", headers={"X-Container-Sync-Key": "url-key"}
                      ).status == 201
    assert ca.request("PUT", f"/{name}", headers={
        "X-Container-Sync-To": f"{b.proxy_url}/v1/AUTH_test/{name}",
        "X-Container-Sync-Key": "url-key"}).status == 201
    assert ca.request("PUT", f"/{name}/o", body=b"by url").status == 201
    sync_pass(a)
    got = cb.request("GET", f"/{name}/o")
    assert got.body == b"by url"
    assert got.headers["x-timestamp"] == ca.request("HEAD", f"/{name}/o").headers[
        "x-timestamp"]


def replica_states(cluster, name: str) -> list[tuple[int, int, int, list[tuple[int, str]]]]:
    """Per primary of container ``name`` on ``cluster``: ``(node number, sync point 1,
    sync point 2, [(rowid, object name)])`` read from its database file."""
    part, nodes = Ring(cluster.oiofs_dir, ring_name="container").get_nodes("AUTH_test", name)
    by_device = {n["device"]: n for n in cluster.nodes}
    name_hash = hash_path("AUTH_test", name)
    states = []
    for node in nodes:
        where = by_device[node["device"]]
        path = os.path.join(where["devices"], node["device"], "containers", str(part),
                            name_hash[-3:], name_hash, name_hash + ".db")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            point1, point2 = conn.execute("SELECT x_container_sync_point1, "
                                          "x_container_sync_point2 FROM container_stat"
                                          ).fetchone()
            rows = conn.execute("SELECT ROWID, name FROM object ORDER BY ROWID").fetchall()
        finally:
            conn.close()
        states.append((where["node"], point1, point2, rows))
    return states


def test_a_daemon_killed_mid_pass_loses_nothing(clusters, clients):
    a, b = clusters
    ca, cb = clients
    use_cluster_secret(a)
    name = make_synced_pair(ca, cb)
    total = 200
    writers = [Client(a) for _ in range(4)]

    def write(w: int) -> list[int]:
        return [writers[w].request("PUT", f"/{name}/k{i:03d}", body=b"k%d" % i).status
                for i in range(w, total, len(writers))]

    try:
        with ThreadPoolExecutor(len(writers)) as pool:
            statuses = [s for part in pool.map(write, range(len(writers))) for s in part]
    finally:
        for writer in writers:
            writer.close()
    assert statuses == [201] * total
    before = len(sync_requests(b))

    # node 1's daemon as its own process, killed once 30 of its PUTs reached B: about 90
    # rows looked at (it owns a third), so its point 1 was saved at least once (every 50)
    victim = 1
    proc = subprocess.Popen(processes.daemon_argv(
        "container-sync", a.layout.server_conf(victim, "container"), once=True),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(sync_requests(b)) - before < 30 and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL  # killed mid-pass, not after it ended
    sent = [(m, p, s) for m, p, s in sync_requests(b)[before:]]
    assert 30 <= len(sent) < total
    acknowledged = {p.rsplit("/", 1)[1] for m, p, s in sent if m == "PUT" and s // 100 == 2}

    # the points saved by the killed replica never passed a row B had not acknowledged
    replicas = replica_states(a, name)
    for index, (node, point1, point2, rows) in enumerate(replicas):
        if node != victim:
            assert (point1, point2) == (-1, -1)  # these daemons never ran
            continue
        assert point1 >= 50  # saved at least once: the check below is not empty
        done = {obj for rowid, obj in rows if rowid <= point2}
        done |= {obj for rowid, obj in rows if rowid <= point1
                 and row_owner("AUTH_test", name, obj, len(replicas)) == index}
        assert done <= acknowledged, sorted(done - acknowledged)

    # passes to completion: every row of A on B, same timestamps and ETags
    sync_pass(a)
    sync_pass(a)
    src, dst = listing(ca, name), listing(cb, name)
    assert len(src) == total
    assert {k: (r["hash"], r["bytes"], r["last_modified"]) for k, r in dst.items()} == \
        {k: (r["hash"], r["bytes"], r["last_modified"]) for k, r in src.items()}
    for obj in ("k000", "k123", f"k{total - 1}"):
        assert cb.request("HEAD", f"/{name}/{obj}").headers["x-timestamp"] == \
            ca.request("HEAD", f"/{name}/{obj}").headers["x-timestamp"]
    received = sync_requests(b)[before:]
    # The PUT the killed daemon had in flight, if any, B answers 499 (its client went
    # away mid-body): at most one, and its object sent again and taken after
    cut = [i for i, (m, _p, s) in enumerate(received) if m == "PUT" and s == 499]
    assert len(cut) <= 1, cut
    for i in cut:
        assert any(m == "PUT" and p == received[i][1] and s // 100 == 2
                   for m, p, s in received[i + 1:]), received[i]
    # every other PUT taken (202: B had that version); a HEAD may find a row not sent yet
    assert all(s // 100 == 2 or (m == "HEAD" and s == 404) or (m == "PUT" and s == 499)
               for m, _p, s in received), [r for r in received if r[2] // 100 != 2]
    puts = [p for m, p, _s in received if m == "PUT"]
    assert set(puts) == {f"/v1/AUTH_test/{name}/k{i:03d}" for i in range(total)}
    # every replica's points now cover every row
    for _node, point1, point2, rows in replica_states(a, name):
        assert point1 == point2 == rows[-1][0]
