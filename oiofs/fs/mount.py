"""``oiofs-mount``: mount a container (or a local directory) as a filesystem through FUSE.

    oiofs-mount AUTH_URL CONTAINER MOUNTPOINT [--cache-dir D] [--cache-size MB] [--foreground]
    oiofs-mount --local DIR MOUNTPOINT [...]

Without ``--foreground`` the command starts the mount in a new session, waits until the
mountpoint is mounted and returns. ``fusermount3 -u MOUNTPOINT`` unmounts: the mount
process then uploads every dirty file before it exits (``--foreground`` returns at that
point). A mount that was killed leaves its dirty files in the cache directory; the next
mount over the same cache directory uploads them.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import time

from oiofs.fs.caching_store import CachingStore
from oiofs.fs.chunking_store import ChunkingStore
from oiofs.fs.store import Store

MOUNT_WAIT = 30.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="oiofs-mount", description="Mount an oiofs container through FUSE.")
    parser.add_argument("target", nargs="+",
                        help="AUTH_URL CONTAINER MOUNTPOINT, or MOUNTPOINT with --local")
    parser.add_argument("--local", metavar="DIR", help="serve a local directory instead")
    parser.add_argument("--user", default=None, help="user (OIOFS_USER or ST_USER)")
    parser.add_argument("--key", default=None, help="key (OIOFS_KEY or ST_KEY)")
    parser.add_argument("--cache-dir", default=None,
                        help="cache directory (default: ~/.cache/oiofs/<hash of target>)")
    parser.add_argument("--cache-size", type=float, default=2000.0, metavar="MB",
                        help="soft cache size limit in MB (hard limit: twice it)")
    parser.add_argument("--cache-expiration", type=float, default=30.0, metavar="S",
                        help="seconds before a clean cached file is checked again")
    parser.add_argument("--upload-delay", type=float, default=1.0, metavar="S",
                        help="seconds a dirty file is left alone before upload")
    parser.add_argument("--max-upload-delay", type=float, default=30.0, metavar="S",
                        help="while files are being written, only files left alone this "
                             "long are uploaded (the rest once writing pauses)")
    parser.add_argument("--listing-ttl", type=float, default=10.0, metavar="S",
                        help="seconds a directory listing is trusted")
    parser.add_argument("--attr-timeout", type=float, default=1.0, metavar="S",
                        help="seconds the kernel caches attributes and names")
    parser.add_argument("--writers", type=int, default=8, help="max writer threads")
    parser.add_argument("--unmount-timeout", type=float, default=600.0, metavar="S",
                        help="at unmount, give up uploading after S seconds (the files "
                             "stay in the cache for the next mount)")
    parser.add_argument("--chunking", action="store_true",
                        help="pack small files of a directory into tar chunks (docs/fs.md)")
    parser.add_argument("--foreground", "-f", action="store_true")
    parser.add_argument("--debug", action="store_true", help="log every FUSE call")
    args = parser.parse_intermixed_args(argv)
    want = 1 if args.local else 3
    if len(args.target) != want:
        parser.error("expected MOUNTPOINT with --local, else AUTH_URL CONTAINER MOUNTPOINT")
    return args


def make_store(args: argparse.Namespace) -> Store:
    """The wrapped store the arguments name."""
    if args.local:
        from oiofs.fs.local_store import LocalStore

        return LocalStore(args.local)
    from oiofs.client import Connection
    from oiofs.fs.object_store import ObjectStore

    auth_url, container = args.target[0], args.target[1]
    user = args.user or os.environ.get("OIOFS_USER") or os.environ.get("ST_USER")
    key = args.key or os.environ.get("OIOFS_KEY") or os.environ.get("ST_KEY")
    if not (user and key):
        raise SystemExit("oiofs-mount: give --user and --key (or OIOFS_USER/OIOFS_KEY)")
    return ObjectStore(Connection(auth_url, user, key), container)


def default_cache_dir(args: argparse.Namespace) -> str:
    source = args.local or "/".join(args.target[:2])
    digest = hashlib.sha256(os.path.abspath(source).encode()
                            if args.local else source.encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "oiofs", digest)


def run_foreground(args: argparse.Namespace) -> int:
    from oiofs.fs.fuse_ops import OiofsOperations
    from oiofs.fs.fuse_threads import KeptStateFUSE

    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="oiofs-mount %(levelname)s %(message)s")
    mountpoint = args.target[-1]
    kind = ChunkingStore if args.chunking else CachingStore
    cache = kind(make_store(args), args.cache_dir or default_cache_dir(args),
                 cache_expiration=args.cache_expiration, upload_delay=args.upload_delay,
                 max_upload_delay=args.max_upload_delay,
                 cache_size_mb=args.cache_size, max_writer_threads=args.writers,
                 listing_ttl=args.listing_ttl)
    ops = OiofsOperations(cache, args.unmount_timeout)
    KeptStateFUSE(ops, mountpoint, foreground=True, raw_fi=True, fsname="oiofs",
                  attr_timeout=args.attr_timeout, entry_timeout=args.attr_timeout,
                  negative_timeout=0)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mountpoint = os.path.abspath(args.target[-1])
    if not os.path.isdir(mountpoint):
        print(f"oiofs-mount: {mountpoint} is not a directory", file=sys.stderr)
        return 2
    if args.foreground:
        return run_foreground(args)
    # Background: the same command in the foreground, in its own session; return once the
    # mount is there (or report why it is not). Forking after threads start is unsafe, so
    # no daemonizing inside the process.
    argv = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--foreground"]
    child = subprocess.Popen([sys.executable, "-m", "oiofs.fs.mount", "--foreground", *argv],
                             start_new_session=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + MOUNT_WAIT
    while time.monotonic() < deadline:
        if os.path.ismount(mountpoint):
            print(f"oiofs-mount: mounted on {mountpoint} (pid {child.pid})")
            return 0
        if child.poll() is not None:
            print(f"oiofs-mount: the mount exited with status {child.returncode}",
                  file=sys.stderr)
            return 1
        time.sleep(0.1)
    print(f"oiofs-mount: {mountpoint} not mounted after {MOUNT_WAIT:.0f}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
