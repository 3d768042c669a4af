"""The expiry queue and the object expirer against real servers, on a clock the test drives.

One object, one container and one account server (subprocesses), each with three devices
in zones 1-3 so that every ring has three replicas served by one process. Objects are
written straight to the object servers with the headers the proxy would add (container
updates, expiry queue placement from the proxy's own helper); the object servers write
the queue rows; the container updater (in this process) carries the queue containers to
the ``.expiring_objects`` account; the expirer runs in this process with ``clock`` set
past the objects' times (the servers only compare times the requests carry).
"""

from __future__ import annotations

import logging
import os
import time

import pytest
from werkzeug.test import Client

from oiofs.common.backend_protocol import deal_update_headers
from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.expiring import (
    EXPIRING_ACCOUNT,
    ROW_ETAG,
    handles_row,
    queue_container,
    queue_object,
)
from oiofs.common.hashing import set_hash_path_secret
from oiofs.common.timestamp import Timestamp
from oiofs.container.updater import ContainerUpdater
from oiofs.obj.expirer import ObjectExpirer
from oiofs.proxy.controllers.obj import delete_at_update_headers
from tests.support.small_cluster import small_cluster
from tests.support.waiting import wait_for

LOG = logging.getLogger("test.object_expirer")
ACCOUNT, CONTAINER = "AUTH_exp", "box"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # module fixtures run before the autouse function fixture that sets the test secret
    set_hash_path_secret("test-prefix", "test-suffix")
    with small_cluster(str(tmp_path_factory.mktemp("expirer"))) as running:
        rings = running["rings"]
        part, nodes = rings["container"].get_nodes(ACCOUNT, CONTAINER)
        for node in nodes:
            direct_request(node["ip"], node["port"], "PUT",
                           backend_path(node["device"], part, ACCOUNT, CONTAINER),
                           headers={"X-Timestamp": Timestamp.now().internal},
                           expect_success=True)
        yield running


def write(cluster, method, obj, delete_at=None, body=b"data", **extra):
    """PUT/POST/DELETE an object on its primaries as the proxy would; the statuses."""
    rings = cluster["rings"]
    part, nodes = rings["object"].get_nodes(ACCOUNT, CONTAINER, obj)
    cpart, cnodes = rings["container"].get_nodes(ACCOUNT, CONTAINER)
    container_headers = deal_update_headers("X-Container", cpart, cnodes, 3, 2, 2)
    queue_headers = delete_at_update_headers(delete_at, 3, rings["container"])
    timestamp = Timestamp.now().internal
    statuses = []
    for node, cont, queue in zip(nodes, container_headers, queue_headers, strict=True):
        headers = {"X-Timestamp": timestamp, **queue, **extra}
        if method != "POST":
            headers.update(cont)
        if method == "PUT":
            headers["Content-Type"] = "application/octet-stream"
        if delete_at:
            headers["X-Delete-At"] = str(delete_at)
        resp = direct_request(node["ip"], node["port"], method,
                              backend_path(node["device"], part, ACCOUNT, CONTAINER, obj),
                              headers=headers, body=body if method == "PUT" else None)
        statuses.append(resp.status)
    return statuses


def listing(cluster, account, container) -> list[list[tuple]]:
    """Per container replica: its rows as (name, bytes, content_type, hash)."""
    part, nodes = cluster["rings"]["container"].get_nodes(account, container)
    result = []
    for node in nodes:
        resp = direct_request(node["ip"], node["port"], "GET",
                              backend_path(node["device"], part, account, container),
                              query={"format": "json"})
        rows = resp.json() if resp.status == 200 else []
        result.append([(r["name"], r["bytes"], r["content_type"], r["hash"]) for r in rows])
    return result


def queue_rows(cluster, delete_at) -> list[list[str]]:
    return [[row[0] for row in rows] for rows in
            listing(cluster, EXPIRING_ACCOUNT, queue_container(delete_at))]


def object_status(cluster, obj) -> list[int]:
    part, nodes = cluster["rings"]["object"].get_nodes(ACCOUNT, CONTAINER, obj)
    return [direct_request(n["ip"], n["port"], "HEAD",
                           backend_path(n["device"], part, ACCOUNT, CONTAINER, obj)).status
            for n in nodes]


