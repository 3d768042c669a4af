"""The mount's operations for one small file, called directly (no FUSE, no kernel).

Calls :class:`~oiofs.fs.fuse_ops.OiofsOperations` the way libfuse does for each file
``tar`` extracts (lookup of the new name, create, one or two writes, chown, chmod, flush,
release, utimensat, and the getattr after each), over a ``CachingStore`` of a local
directory with no heartbeat, and prints the CPU and wall time per file. What it leaves
out: the binding (ctypes, mfusepy), the kernel, and the heartbeat's work (uploads and
moving the close log into sqlite). ``--profile`` prints a cProfile of the run.

    PYTHONPATH=$PWD python bench/fs_ops_bench.py --files 3000
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import time
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import mfusepy  # noqa: E402

from oiofs.fs.caching_store import CachingStore  # noqa: E402
from oiofs.fs.fuse_ops import OiofsOperations  # noqa: E402
from oiofs.fs.local_store import LocalStore  # noqa: E402


def one_file(ops: OiofsOperations, i: int, data: bytes) -> None:
    """The calls libfuse makes for the i-th file tar extracts (1-16 KiB)."""
    path = f"/d{i % 100}/f{i}"
    try:
        ops.getattr(path)                          # the lookup of a new name
    except mfusepy.FuseOSError:
        pass
    fi = types.SimpleNamespace(fh=0, flags=os.O_WRONLY | os.O_CREAT, direct_io=0)
    ops.create(path, 0o644, fi)
    ops.getattr(path)
    size = 1024 + (i * 7919) % 15360
    ops.write(path, data[:min(size, 10240)], 0, fi)
    if size > 10240:
        ops.write(path, data[10240:size], 10240, fi)
    ops.chown(path, os.getuid(), os.getgid())
    ops.getattr(path)
    ops.chmod(path, 0o100644)
    ops.getattr(path)
    ops.flush(path, fi)
    ops.release(path, fi)
    ops.utimens(path, None)
    ops.getattr(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="fs-ops-bench-")
    try:
        os.makedirs(os.path.join(base, "backing"))
        store = CachingStore(LocalStore(os.path.join(base, "backing")),
                             os.path.join(base, "cache"), start=False)
        ops = OiofsOperations(store)
        for d in range(100):
            ops.mkdir(f"/d{d}", 0o755)
        data = os.urandom(16384)
        profile = cProfile.Profile() if args.profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        for i in range(args.files):
            one_file(ops, i, data)
        if profile:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{args.files} files: {1e6 * cpu / args.files:.0f} us CPU per file, "
              f"{1e6 * wall / args.files:.0f} us wall per file")
        if profile:
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        store.index.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
