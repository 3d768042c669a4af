"""Two clusters syncing containers: the realms file they share, and a filter that
records the container-sync requests a proxy receives.

The counting filter is loaded by PasteDeploy from this module (``paste.filter_factory =
tests.support.sync_clusters:filter_factory``), so the proxy must run with the worktree on
its ``PYTHONPATH`` (the test runs do).
"""

from __future__ import annotations

import os
import re

from oiofs.common.container_sync_realms import REALMS_FILE
from tests.support.cluster import TestCluster

REALM = "TEST"
REALM_KEY = "realm-secret-1"


def write_realms(clusters: dict) -> None:
    """Write one realm naming every cluster (``{name: TestCluster}``) into each one's
    ``oiofs_dir``."""
    text = f"[{REALM}]\nkey = {REALM_KEY}\n" + "".join(
        f"cluster_{name} = {cluster.proxy_url}/v1/\n"
        for name, cluster in clusters.items())
    for cluster in clusters.values():
        with open(os.path.join(cluster.oiofs_dir, REALMS_FILE), "w") as handle:
            handle.write(text)


def start_sync_clusters(a_nodes: int) -> tuple[TestCluster, TestCluster]:
    """Start cluster A (``a_nodes`` nodes, as many replicas) and B (1 node), no daemons
    in the background, both in one realm (``a`` and ``b``), B's proxy counting the sync
    requests it gets. The caller destroys both; a failed start destroys them here."""
    a = TestCluster(nodes=a_nodes, replicas=a_nodes, part_power=4, daemons=False)
    b = TestCluster(nodes=1, replicas=1, part_power=4, daemons=False)
    try:
        a.start()
        b.start()
        write_realms({"a": a, "b": b})
        add_sync_counter(b)
    except BaseException:
        a.destroy()
        b.destroy()
        raise
    return a, b


def count_file(cluster) -> str:
    """Where the counting filter of ``cluster``'s proxy writes."""
    return os.path.join(cluster.root, "sync-requests.log")


def add_sync_counter(cluster) -> None:
    """Put the counting filter first in the proxy's pipeline and restart the proxy."""

    def edit(text: str) -> str:
        text = re.sub(r"^pipeline = ", "pipeline = synccount ", text, count=1, flags=re.M)
        return text + ("\n[filter:synccount]\n"
                       "paste.filter_factory = tests.support.sync_clusters:filter_factory\n"
                       f"count_file = {count_file(cluster)}\n")

    cluster.rewrite_proxy_conf(edit)


def sync_requests(cluster) -> list[tuple[str, str, int]]:
    """``(method, path, status)`` of every container-sync request the proxy answered."""
    try:
        with open(count_file(cluster)) as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        method, status, path = line.split(" ", 2)
        out.append((method, path, int(status)))
    return out


def filter_factory(global_conf: dict, **local_conf):
    """A filter appending ``<method> <status> <path>`` for each request that carries
    ``X-Container-Sync-Auth`` or ``X-Container-Sync-Key`` on an object path."""
    path = local_conf["count_file"]

    def make(app):
        def counting(environ, start_response):
            signed = "HTTP_X_CONTAINER_SYNC_AUTH" in environ or (
                "HTTP_X_CONTAINER_SYNC_KEY" in environ
                and environ.get("PATH_INFO", "").count("/") >= 4)
            if not signed:
                return app(environ, start_response)
            seen = {}

            def recording_start_response(status, headers, exc_info=None):
                seen["status"] = status.split(" ", 1)[0]
                return start_response(status, headers, exc_info)

            body = app(environ, recording_start_response)
            with open(path, "a") as handle:
                handle.write(f"{environ['REQUEST_METHOD']} {seen.get('status', '0')} "
                             f"{environ.get('PATH_INFO', '')}\n")
            return body

        return counting

    return make
