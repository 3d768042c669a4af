#!/usr/bin/env python3
"""How long the admin operations on one container base take, by its number of rows.

Starts an all-in-one cluster (4 nodes, 3 replicas, no daemons) in a temporary directory,
fills one container with ``--rows`` object rows (straight to its three container servers,
``--batch`` concurrent PUTs), then times: ``election_status``, ``vacuum_base`` (all
three replicas), ``copy_base_to`` the handoff device (snapshot, stream, check, verify),
``Meta2Database.rebuild`` of a removed primary replica, and ``election_sync`` of a
replica that lost its copy. Prints one line per operation and the base's size. Example::

    PYTHONPATH=$PWD python bench/base_admin_bench.py --rows 20000
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.timestamp import Timestamp
from oiofs.directory.admin_client import AdminClient, replica_id
from oiofs.directory.meta2 import Meta2Database
from tests.support.cluster import TestCluster
from tests.support.probe import use_cluster_secret
from tests.support.proxy_client import Client


def fill(admin: AdminClient, container: str, rows: int, batch: int) -> None:
    part, nodes = admin.locate("container", "AUTH_test", container)

    def put(i: int) -> None:
        stamp = Timestamp.now().internal  # one per object, as the proxy sends it
        for node in nodes:
            path = backend_path(node["device"], part, "AUTH_test", container, f"obj-{i:08d}")
            direct_request(node["ip"], node["port"], "PUT", path, {
                "X-Timestamp": stamp, "X-Size": str(i % 4096),
                "X-Content-Type": "application/octet-stream",
                "X-Etag": "d41d8cd98f00b204e9800998ecf8427e"}, expect_success=True)

    with ThreadPoolExecutor(batch) as pool:
        list(pool.map(put, range(rows)))


def timed(label: str, call):
    began = time.perf_counter()
    result = call()
    print(f"{label:<28} {time.perf_counter() - began:8.3f} s")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    cluster = TestCluster(nodes=4, replicas=3, part_power=4, proxy_workers=1,
                          daemons=False).start()
    try:
        use_cluster_secret(cluster)
        admin = AdminClient({}, oiofs_dir_path=cluster.oiofs_dir)
        client = Client(cluster)
        assert client.request("PUT", "/bench").status in (201, 202)
        client.close()
        timed(f"fill {args.rows} rows", lambda: fill(admin, "bench", args.rows, args.batch))
        status = timed("election_status", lambda: admin.election_status(
            "container", "AUTH_test", "bench"))
        best = status["peers"][status["most_up_to_date"]]["body"]
        print(f"base: {best['count']} rows, {best['size'] / 1e6:.1f} MB")
        vac = timed("vacuum_base (3 replicas)", lambda: admin.vacuum_base(
            "container", "AUTH_test", "bench"))
        print("sizes:", {k: (v["body"]["size_before"], v["body"]["size_after"])
                         for k, v in vac.items()})
        _part, primaries = admin.locate("container", "AUTH_test", "bench")
        ids = {replica_id(n) for n in primaries}
        handoff = next(replica_id(d) for d in admin.ring("container").devs
                       if d and replica_id(d) not in ids)
        timed("copy_base_to (handoff)", lambda: admin.copy_base_to(
            "container", "AUTH_test", "bench", svc_to=handoff))
        lost = replica_id(primaries[0])
        admin.remove_base("container", "AUTH_test", "bench", service_id=lost)
        timed("rebuild (1 replica)", lambda: Meta2Database(admin_client=admin).rebuild(
            "AUTH_test", "bench"))
        admin.remove_base("container", "AUTH_test", "bench", service_id=lost)
        synced = timed("election_sync (1 peer)", lambda: admin.election_sync(
            "container", "AUTH_test", "bench", service_id=replica_id(primaries[1])))
        status = admin.election_status("container", "AUTH_test", "bench")
        if not status["in_sync"]:
            print("not in sync:", synced, {k: (v["status"], v["body"] if v["status"] != 200
                                               else v["body"]["hash"])
                                           for k, v in status["peers"].items()})
    finally:
        cluster.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
