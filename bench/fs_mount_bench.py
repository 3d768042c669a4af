"""Filesystem figures: untar a tree of small files into a mount, ``ls -lR``, read it back.

Compares ``oiofs-mount`` (with and without ``--chunking``) with ``rclone mount
--vfs-cache-mode writes`` on one all-in-one cluster started for the run (proxy log at INFO,
so every request it serves is counted). For each tool, on a fresh container:

1. untar: ``tar -xf tree.tar -C MOUNT`` (what the user waits for), then unmount and wait
   for the mount process to exit (everything uploaded: the time until the data is stored);
2. a new mount with an empty cache: ``ls -lR``, timed, with the proxy requests it made;
3. read every file back and compare its SHA-256 with the tree's.

    python bench/fs_mount_bench.py --dir /tmp/fsbench --files 10000 --dirs 100

``--rounds N`` runs the tools N times on the same cluster, the order rotated each round;
``--untar-only`` skips steps 2 and 3. Give a ``--dir`` that is new, not one just removed:
on an ext4 without a journal (this machine's root filesystem) every file or directory
created near many recent deletions costs up to 0.7 ms of kernel CPU for about a minute
(docs/benchmarks.md, "the inode cost was recent deletions").
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from oiofs.bench.cpu import machine_cpu  # noqa: E402
from oiofs.cli.allinone.cluster import AllInOne  # noqa: E402

USER, KEY = "test:tester", "testing"


def make_tree(path: str, files: int, dirs: int, seed: int = 4) -> dict[str, str]:
    """A tar of ``files`` files of 1-16 KiB in ``dirs`` directories; name -> sha256."""
    rng = random.Random(seed)
    sums = {}
    with tarfile.open(path, "w") as tar:
        for d in range(dirs):
            info = tarfile.TarInfo(f"tree/d{d:03d}")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for i in range(files):
            name = f"tree/d{i % dirs:03d}/f{i:05d}"
            data = rng.randbytes(rng.randint(1024, 16384))
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
            sums[name] = hashlib.sha256(data).hexdigest()
    return sums


class ProxyLog:
    """Requests the proxy served since :meth:`mark`, from its INFO log."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = os.path.getsize(self.path)

    def requests(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with open(self.path) as f:
            f.seek(self.offset)
            for line in f:
                for method in ("GET", "HEAD", "PUT", "DELETE", "POST", "COPY"):
                    if f" {method} /v1/" in line:
                        kind = method
                        parts = line.split(f" {method} ", 1)[1].split()[0].split("/")
                        if method == "GET" and len(parts) == 4:
                            kind = "GET listing"
                        counts[kind] = counts.get(kind, 0) + 1
        return counts


def mount_cmd(tool: str, auth: str, container: str, mnt: str, cache: str) -> list[str]:
    if tool.startswith("oiofs"):
        cmd = [sys.executable, "-m", "oiofs.fs.mount", "--foreground", auth, container, mnt,
               "--user", USER, "--key", KEY, "--cache-dir", cache]
        return cmd + (["--chunking"] if tool == "oiofs-chunking" else [])
    return ["rclone", "mount", f":swift:{container}", mnt, "--swift-auth", auth,
            "--swift-user", USER, "--swift-key", KEY, "--vfs-cache-mode", "writes",
            "--cache-dir", cache, "--config", "/dev/null", "--vfs-write-back", "0s"]


def mount(cmd: list[str], mnt: str, log: str) -> subprocess.Popen:
    os.makedirs(mnt, exist_ok=True)
    proc = subprocess.Popen(cmd, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": ROOT})
    deadline = time.monotonic() + 60
    while not os.path.ismount(mnt):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"mount failed: {open(log).read()[-2000:]}")
        time.sleep(0.05)
    return proc


def _stat(pid: int | str) -> tuple[int, float]:
    """(process group, user + system CPU seconds so far) of ``pid``, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` so far."""
    return _stat(pid)[1]


def group_cpu_seconds(leaders: list[int]) -> float:
    """User + system CPU so far of every live process in the process groups ``leaders``
    (the cluster's servers: each is started in a session of its own, with its workers)."""
    total = 0.0
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            group, cpu = _stat(name)
        except OSError:
            continue                     # exited meanwhile
        total += cpu if group in leaders else 0.0
    return total


def cluster_pids(aio: AllInOne) -> list[int]:
    """The pids of the cluster's processes (each leads its process group)."""
    from oiofs.cli.allinone import processes

    return [pid for name in aio.layout.process_names()
            if (pid := processes.read_pid(aio.layout.run, name, aio.layout.root))]


def unmount(proc: subprocess.Popen, mnt: str) -> None:
    subprocess.run(["fusermount3", "-u", mnt], check=True)
    proc.wait(3600)


def run_tool(tool: str, auth: str, work: str, tarball: str, sums: dict[str, str],
             log: ProxyLog, cluster: list[int], untar_only: bool = False) -> dict:
    os.makedirs(work, exist_ok=True)
    container = f"fsbench-{tool}-{os.getpid()}-{os.path.basename(work)}"
    mnt, out = os.path.join(work, f"mnt-{tool}"), {}
    cmd = mount_cmd(tool, auth, container, mnt, os.path.join(work, f"cache-{tool}-1"))
    proc = mount(cmd, mnt, os.path.join(work, f"{tool}.log"))
    log.mark()
    out["load1"] = os.getloadavg()[0]
    cluster_cpu, (busy, idle) = group_cpu_seconds(cluster), machine_cpu()
    cpu, start = cpu_seconds(proc.pid), time.monotonic()
    tar = subprocess.Popen(["tar", "-xf", tarball, "-C", mnt])
    _, status, usage = os.wait4(tar.pid, 0)
    out["untar_s"] = time.monotonic() - start
    out["untar_mount_cpu_s"] = round(cpu_seconds(proc.pid) - cpu, 2)
    out["untar_cluster_cpu_s"] = round(group_cpu_seconds(cluster) - cluster_cpu, 2)
    out["untar_tar_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    busy2, idle2 = machine_cpu()
    out["untar_machine_busy_s"] = round(busy2 - busy, 2)
    out["untar_machine_idle_s"] = round(idle2 - idle, 2)
    if status:
        raise SystemExit(f"{tool}: tar failed ({status})")
    if tool == "rclone":
        # rclone uploads in the background and does not wait for it on unmount: wait
        # until the container holds every file (and directory marker, if any).
        from oiofs.client import Connection

        conn = Connection(auth, USER, KEY)
        while sum(1 for o in conn.list_objects(container)
                  if not o["name"].endswith("/")) < len(sums):
            time.sleep(0.2)
        conn.close()
    unmount(proc, mnt)
    out["untar_until_stored_s"] = time.monotonic() - start
    out["untar_requests"] = log.requests()
    if untar_only:
        return out
    cmd = mount_cmd(tool, auth, container, mnt, os.path.join(work, f"cache-{tool}-2"))
    if tool == "oiofs-chunking":   # the chunk map lives in the cache directory
        shutil.copytree(os.path.join(work, f"cache-{tool}-1"),
                        os.path.join(work, f"cache-{tool}-2"))
    proc = mount(cmd, mnt, os.path.join(work, f"{tool}.log"))
    try:
        log.mark()
        start = time.monotonic()
        subprocess.run(["ls", "-lR", mnt], check=True, stdout=subprocess.DEVNULL)
        out["ls_lR_s"] = time.monotonic() - start
        out["ls_lR_requests"] = log.requests()
        start = time.monotonic()
        bad = 0
        for name, digest in sums.items():
            with open(os.path.join(mnt, name), "rb") as f:
                bad += hashlib.sha256(f.read()).hexdigest() != digest
        out["read_all_s"] = time.monotonic() - start
        out["checksum_mismatches"] = bad
    finally:
        unmount(proc, mnt)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/fsbench")
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--dirs", type=int, default=100)
    parser.add_argument("--port-base", type=int, default=19000)
    parser.add_argument("--tools", default="oiofs,oiofs-chunking,rclone")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the tools this many times on the same cluster, the order "
                             "rotated each round (fresh container and caches each time)")
    parser.add_argument("--untar-only", action="store_true",
                        help="measure the untar (and until stored) only: no ls -lR, no read")
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    os.makedirs(args.dir)
    aio = AllInOne(os.path.join(args.dir, "cluster"), port_base=args.port_base,
                   proxy_workers=1, daemons=False)
    aio.prepare()
    conf = open(aio.layout.proxy_conf).read().replace("log_level = WARNING",
                                                       "log_level = INFO")
    open(aio.layout.proxy_conf, "w").write(conf)
    aio.prepare = lambda: None           # keep the INFO proxy log
    aio.start()
    results = {}
    try:
        tarball = os.path.join(args.dir, "tree.tar")
        sums = make_tree(tarball, args.files, args.dirs)
        log = ProxyLog(os.path.join(aio.layout.log, "proxy-server.log"))
        tools = args.tools.split(",")
        for r in range(args.rounds):
            order = tools[r % len(tools):] + tools[:r % len(tools)]
            for tool in order:
                work = args.dir if args.rounds == 1 else os.path.join(args.dir, f"r{r}")
                out = run_tool(tool, aio.layout.auth_url, work, tarball, sums, log,
                               cluster_pids(aio), args.untar_only)
                results.setdefault(tool, []).append(out)
                print(r, tool, json.dumps(out), flush=True)
    finally:
        aio.stop()
    if args.rounds == 1:
        results = {tool: runs[0] for tool, runs in results.items()}
    print(json.dumps({"files": args.files, "dirs": args.dirs, "results": results}, indent=1))


if __name__ == "__main__":
    main()
