"""The crash-safe index of the local cache: which paths are cached, in which file, dirty or not.

One sqlite database (``index.db``) in the cache directory, in WAL mode, next to a ``data/``
folder of files named by random ids. A path's row is written *before* its data is changed
(dirty first, then data), so a mount killed at any moment leaves every changed file marked
dirty, and the next mount uploads it. :meth:`CacheIndex.checkpoint` makes the index durable
on disk (``fsync`` of a file goes through it).

A row's ``generation`` grows with every change of the data: a writer that uploaded
generation *g* marks the row clean only if it is still *g*, so a change made during an
upload is uploaded again.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass

from oiofs.fs import paths

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    path TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    file TEXT NOT NULL,
    dirty INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    size INTEGER NOT NULL,
    modified REAL NOT NULL,
    updated REAL NOT NULL,
    accessed REAL NOT NULL,
    remote_modified REAL NOT NULL,
    in_store INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_parent ON entries (parent);
CREATE INDEX IF NOT EXISTS entries_dirty ON entries (dirty, modified);
"""

COLUMNS = ("path", "parent", "file", "dirty", "generation", "size", "modified", "updated",
           "accessed", "remote_modified", "in_store")


@dataclass
class Entry:
    """One cached path.

    ``modified``: last local change; ``updated``: last time the entry was known to match
    the store (download, upload or freshness check); ``remote_modified``: the store's
    modification time of the version the cache holds; ``in_store``: the store has some
    version of the path (so deleting or renaming must reach the store).
    """

    path: str
    parent: str
    file: str
    dirty: bool
    generation: int
    size: int
    modified: float
    updated: float
    accessed: float
    remote_modified: float
    in_store: bool


