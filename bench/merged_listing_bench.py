"""What a merged container listing costs (docs/proxy.md, *Read-your-writes*): the proxy's
checked read of a ~1,000-object listing when three replicas agree, against the merge of
three replicas that disagree (oiofs.proxy.merged_listing).

One real container server (one worker) holds five copies of one container on five
devices: ``sdb``, ``sdd`` and ``sde`` the same rows; ``sda`` missed 50 deletions,
``sdc`` missed 20 new objects and holds 10 older versions. This process plays the proxy
(``read_listing_checked`` over the real backend client) and counts its own CPU time,
the backend requests it sent, and the container server's CPU time (``oiofs.bench.cpu``).

    python bench/merged_listing_bench.py --rounds 20
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from oiofs.bench.cpu import CpuMeter  # noqa: E402
from oiofs.common.connection_pool import ConnectionPool  # noqa: E402
from oiofs.common.timestamp import Timestamp  # noqa: E402
from oiofs.proxy.backend import Backend  # noqa: E402
from oiofs.proxy.checked_listing import read_listing_checked  # noqa: E402
from oiofs.proxy.error_limiter import ErrorLimiter  # noqa: E402
from tests.support.servers import (  # noqa: E402
    ServerProcess,
    free_port,
    write_cluster_conf,
    write_server_conf,
)

DEVICES = ("sda", "sdb", "sdc", "sdd", "sde")


class CountingBackend(Backend):
    """The proxy's backend client, counting the requests it sends."""

    requests = 0

    def request_one(self, node, method, path, headers, body=None):
        self.requests += 1
        return super().request_one(node, method, path, headers, body)

    def request_many(self, requests):
        self.requests += len(requests)
        return super().request_many(requests)


def fill(port: int) -> None:
    """Five copies of /a/c with the rows described in the module docstring."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    base = time.time()

    def send(method: str, path: str, stamp: float, **headers: str) -> None:
        conn.request(method, path, headers={"X-Timestamp": Timestamp(stamp).internal,
                                            **headers})
        resp = conn.getresponse()
        resp.read()
        assert resp.status < 300, (method, path, resp.status)

    for device in DEVICES:
        send("PUT", f"/{device}/1/a/c", base)
        for n in range(1000):
            old = device == "sdc" and 500 <= n < 510
            send("PUT", f"/{device}/1/a/c/o{n:04}", base + (1 if old else 2),
                 **{"X-Size": "1" if old else "2", "X-Content-Type": "text/plain",
                    "X-Etag": "e"})
        if device != "sda":
            for n in range(50):
                send("DELETE", f"/{device}/1/a/c/o{n:04}", base + 3)
        if device != "sdc":
            for n in range(20):
                send("PUT", f"/{device}/1/a/c/n{n:04}", base + 3,
                     **{"X-Size": "1", "X-Content-Type": "text/plain", "X-Etag": "e"})
    conn.close()


def measure(backend: CountingBackend, nodes: list[dict], rounds: int, pid: int) -> dict:
    """Per listing: proxy CPU ms, container server CPU ms, backend requests, wall ms."""
    backend.requests = 0
    meter = CpuMeter([pid])
    cpu, server, wall = time.process_time(), meter.sample(), time.perf_counter()
    size = 0
    for _ in range(rounds):
        resp, status = read_listing_checked(backend, iter(nodes), "GET", 1, "/a/c", {}, 2,
                                            3, "format=json")
        assert status == 200 and resp is not None, status
        size = len(resp.read_all(limit=1 << 24))
    return {"proxy_cpu_ms": round((time.process_time() - cpu) * 1000 / rounds, 2),
            "server_cpu_ms": round((meter.sample() - server) * 1000 / rounds, 2),
            "wall_ms": round((time.perf_counter() - wall) * 1000 / rounds, 2),
            "requests": backend.requests / rounds, "body_bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mergebench") as base:
        oiofs_dir = os.path.join(base, "etc")
        write_cluster_conf(oiofs_dir)
        for device in DEVICES:
            os.makedirs(os.path.join(base, "devices", device))
        port = free_port()
        conf = write_server_conf(os.path.join(base, "container.conf"),
                                 "egg:oiofs#container", {
                                     "bind_port": port, "workers": 1,
                                     "devices": os.path.join(base, "devices"),
                                     "mount_check": "false", "oiofs_dir": oiofs_dir,
                                     "log_level": "WARNING"})
        server = ServerProcess("container", conf, port).start()
        pool = ConnectionPool(conn_timeout=2.0, node_timeout=20.0)
        try:
            fill(port)
            node = {"ip": "127.0.0.1", "port": port}
            nodes = {d: dict(node, device=d, id=i) for i, d in enumerate(DEVICES)}
            backend = CountingBackend(pool, ErrorLimiter(limit=10, interval=60,
                                                         suppression_time=3),
                                      logging.getLogger("bench"), shuffle_reads=False)
            agree = [nodes[d] for d in ("sdb", "sdd", "sde")]
            disagree = [nodes[d] for d in ("sda", "sdb", "sdc")]
            measure(backend, agree, 2, server.proc.pid)  # warm up both paths
            measure(backend, disagree, 2, server.proc.pid)
            for name, chosen in (("agree", agree), ("merge", disagree)) * 2:
                print(name, measure(backend, chosen, args.rounds, server.proc.pid),
                      flush=True)
        finally:
            pool.close_all()
            server.kill()


if __name__ == "__main__":
    main()
