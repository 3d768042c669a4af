"""Measurement prototype: the oiofs mount on libfuse's low-level API (pyfuse3), issue 12.

Not the shipped mount (``oiofs-mount`` uses mfusepy, docs/fs.md). This script serves the
same :class:`~oiofs.fs.fuse_ops.OiofsOperations` (the same ``CachingStore``, the same
in-memory small files, the same ``/.oiofs`` files) through pyfuse3's inode-based API: an
in-memory inode table maps inode numbers to paths, and every request calls the path-based
operation once, with no extra ``getattr`` after ``setattr`` and no path resolution by
libfuse. The store calls run in the trio thread (no ``trio.to_thread``): the cheapest a
port could be, and as serial as a single-threaded loop. ``--binding mfusepy`` serves the
same operations the way ``oiofs-mount`` does (``--single-thread``: libfuse's ``-s`` loop),
``--memory`` an in-memory filesystem with no store (what the binding costs alone), and
``--count`` prints how many operations (and, with pyfuse3, kernel requests) were served.
It exists to measure whether a port is worth it: ``bench/fs_untar_bench.py`` drives it,
docs/benchmarks.md has the figures.

    python bench/fs_pyfuse3_proto.py --local DIR --cache-dir C MOUNTPOINT [--writeback]
        [--attr-timeout S] [--binding mfusepy [--single-thread]] [--memory] [--count]

The pyfuse3 variants need ``pyfuse3`` and ``trio`` (PyPI; pyfuse3 builds a C extension
with gcc, pkg-config, libfuse3-dev and the Python headers); neither is a dependency of
oiofs.
"""

from __future__ import annotations

import argparse
import collections
import errno
import json
import logging
import os
import signal
import stat
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import mfusepy

try:
    import pyfuse3
    import trio
except ImportError:        # the mfusepy variants run without them
    pyfuse3 = trio = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from oiofs.fs.caching_store import CachingStore  # noqa: E402
from oiofs.fs.fuse_ops import OiofsOperations  # noqa: E402
from oiofs.fs.local_store import LocalStore  # noqa: E402

ROOT_INODE = 1             # pyfuse3.ROOT_INODE, FUSE's root


def _child(parent: str, name: bytes) -> str:
    text = os.fsdecode(name)
    return "/" + text if parent == "/" else f"{parent}/{text}"


class Inodes:
    """Inode numbers <-> paths, with the kernel's lookup counts."""

    def __init__(self) -> None:
        self.path = {ROOT_INODE: "/"}
        self.ino = {"/": ROOT_INODE}
        self.count: dict[int, int] = {}
        self.next = ROOT_INODE + 1

    def get(self, path: str) -> int:
        ino = self.ino.get(path)
        if ino is None:
            ino, self.next = self.next, self.next + 1
            self.ino[path], self.path[ino] = ino, path
        return ino

    def looked_up(self, ino: int) -> None:
        self.count[ino] = self.count.get(ino, 0) + 1

    def forget(self, ino: int, n: int) -> None:
        left = self.count.get(ino, 0) - n
        if left > 0:
            self.count[ino] = left
            return
        self.count.pop(ino, None)
        path = self.path.pop(ino, None)
        if path is not None and self.ino.get(path) == ino:
            del self.ino[path]

    def drop(self, path: str) -> None:
        """The name is gone (unlink, rmdir): a later file of that name is a new inode."""
        self.ino.pop(path, None)

    def rename(self, old: str, new: str) -> None:
        self.drop(new)
        moved = [(p, i) for p, i in self.ino.items()
                 if p == old or p.startswith(old + "/")]
        for p, _ in moved:
            del self.ino[p]
        for p, i in moved:
            q = new + p[len(old):]
            self.ino[q], self.path[i] = i, q


