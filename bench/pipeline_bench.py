"""What the proxy's filters cost: small-object PUT/GET/HEAD/DELETE through a bare pipeline
and through the full one, on one all-in-one cluster started for the run.

One cluster (no background daemons). For each round, each pipeline in turn gets a proxy
of its own (one worker, a copy of the all-in-one's proxy configuration with only the
``pipeline`` line changed, on its own port) and one ``oiofs-bench`` run of the small
object phases against it; the proxy's CPU per request is counted from its process alone
(``--cpu-pattern`` on its configuration file), then it is stopped. Rounds alternate the
pipelines so that the machine's other load falls on both alike.

    python bench/pipeline_bench.py --dir /tmp/pipebench --rounds 3 --objects 2000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from oiofs.cli.allinone import processes  # noqa: E402
from oiofs.cli.allinone.cluster import AllInOne  # noqa: E402

PIPELINES = {
    "bare": "tempauth proxy-server",
    "full": None,  # the all-in-one's own pipeline, every filter on
}
PHASES = ("PUT", "GET", "HEAD", "DELETE")


def pipeline_conf(base: str, path: str, port: int, pipeline: str | None) -> None:
    with open(base) as handle:
        text = handle.read()
    text = re.sub(r"(?m)^bind_port = .*$", f"bind_port = {port}", text)
    text = re.sub(r"(?m)^workers = .*$", "workers = 1", text)
    if pipeline is not None:
        text = re.sub(r"(?m)^pipeline = .*(\n[ \t]+.*)*$", f"pipeline = {pipeline}", text)
    with open(path, "w") as handle:
        handle.write(text)


def wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"proxy on {port} did not start")


def run_round(root: str, base_conf: str, name: str, port: int, args) -> dict:
    conf = os.path.join(root, f"proxy-{name}.conf")
    pipeline_conf(base_conf, conf, port, PIPELINES[name])
    proc = subprocess.Popen(processes.server_argv("proxy", conf),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        out = subprocess.run(
            [sys.executable, "-m", "oiofs.cli.bench",
             "--auth", f"http://127.0.0.1:{port}/auth/v1.0", "--user", "test:tester",
             "--key", "testing", "--concurrency", str(args.concurrency),
             "--objects", str(args.objects), "--duration", str(args.duration),
             "--skip-large", "--skip-list", "--cpu-pattern", re.escape(conf), "--json"],
            capture_output=True, text=True, check=False, cwd=ROOT)
        if out.returncode != 0:
            raise RuntimeError(f"bench failed: {out.stderr[-2000:]}")
        return json.loads(out.stdout)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port-base", type=int, default=18600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if os.path.exists(args.dir):
        shutil.rmtree(args.dir)
    cluster = AllInOne(args.dir, port_base=args.port_base, proxy_workers=1, daemons=False)
    cluster.start()
    results: dict[str, list[dict]] = {name: [] for name in PIPELINES}
    try:
        for round_no in range(args.rounds):
            order = list(PIPELINES) if round_no % 2 == 0 else list(PIPELINES)[::-1]
            for i, name in enumerate(order):
                report = run_round(args.dir, cluster.layout.proxy_conf, name,
                                   args.port_base + 90 + i, args)
                results[name].append(report)
                print(f"round {round_no + 1} {name}: " + ", ".join(
                    _phase_line(report, phase) for phase in PHASES), flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(args.dir, ignore_errors=True)
    print("\nmedian over rounds (req/s, proxy CPU ms/request):")
    for phase in PHASES:
        cells = []
        for name in PIPELINES:
            rates = sorted(_phase(r, phase)["req_per_s"] for r in results[name])
            cpus = sorted(_phase(r, phase)["cpu_ms_per_op"] for r in results[name])
            cells.append(f"{name} {rates[len(rates) // 2]:.0f} req/s "
                         f"{cpus[len(cpus) // 2]:.2f} ms")
        print(f"  {phase:6s} " + " | ".join(cells))
    return 0


def _phase(report: dict, phase: str) -> dict:
    for row in report["phases"]:
        if row["label"].startswith(phase + " "):
            return row
    raise KeyError(phase)


def _phase_line(report: dict, phase: str) -> str:
    row = _phase(report, phase)
    return f"{phase} {row['req_per_s']:.0f}/s {row['cpu_ms_per_op']:.2f}ms"


if __name__ == "__main__":
    sys.exit(main())
