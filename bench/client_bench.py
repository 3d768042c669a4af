#!/usr/bin/env python3
"""oiofs.client against ``swift upload``/``swift download`` on a big file, same cluster.

Starts an all-in-one cluster (4 nodes, 3 replicas, ``--proxy-workers`` proxy workers, 1
by default) on 127.0.0.1, writes a ``--mib`` MiB file of pseudo-random bytes, then for
``--rounds`` rounds, interleaved so that the load of other users of the machine hits every
contender alike:

* ``oiofs upload``: ``Connection.upload`` (SLO, ``--segment-mib`` segments,
  ``--threads`` segment PUTs at a time);
* ``swift upload``: ``/usr/bin/swift upload --segment-size ... --segment-threads ...``
  (an SLO too: the cluster offers ``slo`` in /info);
* ``oiofs download``: ``Connection.download`` with ``--threads`` ranged GETs at a time,
  and with one stream (``threads=1``);
* ``swift download``: ``/usr/bin/swift download -o <file>`` (one stream).

Every download is checked (MD5 of the file against the source). Prints the median wall
time, MB/s and the client's CPU seconds (this process for oiofs, the child for swift).
Example::

    PYTHONPATH=$PWD python bench/client_bench.py --mib 1024 --segment-mib 64 --threads 4
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import tempfile
import time

from oiofs.client import Connection
from tests.support.cluster import TestCluster

SWIFT = "/usr/bin/swift"
USER = "test:tester"


def make_file(path: str, size: int) -> str:
    digest = hashlib.md5()
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for n in range(0, size, len(block)):
            piece = (n.to_bytes(8, "big") + block)[: min(len(block), size - n)]
            f.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def file_md5(path: str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(fn, cpu=cpu_self) -> tuple[float, float]:
    c0, t0 = cpu(), time.monotonic()
    fn()
    return time.monotonic() - t0, cpu() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--segment-mib", type=int, default=64)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--proxy-workers", type=int, default=1)
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    seg = args.segment_mib * 1024 * 1024
    work = tempfile.mkdtemp(prefix="client-bench-")
    src = os.path.join(work, "src")
    digest = make_file(src, size)
    out = os.path.join(work, "out")
    cluster = TestCluster(proxy_workers=args.proxy_workers).start()
    results: dict[str, list[tuple[float, float]]] = {}
    try:
        key = cluster.users[USER]
        conn = Connection(cluster.auth_url, USER, key)
        conn.put_container("oiofs")
        swift = [SWIFT, "-A", cluster.auth_url, "-U", USER, "-K", key]

        def swift_run(*argv: str) -> None:
            subprocess.run(swift + list(argv), check=True, stdout=subprocess.DEVNULL)

        def check() -> None:
            if file_md5(out) != digest:
                raise SystemExit("a download came back different")
            os.unlink(out)

        for rnd in range(args.rounds):
            for name in ("oiofs", "swift"):
                try:
                    conn.delete_object(name, "big", segments=True)
                except Exception:
                    pass
            results.setdefault("oiofs upload", []).append(timed(lambda: conn.upload(
                "oiofs", "big", src, segment_size=seg, threads=args.threads)))
            results.setdefault("swift upload", []).append(timed(lambda: swift_run(
                "upload", "--segment-size", str(seg), "--segment-threads",
                str(args.threads), "--object-name", "big", "swift", src), cpu_children))
            results.setdefault(f"oiofs download ({args.threads} ranged GETs)", []).append(
                timed(lambda: conn.download("oiofs", "big", out, threads=args.threads,
                                            part_size=seg)))
            check()
            results.setdefault("oiofs download (1 stream)", []).append(
                timed(lambda: conn.download("oiofs", "big", out)))
            check()
            results.setdefault("swift download (1 stream)", []).append(
                timed(lambda: swift_run("download", "swift", "big", "-o", out),
                      cpu_children))
            check()
            print(f"round {rnd + 1} done", flush=True)
    finally:
        cluster.destroy()
        for path in (src, out):
            if os.path.exists(path):
                os.unlink(path)
        os.rmdir(work)
    print(f"\n{args.mib} MiB, segments of {args.segment_mib} MiB, {args.threads} threads, "
          f"{args.rounds} rounds (medians), {args.proxy_workers} proxy worker(s)\n")
    print(f"| {'operation':<34} | wall s | MB/s  | client CPU s |")
    print(f"| {'-' * 34} | ------ | ----- | ------------ |")
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"| {name:<34} | {wall:6.1f} | {size / wall / 1e6:5.0f} | {cpu:12.1f} |")


if __name__ == "__main__":
    main()
