"""A storage-policy split reconciled: replication settles the policy, the container
replicator queues the misplaced objects, the container-reconciler moves them.

One account, one container and one object server (subprocesses), each with three devices
in zones 1-3, so every ring has three replicas served by one process; two replicated
policies (0 ``gold``, 1 ``silver``), each with its object ring over the same devices.
The container replicator and the reconciler run in this process (the reconciler with its
in-process proxy), one pass at a time.
"""

from __future__ import annotations

import logging

import pytest

from oiofs.common.backend_protocol import CONTAINER_UPDATE, POLICY_INDEX_HEADER, deal_update_headers
from oiofs.common.db.broker import db_dir_for
from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.hashing import set_hash_path_secret
from oiofs.common.reconciler_queue import MISPLACED_ACCOUNT, queue_container, queue_object
from oiofs.common.storage_policy import POLICIES
from oiofs.common.timestamp import Timestamp
from oiofs.container.backend import ContainerBroker
from oiofs.container.replicator import ContainerReplicator
from oiofs.proxy.reconciler import ContainerReconciler
from tests.support.small_cluster import TWO_POLICIES, small_cluster

LOG = logging.getLogger("test.container_reconciler")
ACCOUNT = "AUTH_rec"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    set_hash_path_secret("test-prefix", "test-suffix")
    base = str(tmp_path_factory.mktemp("reconciler"))
    try:
        with small_cluster(base, ("object", "object-1"), TWO_POLICIES) as running:
            yield running
    finally:
        POLICIES.load({})  # the in-process proxy loaded the cluster's policies


def request(node, method, path, **kwargs):
    return direct_request(node["ip"], node["port"], method, path, **kwargs)


def split_container(cluster, container, policies):
    """Create ``container`` on its replicas as a split would: replica i with policy
    ``policies[i]``, the first ones first (earlier timestamps)."""
    part, nodes = cluster["rings"]["container"].get_nodes(ACCOUNT, container)
    for node, policy in zip(nodes, policies, strict=True):
        resp = request(node, "PUT", backend_path(node["device"], part, ACCOUNT, container),
                       headers={"X-Timestamp": Timestamp.now().internal,
                                POLICY_INDEX_HEADER: str(policy)})
        assert resp.status == 201


def put_object(cluster, container, obj, policy, body, meta="x"):
    """PUT an object in ``policy`` on its primaries, updating the container as the
    proxy would (the rows are recorded with that policy); its timestamp."""
    ring = cluster["rings"]["object" if policy == 0 else f"object-{policy}"]
    part, nodes = ring.get_nodes(ACCOUNT, container, obj)
    cpart, cnodes = cluster["rings"]["container"].get_nodes(ACCOUNT, container)
    updates = deal_update_headers(CONTAINER_UPDATE, cpart, cnodes, 3, 2, 2)
    timestamp = Timestamp.now()
    for node, update in zip(nodes, updates, strict=True):
        resp = request(node, "PUT", backend_path(node["device"], part, ACCOUNT, container, obj),
                       headers={"X-Timestamp": timestamp.internal, POLICY_INDEX_HEADER: str(policy),
                                "Content-Type": "text/x-test", "X-Object-Meta-Color": meta,
                                **update}, body=body)
        assert resp.status == 201
    return timestamp


def object_answers(cluster, container, obj, policy):
    """Per primary of ``policy``: (status, body, X-Timestamp, meta color)."""
    ring = cluster["rings"]["object" if policy == 0 else f"object-{policy}"]
    part, nodes = ring.get_nodes(ACCOUNT, container, obj)
    answers = []
    for node in nodes:
        resp = request(node, "GET", backend_path(node["device"], part, ACCOUNT, container, obj),
                       headers={POLICY_INDEX_HEADER: str(policy)})
        answers.append((resp.status, resp.body if resp.status == 200 else None,
                        resp.headers.get("X-Backend-Timestamp"),
                        resp.headers.get("X-Object-Meta-Color")))
    return answers


def container_brokers(cluster, container):
    part, nodes = cluster["rings"]["container"].get_nodes(ACCOUNT, container)
    return [ContainerBroker(db_dir_for(cluster["devices"]["container"], n["device"],
                                       "containers", part, ACCOUNT, container)[1])
            for n in nodes]


def replicate(cluster):
    conf = {"devices": cluster["devices"]["container"], "mount_check": "false",
            "bind_ip": "127.0.0.1", "bind_port": str(cluster["ports"]["container"]),
            "oiofs_dir": cluster["etc"], "per_diff": "2"}
    return ContainerReplicator(conf, logger=LOG).run_once()


def reconciler(cluster, **options):
    conf = {"oiofs_dir": cluster["etc"], "bind_ip": "127.0.0.1",
            "bind_port": str(cluster["ports"]["container"]), "node_timeout": "5",
            **options}
    return ContainerReconciler(conf, logger=LOG)


