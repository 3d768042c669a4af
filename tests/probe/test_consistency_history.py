"""Probe: read-your-writes, checked on a recorded history (tests/support/history.py).

Four clients do PUT/DELETE/GET/HEAD/listings on 24 keys of one container while a
nemesis SIGKILLs one storage node at a time (every server of it) and starts it again a
few seconds later; the node that comes back holds old versions and misses deletions.
Every operation is recorded (invocation, completion, result) and the history is checked:
no read may return a version older than one acknowledged before it began, no deleted
object may come back, listings show exactly the acknowledged objects.

The cluster runs no background daemons (probe conftest), so nothing repairs the node
that came back but the proxy's reads themselves (a replica found behind is sent the
newest object or tombstone by the replica holding it: the repair tests), and listings
stay right because the proxy merges the replicas' rows when no quorum of them agrees
(the merge tests, last: every container or account replica misses some writes).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time

import pytest

from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.ring import Ring
from oiofs.directory.client import ConscienceClient
from tests.support.consistency import Nemesis, Target, Workload, make_client
from tests.support.history import check, summary
from tests.support.probe import ProbeClient, primary_status
from tests.support.waiting import wait_for

pytestmark = pytest.mark.probe

KEYS = [f"key-{n}" for n in range(24)]
OBJECT_ANOMALIES = ("stale", "resurrected", "unknown")
LISTING_ANOMALIES = ("listing-missing", "listing-extra")
#: node kills (each followed by a restart) during the run
CYCLES = 4


@pytest.fixture(scope="module")
def history(cluster):
    """The history of one run: CYCLES node kills and restarts under four clients."""
    url, token = cluster.auth()
    target = Target(url, token, "history")
    workload = Workload(target, KEYS, clients=4, seed=15, pause=0.005)
    client = make_client(target)
    assert client.request("PUT", "/history").status in (201, 202)
    client.close()
    nemesis = Nemesis(cluster)
    chaos = threading.Thread(target=nemesis.run,
                             args=([n["node"] for n in cluster.nodes], CYCLES, 2.5, 2.5,
                                   random.Random(15), workload.stop),
                             daemon=True)
    chaos.start()
    try:
        ops = workload.run(ops_per_client=5000).ops
    finally:
        workload.stop.set()
        chaos.join(120)
    assert not chaos.is_alive(), "the nemesis did not bring its last node back"
    assert len([e for e in nemesis.events if e[1] == "down"]) == CYCLES
    return ops


def anomalies_of(ops, kinds):
    found = [a for a in check(ops) if a.kind in kinds]
    return found, "\n".join(str(a) for a in found[:20])


def test_requests_keep_succeeding_while_nodes_die(history):
    failed = [op for op in history if not op.ok]
    assert len(history) >= 900
    assert len(failed) <= len(history) // 20, \
        f"{len(failed)} of {len(history)} failed: {[(o.kind, o.status) for o in failed[:20]]}"


def test_reads_see_every_acknowledged_write_and_delete(history):
    found, text = anomalies_of(history, OBJECT_ANOMALIES)
    assert not found, f"{summary(found)} in {len(history)} operations:\n{text}"


def test_listings_show_exactly_the_acknowledged_objects(history):
    found, text = anomalies_of(history, LISTING_ANOMALIES)
    assert not found, f"{summary(found)} in {len(history)} operations:\n{text}"


def test_a_read_sends_the_tombstone_to_a_replica_that_missed_the_delete(cluster):
    client = ProbeClient(cluster)
    client.put_container("repair")
    assert client.put("repair", "gone", b"old bytes") == 201
    wait_for(lambda: set(primary_status(client, "repair", "gone").values()) == {200}, 10,
             "every primary to hold the object")
    down = client.primaries("repair", "gone")[0]["node"]
    cluster.kill_node(down)
    try:
        assert client.delete("repair", "gone") == 204
    finally:
        cluster.start_node(down)
    assert primary_status(client, "repair", "gone")[down] == 200  # it missed the DELETE

    def repaired():
        assert client.get("repair", "gone")[0] == 404  # never the old bytes meanwhile
        return primary_status(client, "repair", "gone")[down] == 404

    wait_for(repaired, 30, "a read to send the tombstone to the stale replica",
             interval=0.2)


def replica_state(client: ProbeClient, container: str, obj: str, node: int
                  ) -> tuple[int, bytes, str | None]:
    """``(status, body, X-Object-Meta-Color)`` of a direct GET on the primary ``node``."""
    part = client.part(container, obj)
    device = next(n for n in client.primaries(container, obj) if n["node"] == node)
    resp = direct_request(device["ip"], device["port"], "GET",
                          backend_path(device["device"], part, client.account, container,
                                       obj))
    return resp.status, resp.body, resp.headers.get("x-object-meta-color")


@pytest.mark.parametrize("missed", ["overwrite", "first-write"])
def test_a_read_pushes_the_newest_copy_to_a_replica_left_behind(cluster, missed):
    """A primary that was down during an overwrite and a POST (or during the object's
    first PUT) gets the newest .data and .meta from a read, with no replicator pass."""
    client = ProbeClient(cluster)
    client.put_container("repair")
    obj = f"behind-{missed}"
    down = client.primaries("repair", obj)[0]["node"]
    if missed == "overwrite":
        assert client.put("repair", obj, b"old bytes") == 201
        wait_for(lambda: set(primary_status(client, "repair", obj).values()) == {200},
                 10, "every primary to hold the object")
    cluster.kill_node(down)
    try:
        assert client.put("repair", obj, b"new bytes") == 201
        assert client.request("POST", f"/repair/{obj}",
                              headers={"X-Object-Meta-Color": "blue"})[0] == 202
    finally:
        cluster.start_node(down)
    before = replica_state(client, "repair", obj, down)
    assert before[0] == (200 if missed == "overwrite" else 404)  # it missed the writes
    assert before[1:] != (b"new bytes", "blue")

    def repaired():
        assert client.get("repair", obj) == (200, b"new bytes")  # never the old state
        return replica_state(client, "repair", obj, down) == (200, b"new bytes", "blue")

    wait_for(repaired, 30, "a read to push the newest copy to the replica left behind",
             interval=0.2)


def _db_primaries(cluster, client: ProbeClient, ring_name: str, *names: str) -> set[int]:
    """The all-in-one nodes of the primaries of an account or container."""
    ring = Ring(cluster.oiofs_dir, ring_name=ring_name)
    by_port = {port: n["node"] for n in cluster.nodes
               for port in (n.get(f"{ring_name}_port"),) if port}
    return {by_port[dev["port"]] for dev in ring.get_nodes(client.account, *names)[1]}


#: the header of a read that asks for the newest state the replicas hold
NEWEST = {"X-Newest": "true"}


def _proxy(client: ProbeClient, method: str, path: str, token: bool = True,
           headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers with lower-case names, body)`` of a request through the proxy
    (``path`` already quoted, after the storage URL)."""
    conn = http.client.HTTPConnection(client.host, client.port, timeout=30)
    try:
        sent = {"X-Auth-Token": client.token} if token else {}
        conn.request(method, client.base + path, headers={**sent, **(headers or {})})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def test_account_and_container_reads_after_a_node_missed_the_writes(cluster):
    """A node holding the account and the containers misses a container PUT, POST (with
    a read ACL) and DELETE; once it is back, the account listing, the container HEADs
    and the container info the proxy caches (ACL, existence) show every write."""
    client = ProbeClient(cluster)
    for name in ("meta-c", "doomed-c"):
        client.put_container(name)
    assert client.put("meta-c", "o", b"x") == 201
    down = min(_db_primaries(cluster, client, "account")
               & _db_primaries(cluster, client, "container", "meta-c")
               & _db_primaries(cluster, client, "container", "doomed-c")
               or _db_primaries(cluster, client, "container", "meta-c"))
    assert _proxy(client, "GET", "/meta-c/o", token=False)[0] == 401  # info cached
    cluster.kill_node(down)
    try:
        client.put_container("fresh-c")
        assert client.request("POST", "/meta-c", headers={
            "X-Container-Meta-Color": "blue", "X-Container-Read": ".r:*"})[0] == 204
        assert client.request("DELETE", "/doomed-c")[0] == 204
    finally:
        cluster.start_node(down)
    time.sleep(4)  # past error_suppression_time: the node is asked again at once
    for _ in range(8):
        status, _, body = _proxy(client, "GET", "?format=json")
        names = {item["name"] for item in json.loads(body)}
        assert status == 200 and "fresh-c" in names and "doomed-c" not in names, names
        status, _ = client.request("HEAD", "/doomed-c")
        assert status == 404
        assert client.request("PUT", "/doomed-c/o", b"x")[0] == 404
        headers = _proxy(client, "HEAD", "/meta-c")[1]
        assert headers.get("x-container-meta-color") == "blue", headers
        assert _proxy(client, "GET", "/meta-c/o", token=False)[0] == 200



