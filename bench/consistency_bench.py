"""Stale reads around a storage node that stops and comes back: the fault harness of
issue 15 (read-your-writes).

One all-in-one cluster (4 nodes, 3 replicas, 1 proxy worker, no background daemons unless
``--daemons``) in a temporary directory, 127.0.0.1 only, removed at the end:

1. half the keys (``--keys``, all in one container) are stored once;
2. one storage node holding a replica of the container goes down: SIGKILL of its servers
   (``--mode kill``) or SIGSTOP (``--mode stop``, frozen: connections hang until the
   proxy's timeouts), and half of ``--ops`` mixed operations run (PUT overwrites,
   DELETEs, GETs, HEADs, listings);
3. the node comes back (restarted, or SIGCONT) and the other half run at once.

Every operation is recorded (tests/support/consistency.py) and the history checked
(tests/support/history.py). Printed: how many reads returned a version older than the
last acknowledged write (``stale``), deleted objects read back (``resurrected``),
listings missing an acknowledged object (``listing-missing``) or showing a deleted one
(``listing-extra``), and failed requests. Bounded: ``--ops`` operations, each phase at
most ``--max-seconds``.

    python bench/consistency_bench.py --ops 1000 --keys 300 --clients 8
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from oiofs.cli.allinone import processes  # noqa: E402
from oiofs.common.ring import Ring  # noqa: E402
from tests.support.cluster import TestCluster  # noqa: E402
from tests.support.consistency import (  # noqa: E402
    Nemesis,
    Target,
    Workload,
    do_op,
    make_client,
)
from tests.support.history import check, summary  # noqa: E402
from tests.support.probe import use_cluster_secret  # noqa: E402

CONTAINER = "consistency"


def signal_node(cluster: TestCluster, node: int, sig: int) -> None:
    """Send ``sig`` to the process group of every server (and daemon) of ``node``."""
    lay = cluster.layout
    for name in lay.process_names(node):
        pid = processes.read_pid(lay.run, name, lay.root)
        if pid is not None:
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass


def container_node(cluster: TestCluster, storage_url: str, seed: int) -> int:
    """A node holding a replica of the container (so its listings go stale too)."""
    ring = Ring(cluster.oiofs_dir, ring_name="container")
    _part, nodes = ring.get_nodes(storage_url.rsplit("/", 1)[-1], CONTAINER)
    port = nodes[seed % len(nodes)]["port"]
    return next(n["node"] for n in cluster.nodes if n["container_port"] == port)


def run_phase(workload: Workload, ops: int, max_seconds: float) -> None:
    """``ops`` operations over the workload's clients, stopped after ``max_seconds``."""
    workload.stop.clear()
    timer = threading.Timer(max_seconds, workload.stop.set)
    timer.start()
    try:
        workload.run(max(1, ops // workload.clients))
    finally:
        timer.cancel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--mode", choices=("kill", "stop"), default="kill")
    parser.add_argument("--part-power", type=int, default=6)
    parser.add_argument("--daemons", action="store_true",
                        help="run the nodes' background daemons (replicators...) too")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    cluster = TestCluster(nodes=4, replicas=3, part_power=args.part_power,
                          proxy_workers=1, daemons=args.daemons)
    began = time.monotonic()
    try:
        cluster.start()
        use_cluster_secret(cluster)
        url, token = cluster.auth()
        target = Target(url, token, CONTAINER)
        keys = [f"obj-{n:04d}" for n in range(args.keys)]
        workload = Workload(target, keys, clients=args.clients, seed=args.seed)
        client = make_client(target)
        assert client.request("PUT", f"/{CONTAINER}").status in (201, 202)
        for key in keys[::2]:  # half the keys exist before the node goes down
            op = workload.history.begin("write", key, f"init-{key}")
            do_op(client, target, op)
            workload.history.end(op)
        client.close()
        initial = len(workload.history.ops)
        down = container_node(cluster, url, args.seed)
        if args.mode == "stop":
            nemesis = Nemesis(cluster, freeze=lambda n: signal_node(cluster, n, signal.SIGSTOP),
                              thaw=lambda n: signal_node(cluster, n, signal.SIGCONT))
        else:
            nemesis = Nemesis(cluster)
        nemesis.down(down)
        try:
            run_phase(workload, args.ops // 2, args.max_seconds)
        finally:
            nemesis.up(down)
        came_back = len(workload.history.ops)
        run_phase(workload, args.ops - args.ops // 2, args.max_seconds)
        ops = workload.history.ops
        anomalies = check(ops)
        after = [a for a in anomalies if a.op.invoked >= nemesis.events[-1][0]]
        result = {
            "mode": args.mode, "daemons": args.daemons, "keys": args.keys,
            "clients": args.clients, "node": down,
            "operations": len(ops) - initial,
            "while_down": came_back - initial, "after_return": len(ops) - came_back,
            "failed": dict(Counter(f"{o.kind} {o.status}" for o in ops[initial:]
                                   if not o.ok)),
            "anomalies": summary(anomalies),
            # listings with at least one object missing / shown after its deletion
            "listings": sum(1 for o in ops[initial:] if o.kind == "list"),
            "listings_missing": len({id(a.op) for a in anomalies
                                     if a.kind == "listing-missing"}),
            "listings_extra": len({id(a.op) for a in anomalies
                                   if a.kind == "listing-extra"}),
            "anomalies_after_return": summary(after),
            "seconds": round(time.monotonic() - began, 1),
            "load_average": os.getloadavg()[0],
        }
    finally:
        cluster.destroy()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:24} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