class CacheIndex:
    """The index and the data folder of one cache directory; thread-safe."""

    def __init__(self, cache_dir: str) -> None:
        self.cache_dir = os.path.abspath(cache_dir)
        self.data_dir = os.path.join(self.cache_dir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(os.path.join(self.cache_dir, "index.db"),
                                   check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives a killed process (the WAL is in the page cache); checkpoint()
        # makes it survive a power loss too, for fsync.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.total_size = self._scalar("SELECT COALESCE(SUM(size), 0) FROM entries")

    def _scalar(self, sql: str, args: tuple = ()) -> int:
        with self._lock:
            return self._db.execute(sql, args).fetchone()[0]

    def _rows(self, sql: str, args: tuple = ()) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(COLUMNS)} FROM entries {sql}",
                                    args).fetchall()
        return [Entry(*row) for row in rows]

    def data_path(self, entry: Entry) -> str:
        """The local file holding ``entry``'s data."""
        return os.path.join(self.data_dir, entry.file)

    def new_file(self) -> str:
        """A fresh data file name (not created)."""
        return uuid.uuid4().hex

    # --- queries -------------------------------------------------------------------

    def get(self, path: str) -> Entry | None:
        rows = self._rows("WHERE path = ?", (path,))
        return rows[0] if rows else None

    def children(self, directory: str) -> list[Entry]:
        """Cached entries directly inside ``directory``."""
        return self._rows("WHERE parent = ?", (directory,))

    def under(self, directory: str) -> list[Entry]:
        """Cached entries anywhere below ``directory``."""
        prefix = directory.rstrip("/") + "/"
        return self._rows("WHERE substr(path, 1, ?) = ?", (len(prefix), prefix))

    def dirty(self, modified_before: float | None = None, limit: int = -1) -> list[Entry]:
        """Dirty entries, oldest change first, changed before ``modified_before`` if given,
        at most ``limit`` of them (all when negative)."""
        if modified_before is None:
            return self._rows("WHERE dirty = 1 ORDER BY modified LIMIT ?", (limit,))
        return self._rows("WHERE dirty = 1 AND modified <= ? ORDER BY modified LIMIT ?",
                          (modified_before, limit))

    def dirty_groups(self, max_size: int) -> list[tuple[str, int, int, float]]:
        """Per directory, its dirty files of at most ``max_size`` bytes:
        (directory, count, total size, oldest change)."""
        with self._lock:
            return self._db.execute(
                "SELECT parent, COUNT(*), SUM(size), MIN(modified) FROM entries "
                "WHERE dirty = 1 AND size <= ? GROUP BY parent", (max_size,)).fetchall()

    def dirty_in(self, directory: str, max_size: int, limit: int) -> list[Entry]:
        """Dirty files of ``directory`` of at most ``max_size`` bytes, oldest first."""
        return self._rows("WHERE parent = ? AND dirty = 1 AND size <= ? ORDER BY modified "
                          "LIMIT ?", (directory, max_size, limit))

    def count_dirty(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM entries WHERE dirty = 1")

    def clean_lru(self, limit: int) -> list[Entry]:
        """Clean entries, least recently accessed first."""
        return self._rows("WHERE dirty = 0 ORDER BY accessed LIMIT ?", (limit,))

    def all(self) -> list[Entry]:
        return self._rows("")

    # --- changes -------------------------------------------------------------------

    def put(self, entry: Entry) -> None:
        """Insert or replace ``entry``; keeps :attr:`total_size` current."""
        with self._lock:
            old = self.get(entry.path)
            self._db.execute(
                f"INSERT OR REPLACE INTO entries ({', '.join(COLUMNS)}) VALUES "
                f"({', '.join('?' * len(COLUMNS))})",
                (entry.path, entry.parent, entry.file, int(entry.dirty), entry.generation,
                 entry.size, entry.modified, entry.updated, entry.accessed,
                 entry.remote_modified, int(entry.in_store)))
            self.total_size += entry.size - (old.size if old else 0)

    def new_entry(self, path: str, *, dirty: bool, size: int = 0,
                  remote_modified: float = 0.0, in_store: bool = False,
                  file: str | None = None) -> Entry:
        """A new row for ``path`` (not stored yet; pass it to :meth:`put`)."""
        now = time.time()
        return Entry(path=path, parent=paths.parent(path), file=file or self.new_file(),
                     dirty=dirty, generation=1, size=size, modified=now, updated=now,
                     accessed=now, remote_modified=remote_modified, in_store=in_store)

    def touch(self, path: str, **fields: object) -> None:
        """Set some columns of ``path``'s row."""
        if not fields:
            return
        sets = ", ".join(f"{name} = ?" for name in fields)
        with self._lock:
            old = self.get(path)
            self._db.execute(f"UPDATE entries SET {sets} WHERE path = ?",
                             (*fields.values(), path))
            if old is not None and "size" in fields:
                self.total_size += int(fields["size"]) - old.size  # type: ignore[call-overload]

    def mark_changed(self, path: str, size: int) -> None:
        """Record a local change of ``path``: dirty, next generation, new size, now."""
        with self._lock:
            old = self.get(path)
            if old is None:
                return
            self._db.execute(
                "UPDATE entries SET dirty = 1, generation = generation + 1, size = ?, "
                "modified = ?, accessed = ? WHERE path = ?",
                (size, time.time(), time.time(), path))
            self.total_size += size - old.size

    def mark_clean(self, path: str, generation: int, remote_modified: float) -> bool:
        """Mark ``path`` clean if its generation is still ``generation``; True if it was."""
        now = time.time()
        with self._lock:
            cur = self._db.execute(
                "UPDATE entries SET dirty = 0, updated = ?, remote_modified = ?, "
                "in_store = 1 WHERE path = ? AND generation = ?",
                (now, remote_modified, path, generation))
            return cur.rowcount == 1

    def rename(self, old: str, new: str, *, dirty: bool) -> None:
        """Move the row of ``old`` to ``new``, replacing ``new``'s row.

        ``dirty``: the data still has to be uploaded under the new name (the row's
        generation grows); otherwise the store already holds it there.
        """
        with self._lock:
            self.remove(new)
            self._db.execute(
                "UPDATE entries SET path = ?, parent = ?, dirty = ?, in_store = ?, "
                "generation = generation + 1 WHERE path = ?",
                (new, paths.parent(new), int(dirty), int(not dirty), old))

    def remove(self, path: str) -> Entry | None:
        """Drop ``path``'s row and its data file; returns the row that was there."""
        with self._lock:
            old = self.get(path)
            if old is None:
                return None
            self._db.execute("DELETE FROM entries WHERE path = ?", (path,))
            self.total_size -= old.size
        try:
            os.unlink(self.data_path(old))
        except FileNotFoundError:
            pass
        return old

    def checkpoint(self) -> None:
        """Make every committed change durable on disk (fsync of the WAL and database)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(FULL)")

    def remove_orphans(self) -> tuple[int, list[str]]:
        """Reconcile rows and files after a crash.

        Data files no row names are deleted (a write that died before its row was made);
        rows whose file is gone are dropped. Returns how many files were deleted and the
        paths of dirty rows that had lost their data (reported, never silent).
        """
        rows = self.all()
        named = {row.file for row in rows}
        removed = 0
        for name in os.listdir(self.data_dir):
            if name not in named:
                os.unlink(os.path.join(self.data_dir, name))
                removed += 1
        lost = []
        for row in rows:
            if not os.path.exists(self.data_path(row)):
                if row.dirty:
                    lost.append(row.path)
                with self._lock:
                    self._db.execute("DELETE FROM entries WHERE path = ?", (row.path,))
                    self.total_size -= row.size
        return removed, lost

    def close(self) -> None:
        with self._lock:
            self._db.close()