def _container_replicas(cluster, client: ProbeClient, container: str
                        ) -> tuple[int, list[tuple[int, dict]]]:
    """The container's partition and ``(all-in-one node, ring device)`` of each primary."""
    ring = Ring(cluster.oiofs_dir, ring_name="container")
    by_port = {n["container_port"]: n["node"] for n in cluster.nodes
               if n.get("container_port")}
    part, devices = ring.get_nodes(client.account, container)
    return part, [(by_port[dev["port"]], dev) for dev in devices]


def _why_missed(cluster, devices: list[dict]) -> str:
    """What the directory and the proxy's log say of the container servers of
    ``devices`` (for a failure message: why did the proxy's PUTs not reach them?)."""
    conscience = ConscienceClient(endpoints=[cluster.layout.directory_url], timeout=5)
    addrs = {f"{dev['ip']}:{dev['port']}" for dev in devices}
    try:
        seen = [s for s in conscience.list_services() if s.get("addr") in addrs]
    except Exception as err:  # a diagnostic never hides the failure it explains
        seen = [f"directory unreadable: {err!r}"]
    lines: list[str] = []
    log = os.path.join(cluster.layout.log, "proxy-server.log")
    if os.path.exists(log):
        with open(log, errors="replace") as handle:
            lines = [line.rstrip() for line in handle
                     if any(f":{dev['port']}" in line for dev in devices)
                     ][-15:]
    return f"directory: {seen}; proxy log about them: {lines}"