class LowLevel(pyfuse3.Operations if pyfuse3 else object):
    """pyfuse3's callbacks over the path-based :class:`OiofsOperations`."""

    def __init__(self, ops: OiofsOperations, timeout: float, writeback: bool) -> None:
        super().__init__()
        self.ops = ops
        self.timeout = timeout
        self.enable_writeback_cache = writeback
        self.inodes = Inodes()
        self.dirs: dict[int, list[tuple[bytes, str]]] = {}
        self.next_dir = 1

    def _call(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.ops, name)(*args)
        except mfusepy.FuseOSError as exc:
            raise pyfuse3.FUSEError(exc.errno) from None

    def _entry(self, path: str, st: dict[str, Any] | None = None) -> pyfuse3.EntryAttributes:
        st = st if st is not None else self._call("getattr", path)
        entry = pyfuse3.EntryAttributes()
        entry.st_ino = self.inodes.get(path)
        entry.entry_timeout = entry.attr_timeout = self.timeout
        entry.st_mode, entry.st_nlink = st["st_mode"], st["st_nlink"]
        entry.st_uid, entry.st_gid = st["st_uid"], st["st_gid"]
        entry.st_size, entry.st_blksize = st["st_size"], st["st_blksize"]
        entry.st_blocks = st["st_blocks"]
        ns = int(st["st_mtime"] * 1e9)
        entry.st_atime_ns = entry.st_mtime_ns = entry.st_ctime_ns = ns
        return entry

    def _path(self, ino: int) -> str:
        try:
            return self.inodes.path[ino]
        except KeyError:
            raise pyfuse3.FUSEError(errno.ENOENT) from None

    async def lookup(self, parent_inode: int, name: bytes, ctx: Any) -> Any:
        parent = self._path(parent_inode)
        if name == b".":
            path = parent
        elif name == b"..":
            path = parent.rsplit("/", 1)[0] or "/"
        else:
            path = _child(parent, name)
        entry = self._entry(path)
        self.inodes.looked_up(entry.st_ino)
        return entry

    async def forget(self, inode_list: Any) -> None:
        for ino, n in inode_list:
            if ino != ROOT_INODE:
                self.inodes.forget(ino, n)

    async def getattr(self, inode: int, ctx: Any) -> Any:
        return self._entry(self._path(inode))

    async def setattr(self, inode: int, attr: Any, fields: Any, fh: Any, ctx: Any) -> Any:
        path = self._path(inode)
        if fields.update_size:
            self._call("truncate", path, attr.st_size)
        if fields.update_mode:
            self._call("chmod", path, attr.st_mode)
        if fields.update_uid or fields.update_gid:
            self._call("chown", path, attr.st_uid if fields.update_uid else -1,
                       attr.st_gid if fields.update_gid else -1)
        return self._entry(path)

    async def mkdir(self, parent_inode: int, name: bytes, mode: int, ctx: Any) -> Any:
        path = _child(self._path(parent_inode), name)
        self._call("mkdir", path, mode)
        entry = self._entry(path)
        self.inodes.looked_up(entry.st_ino)
        return entry

    async def rmdir(self, parent_inode: int, name: bytes, ctx: Any) -> None:
        path = _child(self._path(parent_inode), name)
        self._call("rmdir", path)
        self.inodes.drop(path)

    async def unlink(self, parent_inode: int, name: bytes, ctx: Any) -> None:
        path = _child(self._path(parent_inode), name)
        self._call("unlink", path)
        self.inodes.drop(path)

    async def rename(self, parent_old: int, name_old: bytes, parent_new: int,
                     name_new: bytes, flags: int, ctx: Any) -> None:
        if flags:
            raise pyfuse3.FUSEError(errno.EINVAL)
        old = _child(self._path(parent_old), name_old)
        new = _child(self._path(parent_new), name_new)
        self._call("rename", old, new)
        self.inodes.rename(old, new)

    async def opendir(self, inode: int, ctx: Any) -> int:
        path = self._path(inode)
        names = [n for n in self._call("readdir", path, None) if n not in (".", "..")]
        fh, self.next_dir = self.next_dir, self.next_dir + 1
        self.dirs[fh] = [(os.fsencode(n), _child(path, os.fsencode(n))) for n in names]
        return fh

    async def readdir(self, fh: int, start_id: int, token: Any) -> None:
        entries = self.dirs.get(fh, [])
        for i in range(start_id, len(entries)):
            name, path = entries[i]
            try:
                entry = self._entry(path)
            except pyfuse3.FUSEError:
                continue           # gone since opendir
            if not pyfuse3.readdir_reply(token, name, entry, i + 1):
                return
            self.inodes.looked_up(entry.st_ino)

    async def releasedir(self, fh: int) -> None:
        self.dirs.pop(fh, None)

    async def statfs(self, ctx: Any) -> Any:
        st = self._call("statfs", "/")
        out = pyfuse3.StatvfsData()
        for key, value in st.items():
            setattr(out, key, value)
        return out

    def _fi(self, flags: int) -> tuple[SimpleNamespace, pyfuse3.FileInfo]:
        return SimpleNamespace(flags=flags, fh=0, direct_io=0), pyfuse3.FileInfo()

    async def open(self, inode: int, flags: int, ctx: Any) -> Any:
        fi, out = self._fi(flags)
        self._call("open", self._path(inode), fi)
        out.fh, out.direct_io = fi.fh, bool(fi.direct_io)
        return out

    async def create(self, parent_inode: int, name: bytes, mode: int, flags: int,
                     ctx: Any) -> Any:
        path = _child(self._path(parent_inode), name)
        fi, out = self._fi(flags)
        self._call("create", path, mode, fi)
        out.fh = fi.fh
        entry = self._entry(path)
        self.inodes.looked_up(entry.st_ino)
        return out, entry

    async def read(self, fh: int, off: int, size: int) -> bytes:
        return self._call("read", None, size, off, SimpleNamespace(fh=fh))

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        return self._call("write", None, buf, off, SimpleNamespace(fh=fh))

    async def flush(self, fh: int) -> None:
        self._call("flush", None, SimpleNamespace(fh=fh))

    async def fsync(self, fh: int, datasync: bool) -> None:
        self._call("fsync", None, datasync, SimpleNamespace(fh=fh))

    async def release(self, fh: int) -> None:
        self._call("release", None, SimpleNamespace(fh=fh))


