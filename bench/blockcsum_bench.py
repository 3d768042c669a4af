"""What checking block checksums costs a large GET: 64 MiB objects read with the object
servers' ``verify_block_checksums`` on and off, on one all-in-one started for the run.

One cluster (no background daemons, one proxy worker). For each round, each setting in
turn: the object servers' configuration gets ``verify_block_checksums = yes|no``, they
are restarted, and one ``oiofs-bench`` run of the large-object phases (``--large-count``
objects of ``--large-size``, one at a time) measures GET MB/s; CPU per GET is counted
over the object servers only (``--cpu-pattern`` on their configuration files), where the
checks run. Rounds alternate the settings so that the machine's other load falls on both
alike; the load average is printed with each run.

    python bench/blockcsum_bench.py --dir /tmp/bcsbench --rounds 3 --large-count 4

``--reader-only`` measures the object layer alone, in this process and without HTTP: the
CPU time (``time.process_time``, so the machine's other load barely counts) of reading
one object whole through ``DiskFile.reader()`` with the checks on and off, best of
``--rounds``::

    python bench/blockcsum_bench.py --dir /tmp/bcsreader --reader-only --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from oiofs.cli.allinone.cluster import AllInOne  # noqa: E402

SETTINGS = ("yes", "no")


def set_verify(cluster: AllInOne, value: str) -> None:
    """Write ``verify_block_checksums = value`` into every object server's configuration
    and restart the object servers (the rest of each node keeps running)."""
    lay = cluster.layout
    for node in lay.node_numbers():
        path = lay.server_conf(node, "object")
        with open(path) as handle:
            text = handle.read()
        text = re.sub(r"(?m)^verify_block_checksums = .*\n", "", text)
        text = text.replace("[app:object-server]\n",
                            f"[app:object-server]\nverify_block_checksums = {value}\n", 1)
        with open(path, "w") as handle:
            handle.write(text)
        cluster.stop_node(node)
        cluster.start_node(node)


def run_bench(cluster: AllInOne, args) -> dict:
    lay = cluster.layout
    out = subprocess.run(
        [sys.executable, "-m", "oiofs.cli.bench",
         "--auth", f"http://127.0.0.1:{lay.proxy_port}/auth/v1.0", "--user", "test:tester",
         "--key", "testing", "--concurrency", "1", "--skip-small", "--skip-list",
         "--large-count", str(args.large_count), "--large-size", args.large_size,
         "--cpu-pattern", re.escape(lay.root) + r"/etc/node\d+/object-server", "--json",
         "--quiet"],
        capture_output=True, text=True, check=False, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"bench failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def _get_row(report: dict) -> dict:
    for row in report["phases"]:
        if row["label"].startswith("GET "):
            return row
    raise KeyError("GET")


def reader_only(root: str, size: int, rounds: int) -> None:
    """CPU ms to read one ``size``-byte object through the object layer, checks on/off."""
    import hashlib
    import logging
    import time

    from oiofs.common.storage_policy import POLICIES
    from oiofs.common.timestamp import Timestamp
    from oiofs.obj.diskfile import DiskFileManager

    devices = os.path.join(root, "devices")
    os.makedirs(os.path.join(devices, "sda"))
    chunk = os.urandom(1 << 20)
    best: dict[str, float] = {}
    for value in SETTINGS * rounds:
        manager = DiskFileManager({"devices": devices, "fsync_in_threads": "false",
                                   "keep_cache_size": str(2 * size),
                                   "verify_block_checksums": value},
                                  logging.getLogger("bench"))
        df = manager.get_diskfile("sda", "0", "a", "c", "o", POLICIES.get_by_index(0))
        if not best:
            with df.create(size) as writer:
                hasher = hashlib.md5()
                for _ in range(size // len(chunk)):
                    writer.write(chunk)
                    hasher.update(chunk)
                writer.put({"X-Timestamp": Timestamp(time.time()).internal,
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(size // len(chunk) * len(chunk)),
                            "ETag": hasher.hexdigest(), "name": df.name})
            best = {v: float("inf") for v in SETTINGS}
        df.open()
        reader = df.reader()
        began = time.process_time()
        for _data in reader:
            pass
        used = time.process_time() - began
        reader.close()
        best[value] = min(best[value], used)
    for value in SETTINGS:
        print(f"verify={value}: {best[value] * 1000:.1f} ms CPU to read "
              f"{size >> 20} MiB ({size / best[value] / 1e6:.0f} MB/s of one core)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-base", type=int, default=18700)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--large-count", type=int, default=4)
    parser.add_argument("--large-size", default="64MiB")
    parser.add_argument("--reader-only", action="store_true")
    args = parser.parse_args()
    if os.path.exists(args.dir):
        shutil.rmtree(args.dir)
    if args.reader_only:
        try:
            reader_only(args.dir, 64 << 20, args.rounds)
        finally:
            shutil.rmtree(args.dir, ignore_errors=True)
        return 0
    cluster = AllInOne(args.dir, port_base=args.port_base, proxy_workers=1, daemons=False)
    cluster.start()
    results: dict[str, list[dict]] = {value: [] for value in SETTINGS}
    try:
        for round_no in range(args.rounds):
            order = SETTINGS if round_no % 2 == 0 else SETTINGS[::-1]
            for value in order:
                set_verify(cluster, value)
                load = os.getloadavg()[0]
                row = _get_row(run_bench(cluster, args))
                results[value].append(row)
                print(f"round {round_no + 1} verify={value}: GET {row['mb_per_s']} MB/s, "
                      f"object servers {row['cpu_ms_per_op']} ms CPU per GET "
                      f"(load {load:.1f})", flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(args.dir, ignore_errors=True)
    print("\nmedian over rounds:")
    for value in SETTINGS:
        rates = sorted(row["mb_per_s"] for row in results[value])
        cpus = sorted(row["cpu_ms_per_op"] for row in results[value])
        print(f"  verify={value}: GET {rates[len(rates) // 2]} MB/s, "
              f"{cpus[len(cpus) // 2]} ms object-server CPU per GET")
    return 0


if __name__ == "__main__":
    sys.exit(main())