def _replica_listing(client: ProbeClient, part: int, device: dict, container: str
                     ) -> list[str]:
    """The names one container replica lists (a direct GET)."""
    resp = direct_request(device["ip"], device["port"], "GET",
                          backend_path(device["device"], part, client.account, container))
    return resp.body.decode().split()


def test_a_listing_no_quorum_of_replicas_agrees_on_is_merged(cluster):
    """Three outages, a different container replica down in each, no updater: every
    replica misses some object PUTs and DELETEs and no two hold the same rows. The
    proxy's listing (merged from the replicas, docs/proxy.md) shows exactly the
    acknowledged objects, in every format, reversed, with a delimiter, and page by page."""
    client = ProbeClient(cluster)
    part, replicas = _container_replicas(cluster, client, "merged")

    statuses: list[int] = []

    def on_every_primary() -> bool:
        # a primary the proxy still avoids after an earlier test's outage gets no
        # database (a handoff does): PUT again until every primary holds one
        client.put_container("merged")
        statuses[:] = [direct_request(dev["ip"], dev["port"], "HEAD", backend_path(
            dev["device"], part, client.account, "merged")).status for _, dev in replicas]
        return statuses == [204] * len(replicas)

    try:
        wait_for(on_every_primary, 60, "every container primary to hold the container",
                 interval=1)
    except AssertionError as err:
        missing = [dev for (_, dev), status in zip(replicas, statuses, strict=True)
                   if status != 204]
        raise AssertionError(f"{err}: HEADs answered {statuses}; "
                             f"{_why_missed(cluster, missing)}") from None
    for name in ("keep", "old1", "old2", "dir/old"):
        assert client.put("merged", name, b"x") == 201
    phases = [("x1", "old1"), ("x2", "dir/old"), ("x3", "old2")]
    for (node, _), (put, delete) in zip(replicas, phases, strict=True):
        cluster.kill_node(node)
        try:
            assert client.put("merged", put, b"x") == 201
            assert client.delete("merged", delete) == 204
        finally:
            cluster.start_node(node)
        # past error_suppression_time: the proxy names this replica in object updates
        # again (else it names a handoff, and the next phase's writes reach one replica)
        time.sleep(4)
    truth = ["keep", "x1", "x2", "x3"]
    alone = [_replica_listing(client, part, dev, "merged") for _, dev in replicas]
    # each replica alone lists a wrong set, no two the same (expected, with no
    # failure: ["keep", "old1", "x2", "x3"], ["dir/old", "keep", "x1", "x3"],
    # ["keep", "old2", "x1", "x2"]); one shows the subdir of a deleted object
    assert all(names != truth for names in alone), alone
    assert len({tuple(names) for names in alone}) == 3, alone
    assert any("dir/old" in names for names in alone), alone
    for _ in range(6):  # the first replica asked changes from read to read
        status, headers, body = _proxy(client, "GET", "/merged?format=json")
        assert status == 200 and headers["content-type"].startswith("application/json")
        assert [r["name"] for r in json.loads(body)] == truth
        assert all(r["bytes"] == 1 and r["hash"] for r in json.loads(body))
        assert _proxy(client, "GET", "/merged")[2].decode().split() == truth
        # X-Newest is no weaker: the replicas tie on the put timestamp, so picking the
        # newest answer by it would serve whichever replica came first
        assert _proxy(client, "GET", "/merged", headers=NEWEST)[2].decode().split() == truth
        xml = _proxy(client, "GET", "/merged?format=xml")[2]
        assert xml.count(b"<object>") == 4 and b"old" not in xml
        assert _proxy(client, "GET", "/merged?reverse=on")[2].decode().split() == \
            truth[::-1]
        assert _proxy(client, "GET", "/merged?delimiter=/")[2].decode().split() == truth
        assert _proxy(client, "GET", "/merged?prefix=dir/")[0] == 204
        pages, marker = [], ""
        while True:
            status, _, body = _proxy(client, "GET", f"/merged?limit=1&marker={marker}")
            if status == 204:
                break
            pages += body.decode().split()
            marker = pages[-1]
        assert pages == truth


