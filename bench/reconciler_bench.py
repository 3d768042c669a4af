#!/usr/bin/env python3
"""How fast the container-reconciler moves misplaced objects between two policies.

Starts one account, one container and one object server on 127.0.0.1 (three devices
each, tests/support/small_cluster.py) with two 3-replica policies; makes a container
whose replicas were created with policy 0 first and policy 1 later (policy 0 wins), puts
``--objects`` objects of ``--size`` bytes into policy 1 (misplaced), runs one container
replicator pass (queueing) and one reconciler pass in this process, and prints both
passes' durations, the objects moved per second, the MB/s moved and the peak Python heap
during the reconciler pass (objects are streamed: it stays far below ``--size``). Example::

    PYTHONPATH=$PWD python bench/reconciler_bench.py --objects 200 --size 4096
    PYTHONPATH=$PWD python bench/reconciler_bench.py --objects 2 --size 67108864
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import tracemalloc

from oiofs.common import runtime
from oiofs.common.backend_protocol import (
    CONTAINER_UPDATE,
    POLICY_INDEX_HEADER,
    deal_update_headers,
)
from oiofs.common.direct_client import backend_path, direct_request
from oiofs.common.hashing import set_hash_path_secret
from oiofs.common.timestamp import Timestamp
from oiofs.container.replicator import ContainerReplicator
from oiofs.proxy.reconciler import ContainerReconciler
from tests.support.small_cluster import TWO_POLICIES, small_cluster

ACCOUNT, CONTAINER = "AUTH_bench", "split"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    runtime.monkey_patch()
    set_hash_path_secret("test-prefix", "test-suffix")
    logging.basicConfig(level=logging.WARNING)
    log = logging.getLogger("bench.reconciler")
    with tempfile.TemporaryDirectory() as base, \
            small_cluster(base, ("object", "object-1"), TWO_POLICIES) as cluster:
        rings = cluster["rings"]
        cpart, cnodes = rings["container"].get_nodes(ACCOUNT, CONTAINER)
        for node, policy in zip(cnodes, (0, 0, 1), strict=True):
            direct_request(node["ip"], node["port"], "PUT",
                           backend_path(node["device"], cpart, ACCOUNT, CONTAINER),
                           headers={"X-Timestamp": Timestamp.now().internal,
                                    POLICY_INDEX_HEADER: str(policy)}, expect_success=True)
        updates = deal_update_headers(CONTAINER_UPDATE, cpart, cnodes, 3, 2, 2)
        body = os.urandom(args.size)
        for i in range(args.objects):
            obj = f"o{i:06d}"
            part, nodes = rings["object-1"].get_nodes(ACCOUNT, CONTAINER, obj)
            stamp = Timestamp.now().internal
            for node, update in zip(nodes, updates, strict=True):
                direct_request(node["ip"], node["port"], "PUT",
                               backend_path(node["device"], part, ACCOUNT, CONTAINER, obj),
                               headers={"X-Timestamp": stamp, POLICY_INDEX_HEADER: "1",
                                        "Content-Type": "application/octet-stream",
                                        **update}, body=body, expect_success=True)
        common = {"bind_ip": "127.0.0.1", "bind_port": str(cluster["ports"]["container"]),
                  "oiofs_dir": cluster["etc"]}
        began = time.monotonic()
        queued = ContainerReplicator(dict(common, devices=cluster["devices"]["container"],
                                          mount_check="false"), logger=log).run_once()
        queue_seconds = time.monotonic() - began
        del body
        tracemalloc.start()
        began = time.monotonic()
        stats = ContainerReconciler(dict(common, concurrency=str(args.concurrency),
                                         node_timeout="60"), logger=log).run_once()
        move_seconds = time.monotonic() - began
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(f"objects={args.objects} size={args.size} queued={queued.misplaced_queued} "
          f"replicator_pass={queue_seconds:.2f}s")
    print(f"moved={stats.moved} retried={stats.retried} reconciler_pass={move_seconds:.2f}s "
          f"objects_per_s={stats.moved / move_seconds:.1f} "
          f"MB_per_s={stats.moved * args.size / move_seconds / 1e6:.1f} "
          f"peak_python_heap_during_pass={peak / 2**20:.1f}MiB")
    return 0 if stats.moved == args.objects else 1


if __name__ == "__main__":
    raise SystemExit(main())
