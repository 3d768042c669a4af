#!/usr/bin/env python3
"""Meta0 prefix mapping: bootstrap and rebalance time, in process (no server).

Builds ``--services`` services over ``--regions`` regions, 5 zones each and 4 devices per
host, bootstraps a mapping of ``--digits`` digits (65,536 bases for 4) with ``--replicas``
replicas and ``--min-dist``, then adds ``--add`` services on new hosts and rebalances;
then decommissions one service. Prints wall-clock seconds, bases moved and the spread of
bases per service, with the load average. Example::

    PYTHONPATH=$PWD python bench/meta0_bench.py --services 100 --digits 4
"""

from __future__ import annotations

import argparse
import os
import time

from oiofs.directory.meta0 import Meta0PrefixMapping


def services(count: int, regions: int, first: int = 0, host_tag: str = "h") -> list[dict]:
    """``count`` service descriptions, 4 devices per host, hosts spread over zones."""
    out = []
    for i in range(first, first + count):
        host = i // 4
        out.append({"addr": f"10.{host // 250}.{host % 250}.{i % 4 + 1}:6201", "score": 50,
                    "tags": {"tag.loc": f"r{host % regions}.z{host % 5}.{host_tag}{host}."
                                        f"d{i % 4}"}})
    return out


def spread(mapping: Meta0PrefixMapping) -> str:
    counts = [c for s, c in mapping.count_pfx_by_svc().items() if mapping.get_score(s) > 0]
    return f"bases per service {min(counts)}..{max(counts)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--add", type=int, default=10)
    parser.add_argument("--regions", type=int, default=1)
    parser.add_argument("--digits", type=int, default=4)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--min-dist", type=int, default=2)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    mapping = Meta0PrefixMapping(None, replicas=args.replicas, digits=args.digits,
                                 min_dist=args.min_dist,
                                 services=services(args.services, args.regions))
    start = time.perf_counter()
    mapping.bootstrap()
    print(f"bootstrap {mapping.num_bases()} bases x {args.replicas} over {args.services} "
          f"services: {time.perf_counter() - start:.2f} s, {spread(mapping)}")
    grown = services(args.services, args.regions) + \
        services(args.add, args.regions, first=args.services, host_tag="new")
    mapping.set_services(grown)
    start = time.perf_counter()
    moved = mapping.rebalance()
    print(f"rebalance after adding {args.add} services: {time.perf_counter() - start:.2f} s, "
          f"{len(moved)} bases moved, {spread(mapping)}")
    start = time.perf_counter()
    moved = mapping.decommission(sorted(mapping.services)[0])
    print(f"decommission of one service: {time.perf_counter() - start:.2f} s, "
          f"{len(moved)} bases moved, {spread(mapping)}")
    start = time.perf_counter()
    ok = mapping.check_replicas()
    print(f"check_replicas: {ok}, {time.perf_counter() - start:.2f} s")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