def queue_rows(cluster, container=None):
    """Every row of every queue container, from every replica (name, hash, type); only
    those of objects of ``container`` if given."""
    found = set()
    rings = cluster["rings"]
    apart, anodes = rings["account"].get_nodes(MISPLACED_ACCOUNT)
    names = set()
    for node in anodes:
        resp = request(node, "GET", backend_path(node["device"], apart, MISPLACED_ACCOUNT),
                       query={"format": "json"})
        if resp.status == 200:
            names.update(row["name"] for row in resp.json())
    for name in names:
        part, nodes = rings["container"].get_nodes(MISPLACED_ACCOUNT, name)
        for node in nodes:
            resp = request(node, "GET", backend_path(node["device"], part, MISPLACED_ACCOUNT,
                                                     name), query={"format": "json"})
            if resp.status == 200:
                found.update((r["name"], r["hash"], r["content_type"]) for r in resp.json())
    if container is not None:
        found = {row for row in found if f"/{ACCOUNT}/{container}/" in row[0]}
    return found


# --- replication, queueing, reconciling ------------------------------------------------

def test_split_is_settled_queued_and_reconciled(cluster):
    container = "split"
    # replicas 1 and 2 created first with gold (0); replica 3 later with silver (1)
    split_container(cluster, container, [0, 0, 1])
    put_object(cluster, container, "in-gold", 0, b"gold bytes")
    misplaced = put_object(cluster, container, "misplaced", 1, b"silver bytes", meta="blue")
    put_object(cluster, container, "newer-in-gold", 1, b"old silver")
    newest = put_object(cluster, container, "newer-in-gold", 0, b"new gold")

    stats = replicate(cluster)
    assert [b.storage_policy_index for b in container_brokers(cluster, container)] == [0, 0, 0]
    assert stats.misplaced_queued >= 2
    rows = queue_rows(cluster, container)
    assert {(name, kind) for name, _h, kind in rows} == {
        (queue_object(1, ACCOUNT, container, "misplaced"), "application/x-put"),
        (queue_object(1, ACCOUNT, container, "newer-in-gold"), "application/x-put")}
    assert (queue_object(1, ACCOUNT, container, "misplaced"), misplaced.internal,
            "application/x-put") in rows
    assert queue_container(misplaced) in {
        row["name"] for row in request(
            *_account_primary(cluster), query={"format": "json"}).json()}

    # a second pass queues nothing new: the sync point moved past the rows
    assert replicate(cluster).misplaced_queued == 0

    stats = reconciler(cluster).run_once()
    assert (stats.moved, stats.cleaned, stats.rows_removed) == (1, 1, 2), stats
    assert queue_rows(cluster, container) == set()
    moved = object_answers(cluster, container, "misplaced", 0)
    assert {(s, b, m) for s, b, _t, m in moved} == {(200, b"silver bytes", "blue")}
    assert {t for _s, _b, t, _m in moved} == {Timestamp(misplaced, offset=2).internal}
    assert {s for s, *_ in object_answers(cluster, container, "misplaced", 1)} == {404}
    # the newer version in the right policy was kept; the older misplaced one removed
    assert {(s, b) for s, b, *_ in object_answers(cluster, container, "newer-in-gold", 0)} \
        == {(200, b"new gold")}
    assert {t for *_x, t, _m in object_answers(cluster, container, "newer-in-gold", 0)} == {
        newest.internal}
    assert {s for s, *_ in object_answers(cluster, container, "newer-in-gold", 1)} == {404}
    assert {(s, b) for s, b, *_ in object_answers(cluster, container, "in-gold", 0)} == {
        (200, b"gold bytes")}

    # the container lists the objects of its policy; the tombstones queue deletions that
    # change nothing; a second reconciler pass leaves everything as it is
    replicate(cluster)
    reconciler(cluster).run_once()
    assert queue_rows(cluster, container) == set()
    for broker in container_brokers(cluster, container):
        listed = [row[0] for row in broker.list_objects_iter(10, "", None, None, None,
                                                             storage_policy_index=0)]
        assert listed == ["in-gold", "misplaced", "newer-in-gold"]
        assert broker.get_policy_stats().get(1, {}).get("object_count", 0) == 0
    assert {(s, b) for s, b, *_ in object_answers(cluster, container, "misplaced", 0)} == {
        (200, b"silver bytes")}


def test_misplaced_deletion_is_applied_in_the_right_policy(cluster):
    container = "deletes"
    split_container(cluster, container, [0, 1, 1])  # gold created first: gold wins
    put_object(cluster, container, "gone", 0, b"to be deleted")
    # a deletion that went to the silver side of the split
    part, nodes = cluster["rings"]["object-1"].get_nodes(ACCOUNT, container, "gone")
    cpart, cnodes = cluster["rings"]["container"].get_nodes(ACCOUNT, container)
    updates = deal_update_headers(CONTAINER_UPDATE, cpart, cnodes, 3, 2, 2)
    deleted_at = Timestamp.now()
    for node, update in zip(nodes, updates, strict=True):
        request(node, "DELETE", backend_path(node["device"], part, ACCOUNT, container, "gone"),
                headers={"X-Timestamp": deleted_at.internal, POLICY_INDEX_HEADER: "1",
                         **update})
    replicate(cluster)
    assert (queue_object(1, ACCOUNT, container, "gone"), deleted_at.internal,
            "application/x-delete") in queue_rows(cluster)
    stats = reconciler(cluster).run_once()
    assert stats.deletes == 1, stats
    assert {s for s, *_ in object_answers(cluster, container, "gone", 0)} == {404}
    assert not queue_rows(cluster, container)