class MemoryOperations(mfusepy.Operations):
    """A path-based filesystem in memory, with no store behind it: what is left of a
    small-file write once the store's work is taken away (the binding and the kernel)."""

    def __init__(self) -> None:
        self.files: dict[str, bytearray | None] = {"/": None}    # None: a directory
        self.open_files: dict[int, str] = {}
        self.now = time.time()
        self.lock = threading.Lock()
        self.ids = 0

    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        if path not in self.files:
            raise mfusepy.FuseOSError(errno.ENOENT)
        data = self.files[path]
        mode = stat.S_IFDIR | 0o755 if data is None else stat.S_IFREG | 0o644
        size = 0 if data is None else len(data)
        return {"st_mode": mode, "st_nlink": 1, "st_size": size, "st_mtime": self.now,
                "st_uid": os.getuid(), "st_gid": os.getgid(), "st_blksize": 4096,
                "st_blocks": (size + 511) // 512}

    def readdir(self, path: str, fh: Any) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return [".", "..", *(p[len(prefix):] for p in self.files
                             if p.startswith(prefix) and "/" not in p[len(prefix):]
                             and p != "/")]

    def mkdir(self, path: str, mode: int) -> int:
        self.files[path] = None
        return 0

    def chmod(self, path: str, mode: int) -> int:
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        return 0

    def utimens(self, path: str, times: Any = None) -> int:
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_frsize": 4096, "f_blocks": 1 << 20, "f_bfree": 1 << 19,
                "f_bavail": 1 << 19, "f_namemax": 255}

    def _open(self, path: str, fi: Any) -> int:
        with self.lock:
            self.ids += 1
            self.open_files[self.ids] = path
            fi.fh = self.ids
        return 0

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        self.files[path] = bytearray()
        return self._open(path, fi)

    def open(self, path: str, fi: Any) -> int:
        return self._open(path, fi)

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        data = self.files[path]
        assert data is not None
        del data[length:]
        return 0

    def read(self, path: str, size: int, offset: int, fi: Any) -> bytes:
        data = self.files[self.open_files[fi.fh]]
        return bytes(data[offset:offset + size]) if data is not None else b""

    def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
        buf = self.files[self.open_files[fi.fh]]
        assert buf is not None
        buf[offset:offset + len(data)] = data
        return len(data)

    def flush(self, path: str, fi: Any) -> int:
        return 0

    def release(self, path: str, fi: Any) -> int:
        self.open_files.pop(fi.fh, None)
        return 0

    def destroy(self, path: str) -> None:
        pass


PATH_OPS = ("getattr", "readdir", "mkdir", "rmdir", "unlink", "rename", "chmod", "chown",
            "utimens", "statfs", "create", "open", "read", "write", "truncate", "flush",
            "fsync", "release")
LOW_OPS = ("lookup", "forget", "getattr", "setattr", "mkdir", "rmdir", "unlink", "rename",
           "opendir", "readdir", "releasedir", "statfs", "open", "create", "read", "write",
           "flush", "fsync", "release")


