"""CPU of a large PUT per role: an erasure-coded policy against a replicated one.

Against a running all-in-one (``--dir``, best started with ``--no-daemons``), ``--rounds``
rounds; in each, every policy of ``--policies`` in turn (alternating, so that a change of
the machine's load hits both alike) gets ``--objects`` PUTs of ``--size`` bytes,
``--concurrency`` at once (default one at a time), into a container of that policy.
The CPU of each role's processes (proxy, object, container, account servers;
``run/*.pid`` and their children) is read from ``/proc``
around each policy's PUTs; the CPU ms per PUT is printed per round and, at the end, the
median over the rounds. The objects are deleted afterwards (not measured).

    python bench/ecput_bench.py --dir /tmp/ecput-aio --port 29400 --rounds 3 --objects 2

CPU per PUT is the figure to trust on a loaded machine; MB/s is printed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from smallput_bench import role_meters, run_threads, sample  # noqa: E402

from oiofs.bench.client import BenchClient, authenticate  # noqa: E402

CHUNK = 1 << 20


def body_of(pattern: bytes, size: int):
    """A callable giving ``size`` bytes as 1 MiB chunks cut from ``pattern``."""

    def chunks():
        left = size
        while left:
            piece = pattern[:min(left, CHUNK)]
            left -= len(piece)
            yield piece

    return chunks


def one_policy(client: BenchClient, meters, policy: str, objects: int, size: int,
               pattern: bytes, concurrency: int) -> tuple[dict[str, float], float]:
    """PUT ``objects`` objects into a new container of ``policy``, ``concurrency`` at
    once; (CPU s per role, wall seconds). The objects and the container are deleted
    afterwards."""
    container = f"ecput-{policy}-{uuid.uuid4().hex[:8]}"
    reply = client.request("PUT", container, headers={"X-Storage-Policy": policy})
    if reply.status not in (201, 202):
        raise RuntimeError(f"container PUT answered {reply.status}")

    def put(i: int) -> None:
        reply = client.request("PUT", container, f"o{i}", body=body_of(pattern, size),
                               length=size)
        if reply.status != 201:
            raise RuntimeError(f"PUT answered {reply.status}")

    before = sample(meters)
    wall = run_threads(objects, concurrency, put)
    after = sample(meters)
    for i in range(objects):
        client.request("DELETE", container, f"o{i}")
    client.request("DELETE", container)
    return {role: after[role] - before[role] for role in before}, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True, help="the all-in-one's directory")
    parser.add_argument("--port", type=int, required=True, help="its proxy port")
    parser.add_argument("--policies", default="Policy-0,ec42")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--objects", type=int, default=2, help="PUTs per policy and round")
    parser.add_argument("--size", type=int, default=64 << 20)
    parser.add_argument("--concurrency", type=int, default=1, help="PUTs at once")
    args = parser.parse_args()
    meters = role_meters(os.path.join(args.dir, "run"))
    _endpoint, conn = authenticate(f"http://127.0.0.1:{args.port}/auth/v1.0",
                                   "test:tester", "testing")
    client = BenchClient(conn)
    pattern = os.urandom(CHUNK)
    policies = args.policies.split(",")
    results: dict[str, list[dict[str, float]]] = {p: [] for p in policies}
    for round_no in range(args.rounds):
        for policy in policies:
            used, wall = one_policy(client, meters, policy, args.objects, args.size,
                                    pattern, args.concurrency)
            per_put = {role: cpu * 1000 / args.objects for role, cpu in used.items()}
            per_put["total"] = sum(per_put.values())
            results[policy].append(per_put)
            rate = args.objects * args.size / wall / 1e6
            print(f"round {round_no + 1} {policy:10s} {rate:6.1f} MB/s  " + "  ".join(
                f"{role} {ms:.0f}" for role, ms in per_put.items() if ms >= 0.5)
                + "  (CPU ms/PUT)", flush=True)
    print(f"median CPU ms per PUT of {args.size} bytes over {args.rounds} rounds:")
    for policy in policies:
        roles = results[policy][0].keys()
        print(f"  {policy:10s} " + "  ".join(
            f"{role} {statistics.median(r[role] for r in results[policy]):.0f}"
            for role in roles if statistics.median(r[role] for r in results[policy]) >= 0.5))
    client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
