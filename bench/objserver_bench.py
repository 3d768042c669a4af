#!/usr/bin/env python3
"""Benchmark one object server: 4 KiB PUT/GET rates, and memory while streaming 1 GiB.

Starts ``oiofs-server object`` (1 worker) on 127.0.0.1 with a temporary devices directory,
then:

1. PUTs 4 KiB objects from ``--concurrency`` client threads (one keep-alive connection
   each) for ``--duration`` seconds, then GETs them back for as long, verifying each body;
   prints requests/s, p50/p99 latency and the server's CPU milliseconds per request (from
   ``/proc/<pid>/stat``: the steadiest figure on a shared machine);
2. PUTs then GETs one ``--big-mib`` object (1 GiB by default), streamed both ways, while
   sampling the worker's resident memory (``VmRSS``) to show it stays flat; verifies the
   MD5 of what comes back.

Standard library and oiofs only. Only 127.0.0.1 is ever contacted. Example::

    python bench/objserver_bench.py --duration 10 --concurrency 16

With ``--swift-python /tmp/swift-anchor/venv/bin/python`` the same load runs against
OpenStack Swift's object server (installed there by ``../shared/bench/swift-saio.sh``).
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"
HASH_CONF = "[hash]\nhash_path_prefix = bench-prefix\nhash_path_suffix = bench-suffix\n"
SWIFT_CONF = ("[swift-hash]\nswift_hash_path_prefix = bench-prefix\n"
              "swift_hash_path_suffix = bench-suffix\n\n"
              "[storage-policy:0]\nname = Policy-0\ndefault = yes\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """The object server subprocess (its own process group) in a temporary directory.

    ``swift_python``: run OpenStack Swift's object server with that interpreter instead
    (a virtualenv where swift is installed), for a comparison on the same machine.
    """

    def __init__(self, root: str, extra: dict[str, str], swift_python: str | None = None):
        self.root = root
        self.port = free_port()
        devices = os.path.join(root, "devices")
        etc = os.path.join(root, "etc")
        os.makedirs(os.path.join(devices, "sda"))
        os.makedirs(etc)
        options = {"bind_ip": HOST, "bind_port": str(self.port), "workers": "1",
                   "devices": devices, "mount_check": "false", "log_level": "WARNING"}
        if swift_python:
            with open(os.path.join(etc, "swift.conf"), "w") as handle:
                handle.write(SWIFT_CONF)
            # Swift logs to syslog; send it to a UDP port where nothing listens
            options.update({"swift_dir": etc, "log_udp_host": HOST,
                            "log_udp_port": str(free_port()), "user": getpass.getuser()})
            use = "egg:swift#object"
            script = os.path.join(os.path.dirname(swift_python), "swift-object-server")
            self.command = [swift_python, script]
        else:
            with open(os.path.join(etc, "oiofs.conf"), "w") as handle:
                handle.write(HASH_CONF)
            options["oiofs_dir"] = etc
            use = "egg:oiofs#object"
            self.command = [sys.executable, "-m", "oiofs.cli.server", "object"]
        options.update(extra)
        self.conf = os.path.join(root, "object-server.conf")
        with open(self.conf, "w") as handle:
            handle.write("[DEFAULT]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()))
            handle.write("\n[pipeline:main]\npipeline = object-server\n\n"
                         f"[app:object-server]\nuse = {use}\n")
        self.command.append(self.conf)
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.command, stdout=open(os.path.join(self.root, "server.log"), "wb"),
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("object server exited; see " + self.root + "/server.log")
            try:
                socket.create_connection((HOST, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("object server did not start listening")

    def worker_pid(self) -> int:
        """The worker process (child of the runner), where requests are served."""
        assert self.proc is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            path = f"/proc/{self.proc.pid}/task/{self.proc.pid}/children"
            with open(path) as handle:
                children = handle.read().split()
            if children:
                return int(children[0])
            time.sleep(0.05)
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_phase(port: int, method: str, concurrency: int, duration: float, body: bytes,
              names: list[list[str]]) -> tuple[int, list[float], int]:
    """Each thread issues ``method`` on its own names for ``duration``; (count, lat, errors)."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    stop_at = time.monotonic() + duration
    expected = hashlib.md5(body).hexdigest()

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        mine = names[index]
        count = 0
        while time.monotonic() < stop_at:
            if method == "PUT":
                name = f"/sda/{index}/bench/c/o-{index}-{count}"
                headers = {"X-Timestamp": "%.5f" % time.time(), "Content-Type": "x/bench",
                           "Content-Length": str(len(body))}
                payload = body
            else:
                if not mine:
                    return
                name = mine[count % len(mine)]
                headers, payload = {}, None
            begin = time.perf_counter()
            try:
                conn.request(method, name, body=payload, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
                count += 1
                continue
            latencies[index].append(time.perf_counter() - begin)
            if method == "PUT":
                if resp.status == 201:
                    mine.append(name)
                else:
                    errors[index] += 1
            elif resp.status != 200 or len(data) != len(body) or (
                    count % 64 == 0 and hashlib.md5(data).hexdigest() != expected):
                errors[index] += 1
            count += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flat = [x for per in latencies for x in per]
    return len(flat), flat, sum(errors)


def small_objects(server: Server, concurrency: int, duration: float) -> None:
    body = os.urandom(4096)
    names: list[list[str]] = [[] for _ in range(concurrency)]
    pid = server.worker_pid()
    for method in ("PUT", "GET"):
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        count, lat, errors = run_phase(server.port, method, concurrency, duration, body, names)
        wall, cpu = time.monotonic() - wall0, cpu_seconds(pid) - cpu0
        print(f"{method:4} 4 KiB c{concurrency}: {count / wall:8.1f} req/s  "
              f"p50 {percentile(lat, 0.5) * 1000:6.2f} ms  "
              f"p99 {percentile(lat, 0.99) * 1000:6.2f} ms  "
              f"server CPU {cpu * 1000 / max(count, 1):5.2f} ms/req  errors {errors}",
              flush=True)


def big_object(server: Server, mib: int) -> None:
    pid = server.worker_pid()
    peak = [rss_kib(pid)]
    baseline = peak[0]
    sampling = threading.Event()

    def sampler() -> None:
        while not sampling.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.02)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    chunk = os.urandom(1 << 20)
    size = mib << 20
    expected = hashlib.md5()
    conn = http.client.HTTPConnection(HOST, server.port, timeout=120)
    begin = time.monotonic()
    conn.putrequest("PUT", "/sda/0/bench/c/big")
    conn.putheader("X-Timestamp", "%.5f" % time.time())
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    for _ in range(mib):
        conn.send(chunk)
        expected.update(chunk)
    resp = conn.getresponse()
    resp.read()
    put_time = time.monotonic() - begin
    put_peak = peak[0]
    begin = time.monotonic()
    conn.request("GET", "/sda/0/bench/c/big")
    resp = conn.getresponse()
    got = hashlib.md5()
    received = 0
    while True:
        data = resp.read(1 << 20)
        if not data:
            break
        got.update(data)
        received += len(data)
    get_time = time.monotonic() - begin
    sampling.set()
    thread.join()
    conn.close()
    ok = resp.status == 200 and received == size and got.hexdigest() == expected.hexdigest()
    print(f"{mib} MiB PUT {mib / put_time:7.1f} MiB/s, GET {mib / get_time:7.1f} MiB/s, "
          f"body verified: {ok}")
    print(f"worker RSS: {baseline / 1024:.1f} MiB before, peak {put_peak / 1024:.1f} MiB during "
          f"PUT, {peak[0] / 1024:.1f} MiB overall")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--big-mib", type=int, default=1024, help="0 skips the big object")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                        help="extra server option, e.g. --set fsync_in_threads=false")
    parser.add_argument("--dir", default=None, help="parent of the temporary directory")
    parser.add_argument("--keep", action="store_true",
                        help="leave the temporary directory in place: on a filesystem "
                             "without a journal, files removed in the last minute or so "
                             "slow down the next run's creates (docs/benchmarks.md); "
                             "remove the runs' directories after measuring")
    parser.add_argument("--swift-python", default=None, metavar="PYTHON",
                        help="benchmark OpenStack Swift's object server instead, run by this "
                             "interpreter (e.g. /tmp/swift-anchor/venv/bin/python)")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    root = tempfile.mkdtemp(prefix="oiofs-objbench-", dir=args.dir)
    server = Server(root, extra, args.swift_python)
    print("server:", "swift " + args.swift_python if args.swift_python else "oiofs")
    try:
        server.start()
        small_objects(server, args.concurrency, args.duration)
        if args.big_mib:
            big_object(server, args.big_mib)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
