"""Object file names in a hash directory, and which of them describe the object.

A hash directory holds files named ``<timestamp>.<ext>``, the timestamp in its internal form
(fixed width, so names sort as text in time order):

* ``.data`` - the object's body and its metadata (one PUT);
* ``.meta`` - metadata only (one POST), applies to a ``.data`` older than itself;
* ``.ts``   - a tombstone (one DELETE).

The newest ``.data`` or ``.ts`` decides whether the object exists (a tombstone wins over a
``.data`` of the same timestamp); the newest ``.meta`` newer than it carries the current user
metadata. Everything older than what was chosen is obsolete and is unlinked after each
write (:func:`cleanup_ondisk_files`). A ``.meta`` newer than a tombstone is kept: it may
belong to a newer ``.data`` that replication has not brought yet.

Names that do not look like ours are left alone.
"""

from __future__ import annotations

import os
from typing import NamedTuple

DATA = ".data"
META = ".meta"
TOMBSTONE = ".ts"
EXTENSIONS = (DATA, META, TOMBSTONE)


def filename(timestamp_internal: str, ext: str) -> str:
    """The file name for a timestamp (internal form) and an extension (``.data``...)."""
    return timestamp_internal + ext


def split_filename(name: str) -> tuple[str, str] | None:
    """``('1700000000.00000', '.data')`` for an object file name, ``None`` for others."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return None
    ext = "." + ext
    # "1700000000.00000.data": the stem itself holds one dot (the timestamp's)
    if ext not in EXTENSIONS or len(stem) < 16 or stem[10:11] != ".":
        return None
    return stem, ext


class OnDiskFiles(NamedTuple):
    """What a hash directory listing says about an object.

    ``data``/``meta``/``tombstone`` are file names (or ``None``); at most one of ``data`` and
    ``tombstone`` is set. ``obsolete`` lists the names that can be unlinked.
    ``newest`` is the newest timestamp among the three chosen files (internal form), used
    to refuse writes that are not newer than what is stored.
    """

    data: str | None
    meta: str | None
    tombstone: str | None
    obsolete: list[str]

    @property
    def data_or_ts_timestamp(self) -> str | None:
        """The timestamp of the chosen ``.data`` or ``.ts`` (internal form), or ``None``."""
        chosen = self.data or self.tombstone
        return chosen.rpartition(".")[0] if chosen else None

    @property
    def meta_timestamp(self) -> str | None:
        """The timestamp of the chosen ``.meta``, or ``None``."""
        return self.meta.rpartition(".")[0] if self.meta else None

    @property
    def newest(self) -> str | None:
        """The newest timestamp of the chosen files (internal form), or ``None``."""
        return self.meta_timestamp or self.data_or_ts_timestamp


def select_files(names: list[str]) -> OnDiskFiles:
    """Choose the files that describe the object among a hash directory's ``names``."""
    parsed = []
    for name in names:
        split = split_filename(name)
        if split is not None:
            parsed.append((split[0], split[1], name))
    # newest first; for one timestamp, ".ts" sorts before ".meta" before ".data", so a
    # tombstone wins over a .data of the same time and a .meta needs to be strictly newer.
    parsed.sort(reverse=True)
    data = meta = tombstone = None
    obsolete: list[str] = []
    for stem, ext, name in parsed:
        if data or tombstone:
            obsolete.append(name)
        elif ext == META:
            if meta is None:
                meta = name
            else:
                obsolete.append(name)
        else:
            if ext == DATA:
                data = name
            else:
                tombstone = name
            if meta is not None and meta.startswith(stem + "."):
                obsolete.append(meta)  # a .meta applies only to an older .data
                meta = None
    return OnDiskFiles(data, meta, tombstone, obsolete)


def list_hash_dir(hash_dir: str) -> list[str]:
    """The names in ``hash_dir``; ``[]`` if it does not exist."""
    try:
        return os.listdir(hash_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []


def cleanup_ondisk_files(hash_dir: str) -> OnDiskFiles:
    """Unlink the obsolete files of ``hash_dir`` and return what remains chosen.

    Unlinks are not fsynced: if a crash brings an obsolete file back it is still obsolete,
    and the next write or the replicator removes it again.
    """
    files = select_files(list_hash_dir(hash_dir))
    for name in files.obsolete:
        try:
            os.unlink(os.path.join(hash_dir, name))
        except FileNotFoundError:
            pass
    if files.obsolete:
        files = files._replace(obsolete=[])
    return files