def data_files(cluster, obj) -> list[str]:
    """The .data files of the object on every device of the object server."""
    found = []
    for root, _dirs, files in os.walk(cluster["devices"]["object"]):
        for name in files:
            if name.endswith(".data"):
                with open(os.path.join(root, name), "rb") as handle:
                    # the data, then its block checksum list (4 bytes: one block)
                    if handle.read()[:-4] == obj.encode():
                        found.append(os.path.join(root, name))
    return found


def report_queue_containers(cluster) -> None:
    """One container updater pass: the queue containers reach the hidden account."""
    conf = {"devices": cluster["devices"]["container"], "mount_check": "false",
            "bind_ip": "127.0.0.1", "bind_port": str(cluster["ports"]["container"]),
            "oiofs_dir": cluster["etc"]}
    ContainerUpdater(conf, logger=LOG).run_once()


def expirer(cluster, now, **options) -> ObjectExpirer:
    conf = {"oiofs_dir": cluster["etc"], "bind_ip": "127.0.0.1",
            "bind_port": str(cluster["ports"]["object"]), "tasks_per_second": "0",
            "node_timeout": "5", **options}
    return ObjectExpirer(conf, logger=LOG, clock=lambda: now)


def future(seconds=1000) -> int:
    return int(time.time()) + seconds


# --- the queue, as the object servers keep it ---------------------------------------------

def test_put_with_delete_at_queues_a_row_on_every_queue_replica(cluster):
    delete_at = future()
    assert write(cluster, "PUT", "q1", delete_at, body=b"q1") == [201] * 3
    row = queue_object(delete_at, ACCOUNT, CONTAINER, "q1")
    assert wait_for(lambda: queue_rows(cluster, delete_at) == [[row]] * 3)
    rows = listing(cluster, EXPIRING_ACCOUNT, queue_container(delete_at))
    assert rows[0] == [(row, 0, "text/plain", ROW_ETAG)]


def test_overwrite_post_and_delete_move_or_remove_the_row(cluster):
    first, second = future(1000), future(2000)
    write(cluster, "PUT", "q2", first)
    old_row = queue_object(first, ACCOUNT, CONTAINER, "q2")
    new_row = queue_object(second, ACCOUNT, CONTAINER, "q2")
    assert wait_for(lambda: queue_rows(cluster, first) == [[old_row]] * 3
                    or old_row in queue_rows(cluster, first)[0])
    # overwrite with another time: new row in, old row out (found through the ring)
    assert write(cluster, "PUT", "q2", second) == [201] * 3
    assert wait_for(lambda: all(old_row not in rows for rows in queue_rows(cluster, first))
                    and all(new_row in rows for rows in queue_rows(cluster, second)))
    # a POST without X-Delete-At takes the expiry away, and its row
    assert write(cluster, "POST", "q2") == [202] * 3
    assert wait_for(lambda: all(new_row not in rows for rows in queue_rows(cluster, second)))
    # a POST setting a time queues it again; a DELETE removes it
    assert write(cluster, "POST", "q2", first) == [202] * 3
    assert wait_for(lambda: all(old_row in rows for rows in queue_rows(cluster, first)))
    assert write(cluster, "DELETE", "q2") == [204] * 3
    assert wait_for(lambda: all(old_row not in rows for rows in queue_rows(cluster, first)))


def test_remove_delete_at_with_an_empty_header(cluster):
    delete_at = future(1500)
    write(cluster, "PUT", "q3", delete_at)
    row = queue_object(delete_at, ACCOUNT, CONTAINER, "q3")
    assert wait_for(lambda: all(row in rows for rows in queue_rows(cluster, delete_at)))
    # the proxy turns X-Remove-Delete-At into an empty X-Delete-At
    assert write(cluster, "POST", "q3", **{"X-Delete-At": ""}) == [202] * 3
    assert wait_for(lambda: all(row not in rows for rows in queue_rows(cluster, delete_at)))
    part, nodes = cluster["rings"]["object"].get_nodes(ACCOUNT, CONTAINER, "q3")
    resp = direct_request(nodes[0]["ip"], nodes[0]["port"], "HEAD",
                          backend_path(nodes[0]["device"], part, ACCOUNT, CONTAINER, "q3"))
    assert resp.status == 200 and "x-delete-at" not in resp.headers


