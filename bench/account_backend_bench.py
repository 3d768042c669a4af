#!/usr/bin/env python3
"""The account server's two backends side by side: sqlite and Redis, same session.

Starts, on 127.0.0.1 in a temporary directory, one account server with ``backend = sqlite``
and one with ``backend = redis`` (over its own redis-server, AOF with ``appendfsync
always``, as the all-in-one runs it), then for each, in turn:

* ``reports``: ``--containers`` container reports (``PUT /<dev>/<part>/<acct>/<c>`` as the
  container servers and updaters send them) from ``--concurrency`` keep-alive clients;
  then ``--updates`` reports of existing containers with new counts: reports per second;
* ``listing``: the whole account listed as JSON in pages of 10,000 with markers, checked to
  hold exactly the names reported: seconds.

Then the same at the backend level, without HTTP (``--backend-ops`` container updates
through :class:`RedisAccountBackend` and through :class:`AccountBroker` with its pending
file merged at the end). Example::

    PYTHONPATH=$PWD python bench/account_backend_bench.py --containers 100000
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import shutil
import tempfile
import threading
import time
from urllib.parse import quote

from oiofs.account.backend import AccountBroker
from oiofs.account.redis_backend import RedisAccountBackend
from oiofs.common.timestamp import Timestamp
from tests.support.redis_server import RedisServer
from tests.support.servers import ServerProcess, free_port, write_cluster_conf, write_server_conf

ACCOUNT = "AUTH_bench"


def start_server(root: str, backend: str, options: dict) -> tuple[ServerProcess, int]:
    oiofs_dir = os.path.join(root, "etc")
    write_cluster_conf(oiofs_dir)
    os.makedirs(os.path.join(root, "devices", "sda"), exist_ok=True)
    port = free_port()
    conf = write_server_conf(os.path.join(root, f"account-{backend}.conf"),
                             "egg:oiofs#account", {
                                 "bind_port": port, "workers": 1, "log_level": "WARNING",
                                 "devices": os.path.join(root, "devices"),
                                 "mount_check": "false", "oiofs_dir": oiofs_dir,
                                 "log_requests": "false", "backend": backend, **options})
    return ServerProcess("account", conf, port).start(), port


def send_reports(port: int, names: list[str], counts: int, concurrency: int) -> float:
    """Send one report per name; reports per second."""
    work: queue.Queue = queue.Queue()
    for name in names:
        work.put(name)
    errors: list[str] = []

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            try:
                name = work.get_nowait()
            except queue.Empty:
                break
            now = Timestamp.now().internal
            conn.request("PUT", f"/sda/1/{ACCOUNT}/{quote(name)}", headers={
                "X-Timestamp": now, "X-Put-Timestamp": "1700000000.00000",
                "X-Delete-Timestamp": "0", "X-Object-Count": str(counts),
                "X-Bytes-Used": str(counts * 100), "X-Backend-Storage-Policy-Index": "0"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 201:
                errors.append(f"{name}: {resp.status}")
        conn.close()

    began = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    if errors:
        raise SystemExit(f"{len(errors)} reports failed, e.g. {errors[:3]}")
    return len(names) / elapsed


def list_all(port: int, expected: list[str]) -> float:
    """List the whole account in pages of 10,000; seconds. Checks every name."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    names: list[str] = []
    marker = ""
    began = time.monotonic()
    while True:
        conn.request("GET", f"/sda/1/{ACCOUNT}?format=json&limit=10000&marker={quote(marker)}")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status == 204 or not body or body == b"[]":
            break
        page = [row["name"] for row in json.loads(body)]
        names += page
        marker = page[-1]
    elapsed = time.monotonic() - began
    conn.close()
    if names != expected:
        raise SystemExit(f"listing differs: {len(names)} names, {len(expected)} expected")
    return elapsed


def list_pages(fetch) -> tuple[int, float]:
    """``(names, seconds)`` listing everything with ``fetch(marker)`` in pages of 10,000."""
    began = time.monotonic()
    total, marker = 0, None
    while True:
        rows = fetch(marker)
        if not rows:
            return total, time.monotonic() - began
        total += len(rows)
        marker = rows[-1][0]


def backend_level(root: str, redis_url: str, ops: int) -> dict:
    """Container updates per second, and seconds to list them all, through each backend's
    Python API (no HTTP)."""
    store = RedisAccountBackend({"redis_url": redis_url})
    store.client.flushdb()
    began = time.monotonic()
    for i in range(ops):
        store.update_container("direct", f"c{i:07d}", Timestamp(1700000000 + i).internal,
                               0, i, i * 10, policy=0)
    redis_rate = ops / (time.monotonic() - began)
    broker = AccountBroker(os.path.join(root, "direct.db"), account="direct")
    broker.initialize(Timestamp.now().internal)
    began = time.monotonic()
    for i in range(ops):
        broker.put_container(f"c{i:07d}", Timestamp(1700000000 + i).internal, 0, i, i * 10)
    broker.commit_pending()
    sqlite_rate = ops / (time.monotonic() - began)
    redis_listed, redis_list_s = list_pages(lambda marker: store.list_container_rows(
        "direct", 10000, marker, None, None, None))
    sqlite_listed, sqlite_list_s = list_pages(lambda marker: broker.list_containers_iter(
        10000, marker, None, None, None))
    assert redis_listed == sqlite_listed == ops, (redis_listed, sqlite_listed)
    store.conn.close()
    return {"redis_updates_per_s": round(redis_rate), "sqlite_updates_per_s": round(sqlite_rate),
            "redis_listing_s": round(redis_list_s, 2),
            "sqlite_listing_s": round(sqlite_list_s, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--containers", type=int, default=100000)
    parser.add_argument("--updates", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--backend-ops", type=int, default=20000)
    parser.add_argument("--appendfsync", default="always", choices=("always", "everysec"),
                        help="the redis-server's AOF fsync policy (the all-in-one: always)")
    parser.add_argument("--backends", default="sqlite,redis",
                        help="which account servers to run, in this order")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="oiofs-account-bench-")
    names = sorted(f"c{i:07d}" for i in range(args.containers))
    redis_server = RedisServer(os.path.join(root, "redis"),
                               appendfsync=args.appendfsync).start()
    results: dict = {}
    try:
        for backend in args.backends.split(","):
            options = {"redis_url": redis_server.url} if backend == "redis" else {}
            server, port = start_server(os.path.join(root, backend), backend, options)
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("PUT", f"/sda/1/{ACCOUNT}", headers={
                    "X-Timestamp": Timestamp.now().internal})
                assert conn.getresponse().status == 201
                conn.close()
                fill = send_reports(port, names, 1, args.concurrency)
                update = send_reports(port, names[:args.updates], 2, args.concurrency)
                listing = list_all(port, names)
                results[backend] = {"fill_reports_per_s": round(fill),
                                    "update_reports_per_s": round(update),
                                    "listing_s": round(listing, 2)}
                print(backend, results[backend], flush=True)
            finally:
                server.kill()
        results["backend_level"] = backend_level(root, redis_server.url, args.backend_ops)
        print("backend level", results["backend_level"], flush=True)
        print(json.dumps({"containers": args.containers, "updates": args.updates,
                          "appendfsync": args.appendfsync, "backend_ops": args.backend_ops,
                          "concurrency": args.concurrency,
                          "load_average": os.getloadavg()[0], **results}, indent=1))
    finally:
        redis_server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
