#!/usr/bin/env python3
"""What the directory costs and how fast a drain takes effect, on a running all-in-one.

Against the cluster in ``--dir`` (4 nodes or more, so that a drained node's partitions
have a handoff):

* ``registration``: ``--registrations`` calls of one server's ``register_once`` (record
  built from load and free space, one POST to the directory): median and 90th percentile
  in milliseconds, and the CPU time of building the record;
* ``refresh``: a proxy worker's read of every score (``ScoreBoard.refresh``), median ms;
* ``is_limited``: the proxy's per-node check with and without scores, microseconds;
* ``drain``: ``--trials`` times, lock node ``--node``'s object server at 0 and PUT small
  objects through the proxy without pause for ``--window`` seconds; the drain time is
  from the lock to the start of the last PUT that node's object server logged (0 when it
  got none). Unlocked after each trial. Example::

    oiofs-allinone start --dir /tmp/aio --nodes 4
    PYTHONPATH=$PWD python bench/directory_bench.py --dir /tmp/aio
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import statistics
import time
import timeit
import urllib.request
import uuid

from oiofs.cli.allinone.configs import load_layout
from oiofs.directory.client import ConscienceClient
from oiofs.directory.registrar import Registrar
from oiofs.proxy.error_limiter import ErrorLimiter
from oiofs.proxy.scores import ScoreBoard

LOG = logging.getLogger("directory-bench")


def registration(url: str, count: int) -> None:
    registrar = Registrar({"directory_endpoints": url, "bind_port": "1",
                           "devices": "/tmp"}, "object", LOG)
    times = []
    for _ in range(count):
        began = time.perf_counter()
        assert registrar.register_once()
        times.append(time.perf_counter() - began)
    times.sort()
    cpu = time.process_time()
    for _ in range(count):
        registrar.record()
    cpu = (time.process_time() - cpu) / count
    print(f"registration: n={count} median {statistics.median(times) * 1000:.2f} ms, "
          f"p90 {times[int(count * 0.9)] * 1000:.2f} ms; record built in "
          f"{cpu * 1e6:.0f} us CPU")
    ConscienceClient(endpoints=[url]).deregister("object", registrar.addr)


def refresh(url: str, addr: str) -> None:
    board = ScoreBoard(ConscienceClient(endpoints=[url]), LOG)
    times = []
    for _ in range(50):
        began = time.perf_counter()
        assert board.refresh()
        times.append(time.perf_counter() - began)
    print(f"refresh: {len(board.scores)} services, median "
          f"{statistics.median(times) * 1000:.2f} ms")
    with_scores, without = ErrorLimiter(drained=board.is_drained), ErrorLimiter()
    key = f"{addr}/d"
    print("is_limited: %.2f us with scores, %.2f us without" % (
        timeit.timeit(lambda: with_scores.is_limited(key), number=100000) * 10,
        timeit.timeit(lambda: without.is_limited(key), number=100000) * 10))


def drain(lay, node: int, trials: int, window: float) -> None:
    auth = urllib.request.Request(lay.auth_url, headers={"X-Auth-User": "test:tester",
                                                         "X-Auth-Key": "testing"})
    with urllib.request.urlopen(auth) as resp:
        token = resp.headers["X-Auth-Token"]
    conn = http.client.HTTPConnection(lay.ip, lay.proxy_port, timeout=30)

    def request(method: str, path: str) -> None:
        conn.request(method, "/v1/AUTH_test/" + path, body=b"x" if method == "PUT" else None,
                     headers={"X-Auth-Token": token})
        resp = conn.getresponse()
        resp.read()
        assert resp.status in (201, 202), (method, path, resp.status)

    request("PUT", "directory-bench")
    conscience = ConscienceClient(endpoints=[lay.directory_url])
    addr = f"{lay.ip}:{lay.port(node, 'object')}"
    log = os.path.join(lay.log, f"object-server-{node}.log")
    results = []
    for _ in range(trials):
        locked_at = time.time()
        conscience.lock("object", addr, 0)
        while time.time() < locked_at + window:
            request("PUT", f"directory-bench/{uuid.uuid4().hex}")
        results.append(max(locked_at, *_put_starts(log)) - locked_at)
        conscience.unlock("object", addr)
        # every proxy worker must see the unlock before the next trial: PUT until the
        # node logs new PUTs for a while
        unlocked_at = time.time()
        while max(_put_starts(log)) < unlocked_at + 3 * 2.0:
            request("PUT", f"directory-bench/{uuid.uuid4().hex}")
            assert time.time() < unlocked_at + 60, "the unlocked node got no PUT"
    print("drain: " + ", ".join(f"{r:.2f}" for r in results) + f" s (max {max(results):.2f},"
          f" window {window:.0f} s: a value near it means never drained)")


def _put_starts(log: str) -> list[float]:
    """The start times of the proxy's PUTs in an object server's access log."""
    with open(log, errors="replace") as handle:
        return [float(line.split()[-3]) for line in handle
                if "proxy-server%20" in line and " PUT " in line] or [0.0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="the all-in-one cluster's directory")
    parser.add_argument("--registrations", type=int, default=200)
    parser.add_argument("--node", type=int, default=2)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--window", type=float, default=8.0)
    args = parser.parse_args()
    lay = load_layout(args.dir)
    if lay is None:
        parser.error(f"no all-in-one cluster in {args.dir}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    registration(lay.directory_url, args.registrations)
    refresh(lay.directory_url, f"{lay.ip}:{lay.port(1, 'object')}")
    drain(lay, args.node, args.trials, args.window)


if __name__ == "__main__":
    main()
