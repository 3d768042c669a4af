#!/usr/bin/env python3
"""How fast a large object downloads compared with a plain object of the same size.

Starts an all-in-one cluster (4 nodes, 3 replicas, 1 proxy worker) in a temporary
directory on 127.0.0.1, uploads one ``--mib`` MiB plain object, the same bytes as an SLO
and as a DLO of ``--segment-mib`` MiB segments, then GETs each ``--rounds`` times in turn
(interleaved, so load from other users of the machine hits all three alike), checks the
MD5 of every download and prints the median MB/s of each and the proxy's resident memory
(``VmRSS``) sampled during the downloads. Example::

    PYTHONPATH=$PWD python bench/largeobj_bench.py --mib 60 --segment-mib 5 --rounds 5
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import random
import statistics
import threading
import time
from collections.abc import Iterator

from tests.support.cluster import TestCluster


def request(conn, method, path, token, body=None, headers=None):
    hdrs = {"X-Auth-Token": token}
    hdrs.update(headers or {})
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    return resp


def download(conn, path, token) -> tuple[float, str]:
    start = time.monotonic()
    resp = request(conn, "GET", path, token)
    digest = hashlib.md5()
    while chunk := resp.read(1 << 16):
        digest.update(chunk)
    assert resp.status == 200, resp.status
    return time.monotonic() - start, digest.hexdigest()


CHUNK = 1 << 20


def segment_bytes(index: int, length: int) -> Iterator[bytes]:
    """The bytes of segment ``index``, made on the fly (same seed, same bytes), so that
    neither this benchmark nor the cluster ever holds a whole object in memory."""
    rng = random.Random(index)
    while length > 0:
        piece = rng.randbytes(min(CHUNK, length))
        length -= len(piece)
        yield piece


def proxy_rss_kib(root: str) -> int:
    """Largest VmRSS of this cluster's proxy processes (parent and worker)."""
    best = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmd = handle.read().replace(b"\0", b" ")
            if b"proxy" not in cmd or root.encode() not in cmd:
                continue
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        best = max(best, int(line.split()[1]))
        except OSError:
            continue
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=60)
    parser.add_argument("--segment-mib", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size, seg = args.mib << 20, args.segment_mib << 20
    lengths = [min(seg, size - start) for start in range(0, size, seg)]

    def whole() -> Iterator[bytes]:
        for index, length in enumerate(lengths):
            yield from segment_bytes(index, length)

    digest = hashlib.md5()
    for piece in whole():
        digest.update(piece)
    expected = digest.hexdigest()
    cluster = TestCluster().start()
    try:
        url, token = cluster.auth()
        base = url.split(str(cluster.layout.proxy_port), 1)[1]
        conn = http.client.HTTPConnection("127.0.0.1", cluster.layout.proxy_port,
                                          timeout=120)
        for path in ("/bench", "/bench_segments"):
            request(conn, "PUT", base + path, token).read()
        request(conn, "PUT", base + "/bench/plain", token, body=whole(),
                headers={"Content-Length": str(size)}).read()
        entries = []
        for index, length in enumerate(lengths):
            name = f"/bench_segments/big/{index:05d}"
            resp = request(conn, "PUT", base + name, token,
                           body=segment_bytes(index, length),
                           headers={"Content-Length": str(length)})
            resp.read()
            entries.append({"path": name, "etag": resp.getheader("ETag").strip('"'),
                            "size_bytes": length})
        resp = request(conn, "PUT", base + "/bench/slo?multipart-manifest=put", token,
                       body=json.dumps(entries).encode())
        resp.read()
        assert resp.status == 201, resp.status
        request(conn, "PUT", base + "/bench/dlo", token, body=b"",
                headers={"X-Object-Manifest": "bench_segments/big/"}).read()
        times: dict[str, list[float]] = {"plain": [], "slo": [], "dlo": []}
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], proxy_rss_kib(cluster.root))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for _ in range(args.rounds):
            for kind in times:
                took, md5 = download(conn, f"{base}/bench/{kind}", token)
                assert md5 == expected, kind
                times[kind].append(took)
        done.set()
        sampler.join()
        for kind, values in times.items():
            median = statistics.median(values)
            print(f"{kind:6s} {args.mib} MiB: median {median:.3f} s = "
                  f"{size / median / 1e6:.0f} MB/s (runs: "
                  + ", ".join(f"{v:.2f}" for v in values) + ")")
        print(f"proxy peak VmRSS during downloads: {peak[0] / 1024:.0f} MiB")
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
