"""Untar of small files into a mount over a local directory: FUSE binding against binding.

Issue 12 asks whether libfuse's low-level API (pyfuse3) makes the untar faster than the
high-level one oiofs-mount uses (mfusepy). No cluster: each variant mounts a fresh local
directory through the same ``CachingStore`` (as ``oiofs-mount --local``), and the variants
run interleaved, round after round, so the load of the machine falls on all of them alike.
For each run: the time until ``tar -xf`` returns, the CPU the mount process used until
then (user + system, from /proc), and the time until the mount process has stored
everything and exited after ``fusermount3 -u``. Every file is checked against the tree
after each run (through the backing directory).

    python bench/fs_untar_bench.py --dir /tmp/untarbench --files 10000 --rounds 3

``--baseline NAME=DIR`` (repeatable) adds the variant ``NAME``: the ``oiofs-mount`` of
another checkout (``DIR`` holds its ``oiofs/`` package, e.g. ``git archive COMMIT oiofs |
tar -x -C DIR``), to compare a change with the code before it, interleaved.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.fs_mount_bench import cpu_seconds, make_tree, mount, unmount  # noqa: E402

PROTO = os.path.join(ROOT, "bench", "fs_pyfuse3_proto.py")
VARIANTS = {
    # the shipped mount (mfusepy, libfuse's high-level API)
    "oiofs-mount": ["-m", "oiofs.fs.mount", "--foreground"],
    "oiofs-mount-t60": ["-m", "oiofs.fs.mount", "--foreground", "--attr-timeout", "60"],
    # the same operations and store through the prototype: mfusepy (the same FUSE call
    # as the mount) or pyfuse3 (libfuse's low-level API)
    "mfusepy": [PROTO, "--binding", "mfusepy"],
    "mfusepy-st": [PROTO, "--binding", "mfusepy", "--single-thread"],
    "mfusepy-mt1": [PROTO, "--binding", "mfusepy", "--max-threads", "1"],
    "mfusepy-keep": [PROTO, "--binding", "mfusepy", "--keep-thread-states"],
    "pyfuse3": [PROTO],
    "pyfuse3-t60": [PROTO, "--attr-timeout", "60"],
    "pyfuse3-wb": [PROTO, "--writeback"],
    # no store: an in-memory filesystem, what the binding and the kernel cost alone
    "mem-mfusepy": [PROTO, "--memory", "--binding", "mfusepy"],
    "mem-mfusepy-st": [PROTO, "--memory", "--binding", "mfusepy", "--single-thread"],
    "mem-pyfuse3": [PROTO, "--memory"],
    "mem-pyfuse3-wb": [PROTO, "--memory", "--writeback"],
}
DEFAULT = "oiofs-mount,pyfuse3,pyfuse3-wb,mem-mfusepy,mem-pyfuse3,mem-pyfuse3-wb"


def baseline_cmd(root: str) -> list[str]:
    """``oiofs-mount --foreground`` from the checkout ``root`` (ahead of this one)."""
    code = (f"import sys; sys.path.insert(0, {root!r}); from oiofs.fs.mount import main; "
            "sys.exit(main())")
    return ["-c", code, "--foreground"]


def run(variant: str, work: str, tarball: str, sums: dict[str, str],
        count: bool = False) -> dict[str, Any]:
    base = os.path.join(work, variant)
    shutil.rmtree(base, ignore_errors=True)
    backing, mnt, cache = (os.path.join(base, d) for d in ("backing", "mnt", "cache"))
    for d in (backing, mnt, cache):
        os.makedirs(d)
    cmd = [sys.executable, *VARIANTS[variant], "--local", backing, "--cache-dir", cache, mnt]
    if count and PROTO in cmd:
        cmd.append("--count")
    log_path = os.path.join(work, f"{variant}.log")
    log_start = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    proc = mount(cmd, mnt, log_path)
    load = os.getloadavg()[0]
    cpu0, start = cpu_seconds(proc.pid), time.monotonic()
    tar = subprocess.Popen(["tar", "-xf", tarball, "-C", mnt])
    _, status, usage = os.wait4(tar.pid, 0)
    untar = time.monotonic() - start
    cpu = cpu_seconds(proc.pid) - cpu0
    if status:
        raise SystemExit(f"{variant}: tar failed ({status})")
    unmount(proc, mnt)
    stored = time.monotonic() - start
    bad = 0
    if "--memory" not in cmd:
        for name, digest in sums.items():
            with open(os.path.join(backing, name), "rb") as f:
                bad += hashlib.sha256(f.read()).hexdigest() != digest
    shutil.rmtree(base, ignore_errors=True)
    out: dict[str, Any] = {
        "untar_s": round(untar, 2), "mount_cpu_s": round(cpu, 2),
        "tar_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "until_stored_s": round(stored, 2), "load1": round(load, 2),
        "mismatches": bad, "exit": proc.returncode}
    if count:
        with open(log_path) as f:
            f.seek(log_start)
            for line in f:
                if line.startswith(("calls ", "requests ")):
                    key, counts = line.split(" ", 1)
                    out[key] = json.loads(counts)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/untarbench")
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--dirs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=DEFAULT, help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--baseline", metavar="NAME=DIR", action="append", default=[],
                        help="variant NAME: the oiofs-mount of the checkout DIR")
    parser.add_argument("--count", action="store_true",
                        help="count the operations each prototype variant runs")
    args = parser.parse_args()
    for item in args.baseline:
        name, _, root = item.partition("=")
        VARIANTS[name] = baseline_cmd(os.path.abspath(root))
    os.makedirs(args.dir, exist_ok=True)
    tarball = os.path.join(args.dir, "tree.tar")
    sums = make_tree(tarball, args.files, args.dirs)
    results: dict[str, list[dict[str, Any]]] = {}
    for r in range(args.rounds):
        for variant in args.variants.split(","):
            out = run(variant, args.dir, tarball, sums, args.count)
            results.setdefault(variant, []).append(out)
            print(r, variant, json.dumps(out), flush=True)
    print(json.dumps({"files": args.files, "results": results}, indent=1))


if __name__ == "__main__":
    main()
