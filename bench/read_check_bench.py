"""What read-your-writes costs GET and HEAD: a proxy running an older checkout against
one running this one, on the same all-in-one cluster (docs/benchmarks.md).

One cluster of this checkout (no background daemons). Each round, each variant gets a
proxy of its own (one worker, a copy of the all-in-one's proxy configuration on its own
port), started with ``PYTHONPATH`` set to its checkout: ``before`` is ``--before DIR``
(for example ``git archive <commit> | tar -x -C DIR``), ``after`` this checkout. Against
each, ``oiofs-bench`` runs the small-object phases twice: once counting the CPU of that
proxy alone, once of every process of the cluster (the other proxy idles). Rounds
alternate the order of the variants so that the machine's other load falls on both.

    python bench/read_check_bench.py --before /tmp/before --dir /tmp/rcbench --rounds 2
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
sys.path.insert(0, os.path.join(ROOT, "bench"))

from pipeline_bench import pipeline_conf, wait_port  # noqa: E402

from oiofs.cli.allinone import processes  # noqa: E402
from oiofs.cli.allinone.cluster import AllInOne  # noqa: E402

PHASES = ("GET", "HEAD")


def bench(port: int, pattern: str, args) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "oiofs.cli.bench",
         "--auth", f"http://127.0.0.1:{port}/auth/v1.0", "--user", "test:tester",
         "--key", "testing", "--concurrency", str(args.concurrency),
         "--objects", str(args.objects), "--duration", str(args.duration),
         "--skip-large", "--skip-list", "--cpu-pattern", pattern, "--json"],
        capture_output=True, text=True, check=False, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"bench failed: {out.stderr[-2000:]}")
    return {row["label"].split()[0]: row for row in json.loads(out.stdout)["phases"]}


def run_variant(root: str, base_conf: str, name: str, code: str, port: int,
                args) -> dict:
    conf = os.path.join(root, f"proxy-{name}.conf")
    pipeline_conf(base_conf, conf, port, None)
    env = dict(os.environ, PYTHONPATH=code)
    proc = subprocess.Popen(processes.server_argv("proxy", conf), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        proxy = bench(port, re.escape(conf), args)
        whole = bench(port, re.escape(root), args)
    finally:
        proc.terminate()
        proc.wait(30)
    return {phase: {"req_per_s": proxy[phase]["req_per_s"],
                    "proxy_cpu_ms": proxy[phase]["cpu_ms_per_op"],
                    "cluster_cpu_ms": whole[phase]["cpu_ms_per_op"],
                    "p50_ms": proxy[phase]["p50_ms"]} for phase in PHASES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="checkout of the older code")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-base", type=int, default=18700)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--objects", type=int, default=600)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if os.path.exists(args.dir):
        shutil.rmtree(args.dir)
    variants = {"before": os.path.abspath(args.before), "after": ROOT}
    cluster = AllInOne(args.dir, port_base=args.port_base, proxy_workers=1, daemons=False)
    results: dict[str, list[dict]] = {name: [] for name in variants}
    try:
        cluster.start()
        for round_no in range(args.rounds):
            order = list(variants) if round_no % 2 == 0 else list(variants)[::-1]
            for i, name in enumerate(order):
                report = run_variant(args.dir, cluster.layout.proxy_conf, name,
                                     variants[name], args.port_base + 90 + i, args)
                results[name].append(report)
                print(f"round {round_no + 1} {name}: {json.dumps(report)} "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(args.dir, ignore_errors=True)
    print("\nmedian over rounds:")
    for phase in PHASES:
        for name in variants:
            rows = [r[phase] for r in results[name]]
            cells = []
            for key in ("req_per_s", "proxy_cpu_ms", "cluster_cpu_ms", "p50_ms"):
                values = sorted(row[key] for row in rows)
                cells.append(f"{key} {values[len(values) // 2]}")
            print(f"  {phase:5s} {name:6s} " + ", ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