def count_calls(ops: Any, names: tuple[str, ...]) -> collections.Counter[str]:
    """Wrap the methods ``names`` of ``ops`` to count how often each is called."""
    counts: collections.Counter[str] = collections.Counter()
    for name in names:
        method = getattr(ops, name, None)
        if method is None:
            continue

        def counted(*args: Any, _m: Any = method, _n: str = name, **kw: Any) -> Any:
            counts[_n] += 1
            return _m(*args, **kw)

        setattr(ops, name, counted)
    return counts


def keep_thread_states() -> None:
    """Make every thread that calls into mfusepy's wrapper keep its Python thread state."""
    import ctypes
    import threading

    kept = threading.local()
    wrapper = mfusepy.FUSE._wrapper

    def keeping(self, func, *args, **kwargs):
        if not getattr(kept, "done", False):
            ctypes.pythonapi.PyGILState_Ensure()  # never released: the state stays
            kept.done = True
        return wrapper(self, func, *args, **kwargs)

    mfusepy.FUSE._wrapper = keeping


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mountpoint")
    parser.add_argument("--local", required=True)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--binding", choices=("pyfuse3", "mfusepy"), default="pyfuse3")
    parser.add_argument("--memory", action="store_true",
                        help="serve an in-memory filesystem instead of the caching store")
    parser.add_argument("--count", action="store_true",
                        help="count the operations and print the counts at exit")
    parser.add_argument("--single-thread", action="store_true",
                        help="mfusepy: libfuse's single-threaded loop (-s)")
    parser.add_argument("--max-threads", type=int, default=0,
                        help="mfusepy: libfuse's max_threads for its multi-threaded loop "
                             "(0: libfuse's default)")
    parser.add_argument("--keep-thread-states", action="store_true",
                        help="mfusepy: each libfuse worker thread keeps its Python thread "
                             "state across callbacks (else ctypes makes and frees one per "
                             "callback)")
    parser.add_argument("--attr-timeout", type=float, default=1.0)
    parser.add_argument("--writeback", action="store_true",
                        help="let the kernel cache writes (FUSE_CAP_WRITEBACK_CACHE)")
    parser.add_argument("--upload-delay", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="pyfuse3-proto %(levelname)s %(message)s")
    ops: Any
    if args.memory:
        ops = MemoryOperations()
    else:
        cache = CachingStore(LocalStore(args.local), args.cache_dir,
                             upload_delay=args.upload_delay)
        ops = OiofsOperations(cache)
    counts = count_calls(ops, PATH_OPS) if args.count else None
    try:
        if args.binding == "mfusepy":
            if args.keep_thread_states:
                keep_thread_states()
            mfusepy.FUSE(ops, args.mountpoint, foreground=True, raw_fi=True, fsname="oiofs",
                         attr_timeout=args.attr_timeout, entry_timeout=args.attr_timeout,
                         negative_timeout=0, nothreads=args.single_thread,
                         **({"max_threads": args.max_threads} if args.max_threads else {}))
        else:
            serve_pyfuse3(ops, args, args.count)
    finally:
        if counts is not None:
            print("calls", json.dumps(dict(counts.most_common())), flush=True)
    return 0


def serve_pyfuse3(ops: Any, args: argparse.Namespace, count: bool) -> None:
    """Serve ``ops`` through pyfuse3 until unmounted, then run its ``destroy``; with
    ``count``, print how many requests of each kind the kernel sent."""
    if pyfuse3 is None:
        raise SystemExit("pyfuse3 is not installed: pip install pyfuse3 (docs/benchmarks.md)")
    low = LowLevel(ops, args.attr_timeout, args.writeback)
    requests = count_calls(low, LOW_OPS) if count else None
    options = set(pyfuse3.default_options) - {"default_permissions"}
    options.add("fsname=oiofs")
    pyfuse3.init(low, args.mountpoint, options)
    signal.signal(signal.SIGTERM, lambda *_: pyfuse3.terminate())
    try:
        trio.run(pyfuse3.main)
    finally:
        pyfuse3.close(unmount=True)
        ops.destroy("/")
        if requests is not None:
            print("requests", json.dumps(dict(requests.most_common())), flush=True)


if __name__ == "__main__":
    sys.exit(main())
