"""Where the CPU of a small PUT goes: CPU ms per PUT of each role of a running all-in-one.

Against a running all-in-one (``--dir``, started with or without daemons), one phase of
``--objects`` PUTs of ``--size`` bytes by ``--concurrency`` threads (keep-alive), then
the objects are deleted (not measured). The CPU of each role's processes (``run/*.pid``
and their children: proxy, object, container, account servers, daemon groups) is read
from ``/proc`` before and after the PUT phase, and printed per PUT. CPU per operation is
the figure to trust on a loaded machine; the rate is printed too.

    python bench/smallput_bench.py --dir /tmp/sp-aio --port 27400 --objects 2000

With ``--idle S`` it measures nothing but the CPU each role spends over ``S`` seconds of
a quiet cluster (the daemons' idle cost).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from oiofs.bench.client import BenchClient, authenticate  # noqa: E402
from oiofs.bench.cpu import CpuMeter, machine_cpu, read_pid_files  # noqa: E402


def role_meters(run_dir: str) -> dict[str, CpuMeter]:
    """One meter per role, from the pid files (``object-server-3.pid`` -> object-server)."""
    roles: dict[str, list[str]] = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "*.pid"))):
        role = re.sub(r"-\d+$", "", os.path.basename(path)[:-4])
        roles.setdefault(role, []).append(path)
    return {role: CpuMeter(read_pid_files(paths)) for role, paths in roles.items()}


def sample(meters: dict[str, CpuMeter]) -> dict[str, float]:
    return {role: meter.sample() for role, meter in meters.items()}


def run_threads(count: int, concurrency: int, work) -> float:
    """Call ``work(i)`` for i in range(count) over ``concurrency`` threads; wall seconds."""
    lock = threading.Lock()
    next_index = [0]
    errors: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= count:
                return
            try:
                work(i)
            except Exception as err:  # counted and reported
                errors.append(repr(err))

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, first: {errors[0]}")
    return time.monotonic() - start


def put_phase(args, meters: dict[str, CpuMeter]) -> None:
    _endpoint, conn = authenticate(f"http://127.0.0.1:{args.port}/auth/v1.0",
                                   "test:tester", "testing")
    client = BenchClient(conn)
    container = f"smallput-{uuid.uuid4().hex[:8]}"
    if client.request("PUT", container).status not in (201, 202):
        raise RuntimeError("container PUT failed")
    body = os.urandom(args.size)

    def put(i: int) -> None:
        status = client.request("PUT", container, f"o{i}", body=body).status
        if status != 201:
            raise RuntimeError(f"PUT answered {status}")

    before = sample(meters)
    client_before, machine_before = os.times(), machine_cpu()
    wall = run_threads(args.objects, args.concurrency, put)
    client_after, machine_after = os.times(), machine_cpu()
    after = sample(meters)
    report(before, after, args.objects, f"PUT {args.size} B x {args.objects}, "
           f"{args.concurrency} threads: {args.objects / wall:.1f}/s")
    client_cpu = (client_after.user + client_after.system
              - client_before.user - client_before.system)
    busy, idle = (a - b for a, b in zip(machine_after, machine_before, strict=True))
    print(f"  {'(bench client)':24s} {client_cpu * 1000 / args.objects:8.3f} ms/op  "
          f"({client_cpu:.2f} s)")
    print(f"  machine busy {100 * busy / (busy + idle):.0f}% of {os.cpu_count()} cores")

    if args.keep:
        client.close()
        return

    def delete(i: int) -> None:
        client.request("DELETE", container, f"o{i}")

    run_threads(args.objects, args.concurrency, delete)
    client.request("DELETE", container)
    client.close()


def report(before: dict[str, float], after: dict[str, float], ops: int, title: str) -> None:
    print(title)
    total = 0.0
    for role in sorted(before):
        used = after[role] - before[role]
        total += used
        print(f"  {role:24s} {used * 1000 / ops:8.3f} ms/op  ({used:.2f} s)")
    print(f"  {'total':24s} {total * 1000 / ops:8.3f} ms/op  ({total:.2f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True, help="the all-in-one's directory")
    parser.add_argument("--port", type=int, required=True, help="its proxy port")
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--keep", action="store_true",
                        help="leave the objects and their container in place")
    parser.add_argument("--idle", type=float, default=0.0,
                        help="measure S seconds of idleness instead of PUTs")
    args = parser.parse_args()
    meters = role_meters(os.path.join(args.dir, "run"))
    if args.idle:
        before = sample(meters)
        time.sleep(args.idle)
        report(before, sample(meters), 1, f"CPU over {args.idle:.0f} s idle (ms in total)")
        return 0
    put_phase(args, meters)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