# --- the expirer ---------------------------------------------------------------------------

def test_expirer_deletes_due_objects_and_their_rows_only(cluster):
    due, later = future(1000), future(1000 + 86400 * 3)
    write(cluster, "PUT", "e1", due, body=b"e1")
    write(cluster, "PUT", "e2", later, body=b"e2")
    row = queue_object(due, ACCOUNT, CONTAINER, "e1")
    assert wait_for(lambda: all("e1" in [r[0] for r in rows]
                                for rows in listing(cluster, ACCOUNT, CONTAINER)))
    assert wait_for(lambda: all(row in rows for rows in queue_rows(cluster, due)))
    report_queue_containers(cluster)
    # before its time: nothing happens to it
    expirer(cluster, due - 1).run_once()
    assert object_status(cluster, "e1") == [200] * 3
    assert all(row in rows for rows in queue_rows(cluster, due))
    stats = expirer(cluster, due + 1).run_once()
    assert stats.failures == 0 and stats.expired >= 1 and stats.rows_removed >= 1
    assert object_status(cluster, "e1") == [404] * 3
    assert data_files(cluster, "e1") == []
    assert len(data_files(cluster, "e2")) == 3
    names = [[row[0] for row in rows] for rows in listing(cluster, ACCOUNT, CONTAINER)]
    assert all("e1" not in rows and "e2" in rows for rows in names)
    assert all(not r.endswith("/e1") for rows in queue_rows(cluster, due) for r in rows)
    assert all(any(r.endswith("/e2") for r in rows) for rows in queue_rows(cluster, later))
    # a second pass finds nothing left to do
    stats = expirer(cluster, due + 1).run_once()
    assert (stats.expired, stats.rewritten, stats.failures) == (0, 0, 0)


def test_object_rewritten_since_is_kept_and_its_row_dropped(cluster):
    delete_at = future(1200)
    write(cluster, "PUT", "r1", delete_at, body=b"r1")
    row = queue_object(delete_at, ACCOUNT, CONTAINER, "r1")
    assert wait_for(lambda: all(row in rows for rows in queue_rows(cluster, delete_at)))
    # rewritten without an expiry, and without cleaning the queue (as if that had failed)
    assert write(cluster, "PUT", "r1", body=b"r1", **{
        "X-Backend-Clean-Expiring-Object-Queue": "no"}) == [201] * 3
    assert all(row in rows for rows in queue_rows(cluster, delete_at))
    report_queue_containers(cluster)
    stats = expirer(cluster, delete_at + 5).run_once()
    assert stats.rewritten >= 1 and stats.failures == 0
    assert object_status(cluster, "r1") == [200] * 3
    assert all(row not in rows for rows in queue_rows(cluster, delete_at))


def test_rows_are_shared_between_expirers_and_overdue_ones_taken_over(cluster):
    delete_at = future(1300)
    container = queue_container(delete_at)
    # two objects whose rows belong to expirer 0 of 2, two to expirer 1
    names: dict[int, list[str]] = {0: [], 1: []}
    for i in range(64):
        owner = 0 if handles_row(container, queue_object(delete_at, ACCOUNT, CONTAINER,
                                                          f"s{i}"), 0, 2, 0, 0) else 1
        if len(names[owner]) < 2:
            names[owner].append(f"s{i}")
    mine, theirs = names[0], names[1]
    assert len(mine) == len(theirs) == 2
    rows = {name: queue_object(delete_at, ACCOUNT, CONTAINER, name) for name in mine + theirs}
    for name in mine + theirs:
        write(cluster, "PUT", name, delete_at, body=name.encode())
    assert wait_for(lambda: all(set(rows.values()) <= set(r)
                                for r in queue_rows(cluster, delete_at)))
    report_queue_containers(cluster)
    now = delete_at + 10
    first = expirer(cluster, now, processes="2", process="0").run_once()
    assert first.skipped >= 2 and first.failures == 0
    assert [object_status(cluster, n) for n in mine + theirs] == \
        [[404] * 3] * 2 + [[200] * 3] * 2
    assert all(set(r) & set(rows.values()) == {rows[n] for n in theirs}
               for r in queue_rows(cluster, delete_at))
    # expirer 1 is "down"; once its rows are takeover_delay overdue, expirer 0 takes them
    late = expirer(cluster, now + 100, processes="2", process="0",
                   takeover_delay="50").run_once()
    assert late.expired >= 2 and late.failures == 0
    assert [object_status(cluster, n) for n in theirs] == [[404] * 3] * 2
    assert all(not set(r) & set(rows.values()) for r in queue_rows(cluster, delete_at))


