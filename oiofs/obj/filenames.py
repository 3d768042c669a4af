"""Object file names in a hash directory, and which of them describe the object.

A hash directory holds files named ``<timestamp>.<ext>``, the timestamp in its internal form
(fixed width, so names sort as text in time order):

* ``.data`` - the object's body and its metadata (one PUT);
* ``.meta`` - metadata only (one POST), applies to a ``.data`` older than itself;
* ``.ts``   - a tombstone (one DELETE).

Erasure-coded policies store one fragment archive per node, named with its fragment index
and, once the proxy committed the write, a durable mark (``docs/erasure-coding.md``):

* ``<timestamp>#<frag index>.data``   - an archive written but not committed yet;
* ``<timestamp>#<frag index>#d.data`` - a durable archive (the commit renamed it).

A non-durable archive never describes the object: it is kept while it is newer than what
does (its commit may still come), and is obsolete once something as new is chosen.
Durable archives of other fragment indexes at the chosen timestamp (a handoff may hold
several) are kept too, in ``OnDiskFiles.others``.

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
#: the mark of a committed fragment archive, after its fragment index
DURABLE = "d"


def filename(timestamp_internal: str, ext: str, frag_index: int | None = None,
             durable: bool = False) -> str:
    """The file name for a timestamp (internal form) and an extension (``.data``...);
    with a ``frag_index``, the name of a fragment archive (durable or not).

    >>> filename("1700000000.00000", ".data", 3, durable=True)
    '1700000000.00000#3#d.data'
    """
    if frag_index is None:
        return timestamp_internal + ext
    mark = "#" + DURABLE if durable else ""
    return f"{timestamp_internal}#{frag_index}{mark}{ext}"


class FileName(NamedTuple):
    """An object file name taken apart: timestamp, extension, fragment index (``None``
    for a replicated object's file) and whether it is durable (always for those)."""

    timestamp: str
    ext: str
    frag_index: int | None
    durable: bool


def parse_filename(name: str) -> FileName | None:
    """The parts of an object file name, ``None`` for names that are not ours.

    >>> parse_filename("1700000000.00000#3.data")
    FileName(timestamp='1700000000.00000', ext='.data', frag_index=3, durable=False)
    """
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return None
    ext = "." + ext
    frag_index, durable = None, True
    if "#" in stem:
        if ext != DATA:
            return None
        stem, _, frag = stem.partition("#")
        index, _, mark = frag.partition("#")
        if not index.isdigit() or not index.isascii() or mark not in ("", DURABLE):
            return None
        frag_index, durable = int(index), mark == DURABLE
    # "1700000000.00000.data": the stem itself holds one dot (the timestamp's)
    if ext not in EXTENSIONS or len(stem) < 16 or stem[10:11] != ".":
        return None
    return FileName(stem, ext, frag_index, durable)


def split_filename(name: str) -> tuple[str, str] | None:
    """``('1700000000.00000', '.data')`` for an object file name, ``None`` for others."""
    parsed = parse_filename(name)
    return None if parsed is None else (parsed.timestamp, parsed.ext)


def timestamp_of(name: str) -> str:
    """The timestamp (internal form) of an object file name already known to be ours."""
    return name.partition("#")[0] if "#" in name else name.rpartition(".")[0]


class OnDiskFiles(NamedTuple):
    """What a hash directory listing says about an object.

    ``data``/``meta``/``tombstone`` are file names (or ``None``); at most one of ``data`` and
    ``tombstone`` is set. ``obsolete`` lists the names that can be unlinked.
    ``newest`` is the newest timestamp among the three chosen files (internal form), used
    to refuse writes that are not newer than what is stored. ``others`` are fragment
    archives kept beside them (module docstring).
    """

    data: str | None
    meta: str | None
    tombstone: str | None
    obsolete: list[str]
    others: tuple[str, ...] = ()

    @property
    def data_or_ts_timestamp(self) -> str | None:
        """The timestamp of the chosen ``.data`` or ``.ts`` (internal form), or ``None``."""
        chosen = self.data or self.tombstone
        return timestamp_of(chosen) if chosen else None

    @property
    def meta_timestamp(self) -> str | None:
        """The timestamp of the chosen ``.meta``, or ``None``."""
        return self.meta.rpartition(".")[0] if self.meta else None

    @property
    def frag_index(self) -> int | None:
        """The fragment index of the chosen ``.data`` (``None``: not an archive)."""
        parsed = parse_filename(self.data) if self.data else None
        return parsed.frag_index if parsed else None

    @property
    def newest(self) -> str | None:
        """The newest timestamp of the chosen files (internal form), or ``None``."""
        return self.meta_timestamp or self.data_or_ts_timestamp

    @property
    def names(self) -> list[str]:
        """Every name of ours the listing held (chosen, obsolete and kept beside)."""
        chosen = [name for name in (self.data, self.meta, self.tombstone) if name]
        return [*chosen, *self.obsolete, *self.others]


def select_files(names: list[str]) -> OnDiskFiles:
    """Choose the files that describe the object among a hash directory's ``names``."""
    parsed = []
    pending: list[tuple[str, str]] = []  # non-durable archives: (timestamp, name)
    for name in names:
        split = parse_filename(name)
        if split is None:
            continue
        if split.durable:
            parsed.append((split.timestamp, split.ext, name))
        else:
            pending.append((split.timestamp, name))
    # newest first; for one timestamp, ".ts" sorts before ".meta" before ".data", so a
    # tombstone wins over a .data of the same time and a .meta needs to be strictly newer.
    parsed.sort(reverse=True)
    data = meta = tombstone = None
    obsolete: list[str] = []
    others: list[str] = []
    for stem, ext, name in parsed:
        if data and ext == DATA and "#" in name and timestamp_of(data) == stem:
            others.append(name)  # another fragment index of the same write
        elif data or tombstone:
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
    chosen = data or tombstone
    floor = timestamp_of(chosen) if chosen else ""
    for stem, name in pending:  # a commit may still come for what is newer than the chosen
        (others if stem > floor else obsolete).append(name)
    return OnDiskFiles(data, meta, tombstone, obsolete, tuple(others))


def durable_archives(files: OnDiskFiles) -> dict[int, str]:
    """``{fragment index: file name}`` of the durable archives of the chosen write.

    >>> durable_archives(select_files(
    ...     ["1700000000.00000#1#d.data", "1700000000.00000#4#d.data"]))
    {1: '1700000000.00000#1#d.data', 4: '1700000000.00000#4#d.data'}
    """
    if not files.data:
        return {}
    stamp = timestamp_of(files.data)
    found = {}
    for name in (files.data, *files.others):
        parsed = parse_filename(name)
        if parsed and parsed.durable and parsed.frag_index is not None and \
                parsed.timestamp == stamp:
            found[parsed.frag_index] = name
    return dict(sorted(found.items()))


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
    return _unlink_obsolete(hash_dir, select_files(list_hash_dir(hash_dir)))


def cleanup_after_write(hash_dir: str, before: OnDiskFiles | None,
                        written: str) -> OnDiskFiles:
    """:func:`cleanup_ondisk_files` after the file ``written`` was renamed into
    ``hash_dir``, without listing the directory again when ``before`` is the listing the
    writer made before its write (``None``: list it).

    Safe with concurrent writers: a file is obsolete once a newer one is on disk, and
    files unknown to ``before`` can only make more files obsolete, never fewer, so what
    is unlinked here is obsolete on disk too. What a concurrent writer added after
    ``before`` is not looked at: an obsolete file it leaves is removed by the next write
    of the object or by the replicator's suffix hashing, as after a crash.
    """
    if before is None:
        return cleanup_ondisk_files(hash_dir)
    return _unlink_obsolete(hash_dir, select_files([written, *before.names]))


def _unlink_obsolete(hash_dir: str, files: OnDiskFiles) -> OnDiskFiles:
    for name in files.obsolete:
        try:
            os.unlink(os.path.join(hash_dir, name))
        except FileNotFoundError:
            pass
    if files.obsolete:
        files = files._replace(obsolete=[])
    return files