def test_an_account_listing_no_quorum_of_replicas_agrees_on_is_merged(cluster):
    """The same for an account: three outages, a different account replica down in
    each; container PUTs and DELETEs; the account listing shows exactly the containers
    that exist."""
    client = ProbeClient(cluster)
    ring = Ring(cluster.oiofs_dir, ring_name="account")
    by_port = {n["account_port"]: n["node"] for n in cluster.nodes if n.get("account_port")}
    part, devices = ring.get_nodes(client.account)
    for name in ("acc-keep", "acc-old1", "acc-old2", "accdir-old"):
        client.put_container(name)
    phases = [("acc-x1", "acc-old1"), ("acc-x2", "accdir-old"), ("acc-x3", "acc-old2")]
    for dev, (put, delete) in zip(devices, phases, strict=True):
        cluster.kill_node(by_port[dev["port"]])
        try:
            client.put_container(put)
            assert client.request("DELETE", f"/{delete}")[0] == 204
        finally:
            cluster.start_node(by_port[dev["port"]])
        time.sleep(4)  # past error_suppression_time (see the container test above)
    truth = ["acc-keep", "acc-x1", "acc-x2", "acc-x3"]
    alone = [direct_request(dev["ip"], dev["port"], "GET",
                            backend_path(dev["device"], part, client.account),
                            query="prefix=acc").body.decode().split() for dev in devices]
    assert all(names != truth for names in alone), alone
    assert len({tuple(names) for names in alone}) == 3, alone
    for _ in range(6):
        status, _, body = _proxy(client, "GET", "?format=json&prefix=acc")
        assert status == 200 and [r["name"] for r in json.loads(body)] == truth
        assert _proxy(client, "GET", "?prefix=acc", headers=NEWEST)[2].decode().split() \
            == truth
        assert _proxy(client, "GET", "?prefix=acc&reverse=on")[2].decode().split() == \
            truth[::-1]
        assert _proxy(client, "GET", "?prefix=acc&delimiter=-")[2].decode().split() == \
            ["acc-"]
        assert _proxy(client, "GET", "?prefix=acc&limit=2&marker=acc-keep"
                      )[2].decode().split() == truth[1:3]
