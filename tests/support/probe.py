"""Helpers for probe tests: a small Swift API client and direct looks at each replica."""

from __future__ import annotations

import http.client
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlparse

from oiofs.cli.allinone import processes
from oiofs.common.config import readconf
from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.hashing import hash_path, set_hash_path_secret
from oiofs.common.ring import Ring
from tests.support.cluster import TestCluster
from tests.support.proxy_client import Client


def use_cluster_secret(cluster) -> None:
    """Hash names in this process with the cluster's secret (tests reset it to theirs)."""
    conf = readconf(os.path.join(cluster.oiofs_dir, "oiofs.conf"), "hash")
    set_hash_path_secret(conf.get("hash_path_prefix", ""), conf.get("hash_path_suffix", ""))


class ProbeClient:
    """Talks to the cluster's proxy as ``test:tester``; finds replicas through the ring."""

    def __init__(self, cluster):
        self.cluster = cluster
        url, self.token = cluster.auth()
        parsed = urlparse(url)
        self.host, self.port, self.base = parsed.hostname, parsed.port, parsed.path
        self.account = self.base.rsplit("/", 1)[-1]
        self.ring = Ring(cluster.oiofs_dir, ring_name="object")
        self.by_device = {n["device"]: n for n in cluster.nodes}

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, quote(self.base + path), body=body,
                         headers={"X-Auth-Token": self.token, **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def put_container(self, container: str) -> None:
        status, _ = self.request("PUT", f"/{container}")
        assert status in (201, 202), status

    def put(self, container: str, obj: str, body: bytes) -> int:
        return self.request("PUT", f"/{container}/{obj}", body,
                            {"Content-Type": "application/octet-stream"})[0]

    def get(self, container: str, obj: str) -> tuple[int, bytes]:
        return self.request("GET", f"/{container}/{obj}")

    def delete(self, container: str, obj: str) -> int:
        return self.request("DELETE", f"/{container}/{obj}")[0]

    def primaries(self, container: str, obj: str) -> list[dict]:
        """The primary ring devices of an object, each with its all-in-one ``node``."""
        _, nodes = self.ring.get_nodes(self.account, container, obj)
        return [dict(n, node=self.by_device[n["device"]]["node"]) for n in nodes]

    def part(self, container: str, obj: str) -> int:
        return self.ring.get_part(self.account, container, obj)


def primary_status(client: ProbeClient, container: str, obj: str) -> dict[int, int]:
    """``{node: status}`` of a direct HEAD of the object on each primary."""
    part = client.part(container, obj)
    result = {}
    for node in client.primaries(container, obj):
        resp = direct_request(node["ip"], node["port"], "HEAD",
                              backend_path(node["device"], part, client.account, container,
                                           obj))
        result[node["node"]] = resp.status
    return result


def object_dirs(cluster, client: ProbeClient, container: str, obj: str
                ) -> list[tuple[int, str]]:
    """``(node, hash dir)`` of every node whose disk holds files of the object."""
    name_hash = hash_path(client.account, container, obj)
    part = client.part(container, obj)
    found = []
    for node in cluster.nodes:
        hash_dir = os.path.join(node["devices"], node["device"], "objects", str(part),
                                name_hash[-3:], name_hash)
        if os.path.isdir(hash_dir) and os.listdir(hash_dir):
            found.append((node["node"], hash_dir))
    return found


def data_files(cluster) -> int:
    """How many ``.data`` files (replicas and fragment archives) every device holds."""
    return sum(1 for node in cluster.nodes for _r, _d, files in os.walk(node["devices"])
               for f in files if f.endswith(".data"))


def data_file_report(cluster) -> list[str]:
    """Each ``.data`` file as ``device/objects[-N]/part/suffix/hash/name``, marked
    ``(handoff)`` when its device is not a primary of its partition (for failure
    messages: a handoff copy is reached only by replication, not by the primaries'
    requests)."""
    rings: dict[str, Ring] = {}
    report = []
    for node in cluster.nodes:
        for root, _dirs, files in os.walk(node["devices"]):
            for name in files:
                if not name.endswith(".data"):
                    continue
                rel = os.path.relpath(os.path.join(root, name), node["devices"])
                device, kind, part = rel.split(os.sep)[:3]
                ring_name = "object" if kind == "objects" else f"object-{kind[8:]}"
                if ring_name not in rings:
                    rings[ring_name] = Ring(cluster.oiofs_dir, ring_name=ring_name)
                primaries = {(d["port"], d["device"]) for d in
                             rings[ring_name].get_part_nodes(int(part))}
                port = node.get("object_port")
                mark = "" if (port, device) in primaries else " (handoff)"
                report.append(f"node {node['node']}: {rel}{mark}")
    return report


def kill_reapers_midway(cluster, files_gone: int, timeout: float = 120.0) -> None:
    """Start one ``account-reaper`` pass on every node as its own process and SIGKILL
    them all once ``files_gone`` ``.data`` files are gone (or they ended, or
    ``timeout``)."""
    lay = cluster.layout
    before = data_files(cluster)
    procs = [subprocess.Popen(processes.daemon_argv(
        "account-reaper", lay.server_conf(node, "account"), once=True),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for node in lay.node_numbers()]
    deadline = time.monotonic() + timeout
    try:
        while data_files(cluster) > before - files_gone and time.monotonic() < deadline \
                and any(p.poll() is None for p in procs):
            time.sleep(0.05)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


@contextmanager
def running_cluster(**kwargs) -> Iterator[TestCluster]:
    """A started :class:`TestCluster` (``kwargs`` as its own), destroyed afterwards."""
    cluster = TestCluster(**kwargs)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def delete_account_as_admin(cluster, account: str) -> int:
    """``DELETE /v1/<account>`` by the reseller admin ``admin:admin``; its status."""
    url, token = cluster.auth("admin:admin")
    admin = Client(cluster, user=None, storage_url=url.rsplit("/", 1)[0] + "/" + account,
                   token=token)
    try:
        return admin.request("DELETE").status
    finally:
        admin.close()