def test_a_newer_deletion_in_the_right_policy_wins_over_the_misplaced_object(cluster):
    container = "deleted-since"
    split_container(cluster, container, [0, 0, 1])
    put_object(cluster, container, "o", 1, b"misplaced")
    # the user deleted the object later, on the winning side
    part, nodes = cluster["rings"]["object"].get_nodes(ACCOUNT, container, "o")
    for node in nodes:
        request(node, "DELETE", backend_path(node["device"], part, ACCOUNT, container, "o"),
                headers={"X-Timestamp": Timestamp.now().internal, POLICY_INDEX_HEADER: "0"})
    replicate(cluster)
    stats = reconciler(cluster).run_once()
    assert stats.moved == 0 and stats.cleaned >= 1, stats
    assert {s for s, *_ in object_answers(cluster, container, "o", 0)} == {404}
    assert {s for s, *_ in object_answers(cluster, container, "o", 1)} == {404}
    assert not queue_rows(cluster, container)


def test_a_row_newer_than_its_object_waits_for_replication(cluster):
    container = "not-there-yet"
    split_container(cluster, container, [0, 0, 1])
    put_object(cluster, container, "o", 1, b"older copy")
    # the container heard of a newer write that no object server of policy 1 has yet
    newer = Timestamp.now()
    cpart, cnodes = cluster["rings"]["container"].get_nodes(ACCOUNT, container)
    for node in cnodes:
        resp = request(node, "PUT", backend_path(node["device"], cpart, ACCOUNT, container, "o"),
                       headers={"X-Timestamp": newer.internal, POLICY_INDEX_HEADER: "1",
                                "X-Size": "5", "X-Content-Type": "text/plain",
                                "X-Etag": "d41d8cd98f00b204e9800998ecf8427e"})
        assert resp.status == 201
    replicate(cluster)
    row = (queue_object(1, ACCOUNT, container, "o"), newer.internal, "application/x-put")
    assert row in queue_rows(cluster)
    stats = reconciler(cluster).run_once()
    assert stats.retried >= 1 and stats.moved == 0, stats
    assert row in queue_rows(cluster)  # still queued
    assert {(s, b) for s, b, *_ in object_answers(cluster, container, "o", 1)} == {
        (200, b"older copy")}  # nothing deleted
    assert {s for s, *_ in object_answers(cluster, container, "o", 0)} == {404}


class Killed(Exception):
    """The reconciler dying at a chosen point of a move (what a SIGKILL there leaves)."""


class DyingReconciler(ContainerReconciler):
    """A reconciler that dies before request ``method`` in policy ``policy``."""

    def __init__(self, conf, method, policy, **kwargs):
        super().__init__(conf, **kwargs)
        self.die_at = (method, policy)

    def _object(self, method, entry, policy, *args, **kwargs):
        if (method, policy) == self.die_at:
            raise Killed(method)
        return super()._object(method, entry, policy, *args, **kwargs)

    def pop(self, container, name, timestamp):
        if self.die_at == ("pop", None):
            raise Killed("pop")
        return super().pop(container, name, timestamp)


@pytest.mark.parametrize("die_at", [("PUT", 0), ("DELETE", 1), ("pop", None)])
def test_a_move_killed_at_any_step_keeps_the_row_and_the_object(cluster, die_at):
    container = f"killed-{die_at[0].lower()}"
    split_container(cluster, container, [0, 0, 1])
    stamp = put_object(cluster, container, "o", 1, b"survivor")
    replicate(cluster)
    row = queue_object(1, ACCOUNT, container, "o")
    conf = {"oiofs_dir": cluster["etc"], "bind_ip": "127.0.0.1",
            "bind_port": str(cluster["ports"]["container"]), "node_timeout": "5"}
    stats = DyingReconciler(conf, *die_at, logger=LOG).run_once()
    assert stats.retried >= 1
    assert row in {name for name, *_ in queue_rows(cluster)}
    readable = [b for policy in (0, 1)
                for s, b, *_ in object_answers(cluster, container, "o", policy) if s == 200]
    assert readable and set(readable) == {b"survivor"}
    # the next pass finishes the move
    reconciler(cluster).run_once()
    assert row not in {name for name, *_ in queue_rows(cluster)}
    assert {(s, b, t) for s, b, t, _m in object_answers(cluster, container, "o", 0)} == {
        (200, b"survivor", Timestamp(stamp, offset=2).internal)}
    assert {s for s, *_ in object_answers(cluster, container, "o", 1)} == {404}


def _account_primary(cluster):
    part, nodes = cluster["rings"]["account"].get_nodes(MISPLACED_ACCOUNT)
    node = nodes[0]
    return node, "GET", backend_path(node["device"], part, MISPLACED_ACCOUNT)