def test_quorum_of_primaries_is_enough(cluster):
    delete_at = future(1400)
    write(cluster, "PUT", "d1", delete_at, body=b"d1")
    row = queue_object(delete_at, ACCOUNT, CONTAINER, "d1")
    assert wait_for(lambda: all(row in rows for rows in queue_rows(cluster, delete_at)))
    report_queue_containers(cluster)
    part, nodes = cluster["rings"]["object"].get_nodes(ACCOUNT, CONTAINER, "d1")
    device_dir = os.path.join(cluster["devices"]["object"], nodes[0]["device"])
    os.rename(device_dir, device_dir + ".away")  # 507 from this primary
    try:
        stats = expirer(cluster, delete_at + 1).run_once()
    finally:
        os.rename(device_dir + ".away", device_dir)
    assert stats.expired >= 1 and stats.failures == 0
    assert len(data_files(cluster, "d1")) == 1  # replication will take it from here
    assert all(row not in rows for rows in queue_rows(cluster, delete_at))


def test_no_quorum_keeps_the_row(cluster):
    delete_at = future(1500)
    write(cluster, "PUT", "n1", delete_at, body=b"n1")
    row = queue_object(delete_at, ACCOUNT, CONTAINER, "n1")
    assert wait_for(lambda: all(row in rows for rows in queue_rows(cluster, delete_at)))
    report_queue_containers(cluster)
    cluster["servers"]["object"].kill()
    try:
        stats = expirer(cluster, delete_at + 1, conn_timeout="0.2").run_once()
    finally:
        cluster["servers"]["object"].start()
    assert stats.expired == 0 and stats.failures >= 1
    assert all(row in rows for rows in queue_rows(cluster, delete_at))
    assert expirer(cluster, delete_at + 1).run_once().expired >= 1
    assert object_status(cluster, "n1") == [404] * 3
    assert all(row not in rows for rows in queue_rows(cluster, delete_at))


def test_a_failing_queue_replica_does_not_stop_the_pass(cluster):
    delete_at = future(1700)
    write(cluster, "PUT", "f1", delete_at, body=b"f1")
    row = queue_object(delete_at, ACCOUNT, CONTAINER, "f1")
    assert wait_for(lambda: all(row in rows for rows in queue_rows(cluster, delete_at)))
    report_queue_containers(cluster)
    part, nodes = cluster["rings"]["container"].get_nodes(EXPIRING_ACCOUNT,
                                                          queue_container(delete_at))
    device_dir = os.path.join(cluster["devices"]["container"], nodes[0]["device"])
    os.rename(device_dir, device_dir + ".away")  # 507 for its listings and row deletes
    try:
        # whichever replica it asks first, it lists from one that answers
        stats = expirer(cluster, delete_at + 1).run_once()
    finally:
        os.rename(device_dir + ".away", device_dir)
    assert stats.expired >= 1 and stats.rows_removed >= 1
    assert object_status(cluster, "f1") == [404] * 3
    rows = queue_rows(cluster, delete_at)
    assert row in rows[0] and all(row not in r for r in rows[1:])
    # the replica that was away still lists it: a pass that reads that replica (it picks
    # one at random) drops it there too (412); 30 passes miss it with odds of 1 in 10^5
    for _ in range(30):
        expirer(cluster, delete_at + 1).run_once()
        if all(row not in r for r in queue_rows(cluster, delete_at)):
            break
    assert all(row not in r for r in queue_rows(cluster, delete_at))
    assert object_status(cluster, "f1") == [404] * 3


