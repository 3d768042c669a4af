"""Suffix-hash bookkeeping: which suffix directories of a partition changed.

The object replicator (next issue) compares, per partition, one hash per suffix directory
with its peers through the REPLICATE verb, and only syncs the suffixes that differ. Hashing
a suffix means listing every hash directory under it, so the hashes are cached in
``<partition>/hashes.json`` and recomputed only for suffixes known to have changed.

Every write to a hash directory (PUT, POST, DELETE, quarantine) records its suffix by
appending a line to ``<partition>/hashes.invalid`` while holding an exclusive ``flock`` on
that file. Whoever consolidates (the replicator, a REPLICATE request) takes the same flock,
reads the lines, marks those suffixes for rehashing in ``hashes.json``, and truncates the
file before releasing it: no invalidation can fall between the read and the truncate.
Locking the file itself costs one ``open`` per write instead of two (a separate lock file),
on the hot path of every PUT. Appends are not fsynced: a suffix lost in a crash is caught by
the replicator's periodic full rehash, and an fsync here would double the cost of a write.
"""

from __future__ import annotations

import fcntl
import os

HASHES_FILE = "hashes.json"
HASHES_INVALID = "hashes.invalid"


def invalidate_hash(suffix_dir: str) -> None:
    """Record that ``suffix_dir`` (``.../<partition>/<suffix>``) changed."""
    partition_dir, suffix = os.path.split(suffix_dir)
    fd = os.open(os.path.join(partition_dir, HASHES_INVALID),
                 os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        # held for microseconds by consolidation: waiting for it is cheaper than retrying
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (suffix + "\n").encode("ascii"))
    finally:
        os.close(fd)  # releases the lock


def consolidate_invalidations(partition_dir: str) -> list[str]:
    """Take the recorded suffixes out of ``hashes.invalid``: distinct, in first-seen order.

    The caller folds them into ``hashes.json``; if it crashes before, the suffixes are
    lost to this cache only, and the next full rehash finds them.
    """
    path = os.path.join(partition_dir, HASHES_INVALID)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        chunks = []
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            chunks.append(data)
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
    seen: dict[str, None] = {}
    for line in b"".join(chunks).decode("ascii", "replace").splitlines():
        if line.strip():
            seen.setdefault(line.strip(), None)
    return list(seen)
