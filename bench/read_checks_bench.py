"""What read-your-writes costs small reads: the proxy's ``read_checks`` on against off.

Starts an all-in-one (``--dir``, 4 nodes, 3 replicas, 1 proxy worker, no daemons), then
in alternating runs restarts the proxy with ``read_checks = true`` or ``false`` and runs
``oiofs-bench`` (small objects only: PUT, GET, HEAD, DELETE) with the CPU of every
cluster process counted. Prints one line per run; stops the cluster at the end.

    python bench/read_checks_bench.py --dir /tmp/aio-rc --port-base 18100 --rounds 2
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from oiofs.cli.allinone import AllInOne, processes  # noqa: E402


def restart_proxy(aio: AllInOne, checks: bool) -> None:
    """Set ``read_checks`` in the proxy's config and restart it."""
    lay = aio.layout
    with open(lay.proxy_conf) as handle:
        text = re.sub(r"\nread_checks = \w+\n", "\n", handle.read())
    text = text.replace("[app:proxy-server]\n",
                        f"[app:proxy-server]\nread_checks = {str(checks).lower()}\n")
    with open(lay.proxy_conf, "w") as handle:
        handle.write(text)
    processes.stop_process("proxy-server", lay.run, lay.root)
    aio._start("proxy-server", processes.server_argv("proxy", lay.proxy_conf))
    aio._wait([lay.proxy_port])
    time.sleep(1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/aio-rc")
    parser.add_argument("--port-base", type=int, default=18100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    aio = AllInOne(args.dir, port_base=args.port_base, proxy_workers=1, daemons=False)
    aio.start()
    lay = aio.layout
    bench = os.path.join(os.path.dirname(sys.executable), "oiofs-bench")
    try:
        for rnd in range(args.rounds):
            for checks in (True, False):
                restart_proxy(aio, checks)
                pids = sorted(glob.glob(os.path.join(lay.run, "*.pid")))
                out = subprocess.run(
                    [bench, "--auth", lay.proxy_url + "/auth/v1.0", "--user", "test:tester",
                     "--key", "testing", "--concurrency", str(args.concurrency),
                     "--objects", str(args.objects), "--duration", "20", "--skip-large",
                     "--skip-list", "--cpu-pids", *pids, "--json"],
                    capture_output=True, text=True, check=True)
                result = json.loads(out.stdout)
                phases = {p["label"]: {"req_per_s": p["req_per_s"],
                                       "cpu_ms_per_op": p["cpu_ms_per_op"],
                                       "p50_ms": p["p50_ms"]} for p in result["phases"]}
                print(json.dumps({"round": rnd, "read_checks": checks,
                                  "load1": round(os.getloadavg()[0], 1),
                                  "errors": result["errors"],
                                  "failures": result["failures"], "phases": phases}),
                      flush=True)
    finally:
        aio.stop()
        shutil.rmtree(args.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
