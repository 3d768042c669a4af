"""CPU of the object server's write path alone: DiskFile PUTs of small new objects.

No HTTP, no container update, no green threads: one process lists the object (the write
conflict check of a PUT), writes ``--size`` bytes and makes them durable
(``DiskFileWriter.put``: fsyncs, rename, directories, suffix invalidation, cleanup),
``--objects`` times, on a temporary devices directory, and prints the CPU (user +
system) per PUT. ``--overwrite`` writes each object twice (the second write finds a
``.data`` to replace). Run it with each version of the code first on the path, in
turns, to compare them on a busy machine:

    cd $CODE && PYTHONPATH=$CODE python bench/diskfile_put_bench.py --objects 2000
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from oiofs.common.hashing import md5  # noqa: E402
from oiofs.common.storage_policy import ReplicationPolicy  # noqa: E402
from oiofs.common.timestamp import Timestamp  # noqa: E402
from oiofs.obj.diskfile import DiskFileManager  # noqa: E402


class _Log:
    def __getattr__(self, _name):
        return lambda *args, **kwargs: None


def cpu_seconds() -> tuple[float, float]:
    """User and system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def put_all(manager: DiskFileManager, count: int, body: bytes, start: float) -> None:
    policy = ReplicationPolicy(0, "bench")
    etag = md5(body).hexdigest()
    for i in range(count):
        df = manager.get_diskfile("sda", str(i % 256), "a", "c", f"o{i}", policy)
        df.ondisk()  # the PUT's conflict check
        with df.create(size=len(body)) as writer:
            writer.write(body)
            writer.put({"X-Timestamp": Timestamp(start + i * 1e-5).internal,
                        "Content-Type": "application/octet-stream", "ETag": etag,
                        "Content-Length": str(len(body)), "name": df.name})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--dir", default=None, help="parent of the temporary directory")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="dfput-", dir=args.dir)
    try:
        os.makedirs(os.path.join(root, "sda"))
        manager = DiskFileManager({"devices": root, "fsync_in_threads": "false"}, _Log())
        body = os.urandom(args.size)
        start = time.time()
        if args.overwrite:
            put_all(manager, args.objects, body, start)
        (user, system), wall = cpu_seconds(), time.monotonic()
        put_all(manager, args.objects, body, start + 1)
        after = cpu_seconds()
        user, system = after[0] - user, after[1] - system
        wall = time.monotonic() - wall
        per = 1e6 / args.objects
        print(f"{'overwrite' if args.overwrite else 'new'} {args.size} B x {args.objects}: "
              f"{(user + system) * per:.0f} us CPU per PUT (user {user * per:.0f}, "
              f"system {system * per:.0f}), {wall * per:.0f} us wall")
    finally:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
