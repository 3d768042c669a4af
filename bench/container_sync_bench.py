#!/usr/bin/env python3
"""How fast one container-sync daemon sends small objects, and how many requests a row
costs.

Starts two all-in-one clusters on 127.0.0.1 in temporary directories: A (``--nodes``
nodes, as many replicas) and B (1 node), one realm naming both, and a filter in B's
proxy that records every signed sync request (tests/support/sync_clusters.py). Puts
``--objects`` objects of ``--size`` bytes into a container of A that syncs to B, then runs
two container-sync passes on each node of A in turn (``--once``) and prints, per pass
and node, the rows it sent and the pass's duration (from the daemon's summary line), the
rows per second of the node that sent most, and the requests B received per row (PUT
and HEAD). Example::

    PYTHONPATH=$PWD python bench/container_sync_bench.py --objects 1000 --nodes 1
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from oiofs.cli.allinone import processes
from tests.support.cluster import TestCluster
from tests.support.proxy_client import Client
from tests.support.sync_clusters import REALM, start_sync_clusters, sync_requests


def daemon_pass(cluster: TestCluster, node: int) -> dict[str, float]:
    """One container-sync pass on ``node``; the counters of its summary line."""
    conf = cluster.layout.server_conf(node, "container")
    out = subprocess.run(processes.daemon_argv("container-sync", conf, once=True),
                         capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    line = [x for x in out.stderr.splitlines() if "container-sync pass:" in x][-1]
    return {k: float(v.rstrip("s")) for k, v in re.findall(r"(\w+)=([\d.]+s?)", line)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--nodes", type=int, default=1)
    args = parser.parse_args()
    a, b = start_sync_clusters(args.nodes)
    try:
        ca, cb = Client(a), Client(b)
        assert cb.request("PUT", "/bench", headers={"X-Container-Sync-Key": "k"}
                          ).status == 201
        assert ca.request("PUT", "/bench", headers={
            "X-Container-Sync-To": f"//{REALM}/b/AUTH_test/bench",
            "X-Container-Sync-Key": "k"}).status == 201
        body = os.urandom(args.size)
        began = time.monotonic()
        for i in range(args.objects):
            assert ca.request("PUT", f"/bench/o{i:06d}", body=body).status == 201
        print(f"{args.objects} objects of {args.size} B put into A in "
              f"{time.monotonic() - began:.1f} s")
        for number in (1, 2):
            before = len(sync_requests(b))
            best = 0.0
            for node in a.layout.node_numbers():
                stats = daemon_pass(a, node)
                rows = stats.get("puts", 0) + stats.get("deletes", 0)
                rate = rows / stats["duration"] if stats["duration"] else 0.0
                best = max(best, rate)
                print(f"pass {number} node {node}: puts={rows:.0f} "
                      f"confirmed={stats.get('confirmed', 0):.0f} "
                      f"duration={stats['duration']:.2f}s rows/s={rate:.0f}")
            got = sync_requests(b)[before:]
            puts = sum(1 for m, _p, _s in got if m == "PUT")
            heads = sum(1 for m, _p, _s in got if m == "HEAD")
            print(f"pass {number}: B received {puts} PUT + {heads} HEAD for "
                  f"{args.objects} rows = {(puts + heads) / args.objects:.2f} requests/row; "
                  f"best node {best:.0f} rows/s")
        ca.close()
        cb.close()
    finally:
        a.destroy()
        b.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