# --- the proxy ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def proxy(cluster):
    from oiofs.proxy.server import Application

    app = Application({"oiofs_dir": cluster["etc"], "log_level": "WARNING",
                       "account_autocreate": "true"})
    return Client(app)


def test_proxy_queues_objects_it_stores_with_an_expiry(cluster, proxy):
    resp = proxy.put(f"/v1/{ACCOUNT}/{CONTAINER}/px", data=b"px",
                     headers={"X-Delete-After": "5000", "Content-Type": "text/plain"})
    assert resp.status_code == 201
    resp = proxy.head(f"/v1/{ACCOUNT}/{CONTAINER}/px")
    delete_at = int(resp.headers["X-Delete-At"])
    row = queue_object(delete_at, ACCOUNT, CONTAINER, "px")
    assert wait_for(lambda: all(row in rows for rows in queue_rows(cluster, delete_at)))
    assert proxy.post(f"/v1/{ACCOUNT}/{CONTAINER}/px",
                      headers={"X-Delete-At": str(delete_at + 86400)}).status_code == 202
    moved = queue_object(delete_at + 86400, ACCOUNT, CONTAINER, "px")
    assert wait_for(lambda: all(moved in rows for rows in queue_rows(cluster, delete_at + 86400))
                    and all(row not in rows for rows in queue_rows(cluster, delete_at)))
    assert proxy.post(f"/v1/{ACCOUNT}/{CONTAINER}/px",
                      headers={"X-Remove-Delete-At": "1"}).status_code == 202
    assert wait_for(lambda: all(moved not in rows
                                for rows in queue_rows(cluster, delete_at + 86400)))


@pytest.mark.parametrize("path", [
    f"/v1/{EXPIRING_ACCOUNT}", f"/v1/{EXPIRING_ACCOUNT}/1700006400",
    f"/v1/{EXPIRING_ACCOUNT}/1700006400/1700050000-a/c/o", "/v1/.anything/c",
])
def test_proxy_refuses_hidden_accounts_even_without_auth(proxy, path):
    for method in ("GET", "HEAD", "PUT", "POST", "DELETE"):
        assert proxy.open(path, method=method).status_code == 403, (method, path)


def test_proxy_refuses_copies_from_or_to_hidden_accounts(proxy):
    assert proxy.put(f"/v1/{ACCOUNT}/{CONTAINER}/src", data=b"s").status_code == 201
    resp = proxy.put(f"/v1/{ACCOUNT}/{CONTAINER}/dst", headers={
        "X-Copy-From": "1700006400/1700050000-a/c/o",
        "X-Copy-From-Account": EXPIRING_ACCOUNT})
    assert resp.status_code == 403
    resp = proxy.open(f"/v1/{ACCOUNT}/{CONTAINER}/src", method="COPY", headers={
        "Destination": "1700006400/x", "Destination-Account": EXPIRING_ACCOUNT})
    assert resp.status_code == 403


# --- last: it drives the clock days ahead and removes today's queue containers ---------

def test_past_empty_queue_containers_are_removed(cluster):
    delete_at = future(1600)
    write(cluster, "PUT", "p1", delete_at, body=b"p1")
    row = queue_object(delete_at, ACCOUNT, CONTAINER, "p1")
    assert wait_for(lambda: all(row in rows for rows in queue_rows(cluster, delete_at)))
    report_queue_containers(cluster)
    name = queue_container(delete_at)
    end = int(name) + 86400
    # every row of every container due by then is handled; each emptied container goes
    stats = expirer(cluster, end + 86400 * 4).run_once()
    assert stats.failures == 0 and stats.containers_removed >= 1
    assert name not in expirer(cluster, end).queue_containers()
    part, nodes = cluster["rings"]["container"].get_nodes(EXPIRING_ACCOUNT, name)
    assert [direct_request(n["ip"], n["port"], "HEAD", backend_path(
        n["device"], part, EXPIRING_ACCOUNT, name)).status for n in nodes] == [404] * 3
