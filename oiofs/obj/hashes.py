"""Suffix-hash bookkeeping: which suffix directories of a partition changed.

The object replicator (:mod:`oiofs.obj.replicator`) compares, per partition, one hash per
suffix directory with its peers through the REPLICATE verb, and only syncs the suffixes
that differ. Hashing a suffix means listing every hash directory under it, so the hashes
are cached in ``<partition>/hashes.json`` and recomputed only for suffixes known to have
changed.

Every write to a hash directory (PUT, POST, DELETE, quarantine) records its suffix by
appending a line to ``<partition>/hashes.invalid`` while holding an exclusive ``flock`` on
that file. Whoever consolidates (the replicator, a REPLICATE request) takes the same flock,
reads the lines, marks those suffixes for rehashing in ``hashes.json``, and truncates the
file before releasing it: no invalidation can fall between the read and the truncate.
Locking the file itself costs one ``open`` per write instead of two (a separate lock file),
on the hot path of every PUT. Appends are not fsynced: a suffix lost in a crash is caught by
the replicator's periodic full rehash, and an fsync here would double the cost of a write.

:func:`get_hashes` is the reader side (the REPLICATE verb and the replicator): under the
partition's ``.lock`` it folds the recorded invalidations into ``hashes.json``, rehashes
those suffixes (and any asked for), and answers ``{suffix: hash}``. A suffix hash is the
MD5 of the names of the files that describe each object of the suffix (see
:func:`listing_hash`), after obsolete files are unlinked and tombstones older than
``reclaim_age`` are reclaimed (:func:`suffix_listing`). ``hashes.json`` is a cache: it is
replaced by rename but not fsynced, and a missing or unreadable one is rebuilt by rehashing
every suffix of the partition.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import time
from typing import NamedTuple

from oiofs.common.fsutils import lock_path
from oiofs.common.hashing import md5
from oiofs.obj import filenames

HASHES_FILE = "hashes.json"
HASHES_INVALID = "hashes.invalid"


def invalidate_hash(suffix_dir: str) -> None:
    """Record that ``suffix_dir`` (``.../<partition>/<suffix>``) changed."""
    partition_dir, _, suffix = suffix_dir.rpartition("/")
    fd = os.open(f"{partition_dir}/{HASHES_INVALID}",
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


# --- suffix hashes ----------------------------------------------------------------------

#: tombstones (and orphan ``.meta`` files) older than this are removed while hashing
DEFAULT_RECLAIM_AGE = 7 * 24 * 3600
#: an empty hash or suffix directory younger than this is left alone: a writer may have
#: just made it and be about to rename its file into it
EMPTY_DIR_GRACE = 60.0
PARTITION_LOCK = ".lock"
_HEX = frozenset("0123456789abcdef")


def is_suffix(name: str) -> bool:
    """True for a suffix directory name: three lower-case hex digits."""
    return len(name) == 3 and _HEX.issuperset(name)


def is_hash(name: str) -> bool:
    """True for a hash directory name: 32 lower-case hex digits."""
    return len(name) == 32 and _HEX.issuperset(name)


def _stamp(name: str) -> float:
    # "1700000000.00000_000000000000000a.ts": the seconds are the first 16 characters
    return float(name[:16])


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _rmdir_if_stale(path: str, now: float, emptied: bool) -> bool:
    """Remove an empty directory we emptied ourselves, or one empty for a while."""
    try:
        if not emptied and now - os.stat(path).st_mtime < EMPTY_DIR_GRACE:
            return False
        os.rmdir(path)
        return True
    except OSError:  # not empty (a writer got there), or gone already
        return False


def reclaim_hash_dir(hash_dir: str, reclaim_age: float, now: float
                     ) -> filenames.OnDiskFiles | None:
    """Clean up ``hash_dir`` and reclaim what is older than ``reclaim_age``.

    Obsolete files are unlinked; a tombstone older than ``reclaim_age`` is unlinked (every
    replica had that long to learn of the delete), and so is a ``.meta`` that describes no
    ``.data`` and is as old. Returns the files that still describe the object, or ``None``
    when none is left (the directory is then removed if it is empty).
    """
    files = filenames.cleanup_ondisk_files(hash_dir)
    cutoff = now - reclaim_age
    emptied = False
    if files.tombstone and _stamp(files.tombstone) < cutoff:
        _unlink(os.path.join(hash_dir, files.tombstone))
        files = files._replace(tombstone=None)
        emptied = True
    if files.meta and not files.data and _stamp(files.meta) < cutoff:
        _unlink(os.path.join(hash_dir, files.meta))
        files = files._replace(meta=None)
        emptied = True
    kept = []
    for name in files.others:  # a write whose commit never came, long ago
        parsed = filenames.parse_filename(name)
        if parsed is not None and not parsed.durable and _stamp(name) < cutoff:
            _unlink(os.path.join(hash_dir, name))
            emptied = True
        else:
            kept.append(name)
    files = files._replace(others=tuple(kept))
    if files.data or files.tombstone or files.meta or files.others:
        return files
    _rmdir_if_stale(hash_dir, now, emptied)
    return None


def suffix_listing(suffix_dir: str, reclaim_age: float = DEFAULT_RECLAIM_AGE,
                   now: float | None = None) -> dict[str, filenames.OnDiskFiles]:
    """``{hash: files}`` for every object of a suffix directory, after cleanup and reclaim.

    This is what the suffix hash is computed from, and what the replicator compares with
    a peer's inventory. A missing suffix directory gives ``{}``; an empty one is removed.
    """
    now = time.time() if now is None else now
    try:
        names = os.listdir(suffix_dir)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    listing = {}
    emptied = False
    for name in names:
        if not is_hash(name):
            continue
        files = reclaim_hash_dir(os.path.join(suffix_dir, name), reclaim_age, now)
        if files is None:
            emptied = True
        else:
            listing[name] = files
    if not listing:
        _rmdir_if_stale(suffix_dir, now, emptied)
    return listing


def listing_hash(listing: dict[str, filenames.OnDiskFiles]) -> str | None:
    """The suffix hash of a :func:`suffix_listing`: MD5 over each object's chosen file
    names, objects in hash order; ``None`` for an empty suffix.

    Two replicas of a suffix have the same hash exactly when they hold the same newest
    ``.data``/``.ts`` and ``.meta`` of the same objects; for erasure-coded archives, of
    the same writes, durable, whatever fragment index each holds.

    >>> from oiofs.obj.filenames import select_files
    >>> a = {"0" * 32: select_files(["1700000000.00000#1#d.data"])}
    >>> b = {"0" * 32: select_files(["1700000000.00000#4#d.data"])}
    >>> listing_hash(a) == listing_hash(b)
    True
    """
    if not listing:
        return None
    digest = md5()
    for name in sorted(listing):
        files = listing[name]
        digest.update(f"{name} {_without_frag_index(files.data or files.tombstone or '-')} "
                      f"{files.meta or '-'}\n".encode("ascii"))
    return digest.hexdigest()


def _without_frag_index(name: str) -> str:
    """A fragment archive's name with its index left out (``<ts>#d.data``): the object
    reconstructor compares the hashes of nodes holding different indexes of the same
    writes, which must then be equal (which index a node holds is in its inventory)."""
    if "#" not in name:
        return name
    stamp, _, rest = name.partition("#")
    return f"{stamp}#{rest.partition('#')[2]}" if "#" in rest else f"{stamp}#.data"


def hash_suffix(suffix_dir: str, reclaim_age: float = DEFAULT_RECLAIM_AGE,
                now: float | None = None) -> str | None:
    """The hash of a suffix directory now (``None`` if it holds no object)."""
    return listing_hash(suffix_listing(suffix_dir, reclaim_age, now))


class Hashes(NamedTuple):
    """What :func:`get_hashes` found: ``{suffix: hash}`` and how many suffixes it hashed."""

    hashes: dict[str, str]
    hashed: int


def _read_hashes_file(path: str) -> dict | None:
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("hashes"), dict) or \
            not isinstance(data.get("full"), (int, float)):
        return None
    return data


def _write_hashes_file(path: str, data: dict) -> None:
    # A cache: rename for atomicity, no fsync. A torn or lost file only costs a rehash.
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle, separators=(",", ":"))
    os.replace(tmp, path)


def get_hashes(partition_dir: str, recalculate=(), reclaim_age: float = DEFAULT_RECLAIM_AGE,
               full_rehash_interval: float | None = None, lock_timeout: float = 10.0,
               now: float | None = None) -> Hashes:
    """``{suffix: hash}`` of a partition, up to date with every recorded write.

    Rehashes the suffixes invalidated since the last call, those in ``recalculate``, and
    every suffix when ``hashes.json`` is missing or unreadable or its last full rehash is
    older than ``full_rehash_interval`` seconds (that catches invalidations lost in a
    crash; each partition's interval is jittered by up to 10% so they do not all come due
    at once). When nothing changed this reads two small files and hashes nothing.

    A missing partition directory gives an empty answer (and is not created). Raises
    :class:`~oiofs.common.exceptions.LockTimeout` if another caller holds the partition
    longer than ``lock_timeout``.
    """
    if not os.path.isdir(partition_dir):
        return Hashes({}, 0)
    now = time.time() if now is None else now
    path = os.path.join(partition_dir, HASHES_FILE)
    with lock_path(partition_dir, timeout=lock_timeout, name=PARTITION_LOCK):
        stored = _read_hashes_file(path)
        full = stored is None or (full_rehash_interval is not None and
                                  now - stored["full"] >= full_rehash_interval)
        hashes: dict[str, str | None] = {} if stored is None else dict(stored["hashes"])
        changed = False
        for suffix in [*consolidate_invalidations(partition_dir), *recalculate]:
            if is_suffix(suffix) and hashes.get(suffix, "") is not None:
                hashes[suffix] = None
                changed = True
        if full:
            hashes = {name: None for name in os.listdir(partition_dir) if is_suffix(name)}
            changed = True
        hashed = 0
        for suffix, value in list(hashes.items()):
            if value is not None:
                continue
            result = hash_suffix(os.path.join(partition_dir, suffix), reclaim_age, now)
            hashed += 1
            if result is None:
                del hashes[suffix]
            else:
                hashes[suffix] = result
        if changed:
            jitter = random.random() * 0.1 * (full_rehash_interval or 0)
            _write_hashes_file(path, {
                "full": now - jitter if full or stored is None else stored["full"],
                "hashes": hashes})
    # every suffix left was just hashed: no None remains
    return Hashes({suffix: value for suffix, value in hashes.items() if value is not None},
                  hashed)
