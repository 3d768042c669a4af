"""The crash-safe index of the local cache: which paths are cached, in which file, dirty or not.

One sqlite database (``index.db``) in the cache directory, in WAL mode, next to a ``data/``
folder of files named by random ids. A path's row is written *before* its data is changed
(dirty first, then data), so a mount killed at any moment leaves every changed file marked
dirty, and the next mount uploads it. :meth:`CacheIndex.checkpoint` makes the index
durable on disk (``fsync`` of a file goes through it).

Rows are also kept in memory (a dict mirror of the table, loaded when the index opens and
changed together with it), so a lookup by path, the most frequent call of a mount (every
``getattr``, ``create`` and ``release``), costs no query; only changes reach sqlite. The
mirror costs a few hundred bytes per cached path.

Small files written through the mount keep their data *inline*, in the row itself (``file``
is empty, the bytes are in the ``data`` column): creating a file on the cache's disk costs
more than the rest of a small write together, and one row holds everything. Whoever needs
a real file for an inline row gets one from :meth:`CacheIndex.data_path` (written out once,
same content); uploads read either kind through :meth:`CacheIndex.open_data`.

The row of a file being created waits in memory (:meth:`CacheIndex.put` with
``commit=False``); when the file is closed, its row and data are appended to the close
log (:mod:`oiofs.fs.close_log`, one ``write``: a killed process keeps it) and reach sqlite
in one transaction with the others at the next statement on the index that needs them, or
when the heartbeat finds the log past :data:`MAX_KEPT_BYTES` or :data:`MAX_KEPT_ROWS`
(:meth:`CacheIndex.write_logged`); meanwhile the data is read from the log, not kept in
memory. The heartbeat's query for files old enough to upload
does not need rows newer than its cutoff, so while files are being written (uploads held
back) nothing reaches sqlite: a transaction holds the index's lock, and every ``create``
and ``close`` of the writing program waits for it. A new index replays what a killed
process left in the log. sqlite's checkpoints (copying the WAL into the database, with two
``fsync``) run in the heartbeat on a connection of their own
(:meth:`CacheIndex.checkpoint_some`), never inside a ``close()``.

A row's ``generation`` grows with every change of the data: a writer that uploaded
generation *g* marks the row clean only if it is still *g*, so a change made during an
upload is uploaded again.
"""

from __future__ import annotations

import copy
import io
import math
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from typing import BinaryIO

from oiofs.fs import paths
from oiofs.fs.close_log import CloseLog

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
    in_store INTEGER NOT NULL,
    data BLOB
);
CREATE INDEX IF NOT EXISTS entries_parent ON entries (parent);
CREATE INDEX IF NOT EXISTS entries_dirty ON entries (dirty, modified);
"""

#: ``Entry.file`` of a row whose data is inline (in the index, not in a file)
INLINE = ""
#: ``Entry.file`` of a directory made locally and not in the wrapped store yet (no data;
#: never a data file's name, which is hexadecimal)
DIRECTORY = "<dir>"

#: sqlite's own checkpoint, a backstop when no heartbeat runs (about 40 MB of WAL)
AUTOCHECKPOINT_PAGES = 10000

#: closed new files kept in the close log (their rows in memory, their data in the log's
#: pages) before the heartbeat moves them into sqlite: at most this many bytes of log...
MAX_KEPT_BYTES = 256 << 20
#: ...and this many rows (a few hundred bytes of memory each)
MAX_KEPT_ROWS = 50_000

COLUMNS = ("path", "parent", "file", "dirty", "generation", "size", "modified", "updated",
           "accessed", "remote_modified", "in_store")


INSERT = (f"INSERT OR REPLACE INTO entries ({', '.join(COLUMNS)}, data) VALUES "
          f"({', '.join('?' * (len(COLUMNS) + 1))})")


def _values(entry: Entry, data: bytes | None) -> tuple:
    """The parameters of :data:`INSERT` for ``entry`` and its inline ``data``."""
    return (entry.path, entry.parent, entry.file, int(entry.dirty), entry.generation,
            entry.size, entry.modified, entry.updated, entry.accessed,
            entry.remote_modified, int(entry.in_store), data)


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


def is_directory(entry: Entry | None) -> bool:
    """Is ``entry`` a directory waiting to be made in the wrapped store? (``None``, no
    entry at all: no.)"""
    return entry is not None and entry.file == DIRECTORY


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
        if "data" not in {row[1] for row in self._db.execute("PRAGMA table_info(entries)")}:
            self._db.execute("ALTER TABLE entries ADD COLUMN data BLOB")  # older cache dirs
        # Checkpoints run in the heartbeat (checkpoint_some), on a connection of their
        # own: sqlite's automatic one would fsync inside a file's close(). The automatic
        # one stays as a backstop for a process with no heartbeat, past ~40 MB.
        self._db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        self._checkpointer: sqlite3.Connection | None = None
        self._commits = 0               # commits since the last checkpoint_some
        self._last_checkpoint = time.monotonic()
        self._pending: dict[str, Entry] = {}   # rows of new files, not in sqlite yet
        # Rows of new files closed, in the close log and not in sqlite yet, with where
        # their data is in the log (offset, length).
        self._logged: dict[str, tuple[Entry, int, int]] = {}
        self._kept_since = math.inf     # no row kept in memory changed before this
        self._log = CloseLog(os.path.join(self.cache_dir, "closes.log"))
        if not self._log.empty:
            self._replay_log()
        self._entries: dict[str, Entry] = {row.path: row for row in self._rows("")}
        self.total_size = sum(row.size for row in self._entries.values())

    def _replay_log(self) -> None:
        """Write the rows of a close log a killed process left into sqlite (a row
        already there with a later generation wins: a log that outlived a power loss)."""
        with self._lock:
            self._db.execute("BEGIN")
            for fields, data in self._log.records():
                entry = Entry(*fields)
                row = self._db.execute("SELECT generation FROM entries WHERE path = ?",
                                       (entry.path,)).fetchone()
                if row is None or row[0] < entry.generation:
                    self._insert(entry, data)
            self._commit()
            self._log.clear(sync=True)

    def _execute(self, sql: str, args: tuple = (),
                 modified_before: float | None = None) -> sqlite3.Cursor:
        """Run ``sql`` on the index (lock held), the rows kept in memory written first
        so that it sees and changes them like any other; ``modified_before``: ``sql``
        reads only rows changed before that time, so rows kept in memory, all changed
        since, need not be written (none has an older version in sqlite)."""
        if (self._pending or self._logged) and (modified_before is None
                                                or self._kept_since <= modified_before):
            self._write_rows()
        return self._db.execute(sql, args)

    def _write_rows(self) -> None:
        """Write the rows of new files (open ones, and closed ones from the close log)
        into sqlite, one transaction, then empty the close log."""
        self._commit()
        self._db.execute("BEGIN")
        self._db.executemany(INSERT, [_values(entry, None) for entry in self._pending.values()])
        read = self._log.read
        self._db.executemany(INSERT, [_values(e, read(offset, length))
                                      for e, offset, length in self._logged.values()])
        self._commit()
        self._commits += len(self._logged)   # a big move: checkpoint soon (heartbeat)
        self._pending.clear()
        self._logged.clear()
        self._kept_since = math.inf
        self._log.clear()

    def write_logged(self, max_bytes: int = 0, max_rows: int = 0) -> bool:
        """Move the closed files' rows from the close log into sqlite when the log holds
        more than ``max_bytes`` or ``max_rows`` (the heartbeat's bounds:
        :data:`MAX_KEPT_BYTES`, :data:`MAX_KEPT_ROWS`; 0: always); True when it did."""
        with self._lock:
            if not self._logged or (self._log.size <= max_bytes
                                    and len(self._logged) <= max_rows):
                return False
            self._write_rows()
            return True

    def _insert(self, entry: Entry, data: bytes | None) -> None:
        self._db.execute(INSERT, _values(entry, data))

    def _scalar(self, sql: str, args: tuple = ()) -> int:
        with self._lock:
            return self._execute(sql, args).fetchone()[0]

    def _rows(self, sql: str, args: tuple = (),
              modified_before: float | None = None) -> list[Entry]:
        with self._lock:
            rows = self._execute(f"SELECT {', '.join(COLUMNS)} FROM entries {sql}",
                                 args, modified_before).fetchall()
        return [Entry(*row) for row in rows]

    def data_path(self, entry: Entry) -> str:
        """The local file holding ``entry``'s data.

        An inline row is given a file first (same content, same generation), so the
        answer is always a real file; ``FileNotFoundError`` if the row is gone.
        """
        if entry.file == DIRECTORY:
            raise IsADirectoryError(f"{entry.path} is a directory")
        if entry.file:
            return os.path.join(self.data_dir, entry.file)
        return self._materialize(entry.path)

    def _materialize(self, path: str) -> str:
        with self._lock:
            cached = self._entries.get(path)
            if cached is None:
                raise FileNotFoundError(f"no cache entry for {path}")
            if cached.file:
                return os.path.join(self.data_dir, cached.file)
            name = self.new_file()
            target = os.path.join(self.data_dir, name)
            with open(target, "wb") as out:
                out.write(self._inline_data(path))
            self._execute("UPDATE entries SET file = ?, data = NULL WHERE path = ?",
                             (name, path))
            self._commit()
            cached.file = name
            return target

    def _inline_data(self, path: str) -> bytes:
        row = self._execute("SELECT data FROM entries WHERE path = ?", (path,)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""

    def inline_content(self, path: str) -> bytes | None:
        """The data of ``path``'s row if it is inline, else ``None`` (no row, or a file)."""
        with self._lock:
            cached = self._entries.get(path)
            if cached is None or cached.file:
                return None
            return self._inline_data(path)

    def open_data(self, entry: Entry) -> BinaryIO:
        """A reader of the current data of ``entry``'s path, inline or in a file
        (``FileNotFoundError`` if the path has no row any more)."""
        with self._lock:
            cached = self._entries.get(entry.path)
            if cached is None:
                raise FileNotFoundError(f"no cache entry for {entry.path}")
            if not cached.file:
                return io.BytesIO(self._inline_data(entry.path))
            name = cached.file
        return open(os.path.join(self.data_dir, name), "rb")

    def new_file(self) -> str:
        """A fresh data file name (not created)."""
        return uuid.uuid4().hex

    # --- queries -------------------------------------------------------------------

    def get(self, path: str) -> Entry | None:
        """A copy of ``path``'s row, or ``None`` (from the in-memory mirror)."""
        entry = self._entries.get(path)
        return copy.copy(entry) if entry is not None else None

    def peek(self, path: str) -> Entry | None:
        """``path``'s row itself, not a copy (no allocation: the lookup of every
        ``getattr``). Read it at once and never change it; another thread may change
        its fields at any time."""
        return self._entries.get(path)

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
                          (modified_before, limit), modified_before)

    def dirty_groups(self, max_size: int, settled_before: float | None = None
                     ) -> list[tuple[str, int, int, float]]:
        """Per directory, its dirty files (not directories) of at most ``max_size`` bytes:
        (directory, count, total size, oldest change). ``settled_before``: files kept in
        memory (not in sqlite yet), all changed since that time, may be left out (the
        heartbeat's, while files are being written)."""
        with self._lock:
            return self._execute(
                "SELECT parent, COUNT(*), SUM(size), MIN(modified) FROM entries "
                "WHERE dirty = 1 AND size <= ? AND file != ? GROUP BY parent",
                (max_size, DIRECTORY),
                settled_before).fetchall()

    def dirty_in(self, directory: str, max_size: int, limit: int) -> list[Entry]:
        """Dirty files (not directories) of ``directory`` of at most ``max_size`` bytes,
        oldest first."""
        return self._rows("WHERE parent = ? AND dirty = 1 AND size <= ? AND file != ? "
                          "ORDER BY modified LIMIT ?", (directory, max_size, DIRECTORY, limit))

    def count_dirty(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM entries WHERE dirty = 1")

    def clean_lru(self, limit: int) -> list[Entry]:
        """Clean entries, least recently accessed first."""
        return self._rows("WHERE dirty = 0 ORDER BY accessed LIMIT ?", (limit,))

    def all(self) -> list[Entry]:
        with self._lock:
            return [copy.copy(entry) for entry in self._entries.values()]

    # --- changes -------------------------------------------------------------------

    def _commit(self) -> None:
        if self._db.in_transaction:
            self._db.execute("COMMIT")
            self._commits += 1

    def put(self, entry: Entry, *, commit: bool = True, data: bytes | None = None) -> None:
        """Insert or replace ``entry``; keeps :attr:`total_size` current.

        ``commit=False`` keeps the row in memory only (a file being created): when it is
        closed (:meth:`store_inline`) the row and its data go to the close log, and into
        sqlite with the next statement on the index or the next heartbeat. Until that
        close a killed process loses it, as it loses a file not closed yet. ``data``: the
        content of an inline row (``entry.file`` empty).
        """
        with self._lock:
            old = self._entries.get(entry.path)
            self._pending.pop(entry.path, None)
            if commit:
                if self._pending or self._logged:
                    self._write_rows()          # rows kept in memory first
                if not self._db.in_transaction:
                    self._db.execute("BEGIN")
                self._insert(entry, data)
                self._commit()
            else:
                self._pending[entry.path] = copy.copy(entry)
                self._kept_since = min(self._kept_since, entry.modified)
            self._entries[entry.path] = copy.copy(entry)
            self.total_size += entry.size - (old.size if old else 0)

    def put_logged(self, entry: Entry) -> None:
        """Insert ``entry``, a new row with no data (a directory made locally), through
        the close log: one ``write``, kept by the kernel when this returns (it survives a
        killed process), into sqlite with the next statement that needs it."""
        with self._lock:
            old = self._entries.get(entry.path)
            self._log_row(copy.copy(entry), b"")
            self._entries[entry.path] = copy.copy(entry)
            self.total_size += entry.size - (old.size if old else 0)

    def _log_row(self, row: Entry, data: bytes) -> None:
        """Append ``row`` and its ``data`` to the close log and keep the row in memory
        until it is written into sqlite (lock held)."""
        offset = self._log.append(tuple(getattr(row, c) for c in COLUMNS), data)
        self._pending.pop(row.path, None)
        self._logged[row.path] = (row, offset, len(data))
        self._kept_since = min(self._kept_since, row.modified)

    def new_entry(self, path: str, *, dirty: bool, size: int = 0,
                  remote_modified: float = 0.0, in_store: bool = False,
                  file: str | None = None) -> Entry:
        """A new row for ``path`` (not stored yet; pass it to :meth:`put`)."""
        now = time.time()
        return Entry(path=path, parent=paths.parent(path),
                     file=self.new_file() if file is None else file,
                     dirty=dirty, generation=1, size=size, modified=now, updated=now,
                     accessed=now, remote_modified=remote_modified, in_store=in_store)

    def touch(self, path: str, **fields: object) -> None:
        """Set some columns of ``path``'s row."""
        if not fields:
            return
        sets = ", ".join(f"{name} = ?" for name in fields)
        with self._lock:
            cached = self._entries.get(path)
            self._execute(f"UPDATE entries SET {sets} WHERE path = ?",
                             (*fields.values(), path))
            self._commit()
            if cached is None:
                return
            if "size" in fields:
                self.total_size += int(fields["size"]) - cached.size  # type: ignore[call-overload]
            for name, value in fields.items():
                setattr(cached, name, value)

    def mark_changed(self, path: str, size: int) -> None:
        """Record a local change of ``path``: dirty, next generation, new size, now."""
        self._changed(path, size, None)

    def store_inline(self, path: str, data: bytes) -> bool:
        """Make ``data`` the content of ``path`` (a row created inline), recorded as a
        change (dirty, next generation): one append to the close log for a new file's
        row, one commit otherwise; written to the row's file if it was given one
        meanwhile. False if ``path`` has no row."""
        return self._changed(path, len(data), data)

    def _changed(self, path: str, size: int, data: bytes | None) -> bool:
        now = time.time()
        with self._lock:
            cached = self._entries.get(path)
            if cached is None:
                return False
            if data is not None and cached.file:
                with open(os.path.join(self.data_dir, cached.file), "wb") as out:
                    out.write(data)
                data = None
            if data is not None and (path in self._pending or path in self._logged):
                # A new file closed: its row and data to the close log, one write.
                row = copy.copy(cached)
                row.dirty, row.generation, row.size = True, cached.generation + 1, size
                row.modified = row.accessed = now
                self._log_row(row, data)
            elif data is None:
                self._execute(
                    "UPDATE entries SET dirty = 1, generation = generation + 1, size = ?, "
                    "modified = ?, accessed = ? WHERE path = ?", (size, now, now, path))
            else:
                self._execute(
                    "UPDATE entries SET dirty = 1, generation = generation + 1, size = ?, "
                    "modified = ?, accessed = ?, data = ? WHERE path = ?",
                    (size, now, now, data, path))
            self._commit()
            self.total_size += size - cached.size
            cached.dirty, cached.generation, cached.size = True, cached.generation + 1, size
            cached.modified = cached.accessed = now
            return True

    def mark_clean(self, path: str, generation: int, remote_modified: float) -> bool:
        """Mark ``path`` clean if its generation is still ``generation``; True if it was."""
        now = time.time()
        with self._lock:
            cur = self._execute(
                "UPDATE entries SET dirty = 0, updated = ?, remote_modified = ?, "
                "in_store = 1 WHERE path = ? AND generation = ?",
                (now, remote_modified, path, generation))
            self._commit()
            if cur.rowcount != 1:
                return False
            cached = self._entries[path]
            cached.dirty, cached.updated, cached.remote_modified = False, now, remote_modified
            cached.in_store = True
            return True

    def rename(self, old: str, new: str, *, dirty: bool) -> None:
        """Move the row of ``old`` to ``new``, replacing ``new``'s row.

        ``dirty``: the data still has to be uploaded under the new name (the row's
        generation grows); otherwise the store already holds it there.
        """
        with self._lock:
            self.remove(new)
            self._execute(
                "UPDATE entries SET path = ?, parent = ?, dirty = ?, in_store = ?, "
                "generation = generation + 1 WHERE path = ?",
                (new, paths.parent(new), int(dirty), int(not dirty), old))
            self._commit()
            cached = self._entries.pop(old, None)
            if cached is not None:
                cached.path, cached.parent = new, paths.parent(new)
                cached.dirty, cached.in_store = dirty, not dirty
                cached.generation += 1
                self._entries[new] = cached

    def remove(self, path: str) -> Entry | None:
        """Drop ``path``'s row and its data file; returns the row that was there."""
        with self._lock:
            old = self._entries.pop(path, None)
            if old is None:
                return None
            self._pending.pop(path, None)
            self._execute("DELETE FROM entries WHERE path = ?", (path,))
            self._commit()
            self.total_size -= old.size
        if old.file and old.file != DIRECTORY:
            try:
                os.unlink(os.path.join(self.data_dir, old.file))
            except FileNotFoundError:
                pass
        return old

    def checkpoint(self) -> None:
        """Make every committed change durable on disk (fsync of the WAL and database),
        and every closed file's row (the close log's rows are written first; the emptied
        log is synced, so that no stale record comes back after a power loss)."""
        with self._lock:
            self._commit()
            self._execute("PRAGMA wal_checkpoint(FULL)")
            self._log.clear(sync=True)

    def checkpoint_some(self, min_commits: int = 200, max_age: float = 5.0) -> bool:
        """Copy the WAL into the database (sqlite's passive checkpoint) when at least
        ``min_commits`` commits, or any commit ``max_age`` seconds ago, are not in it yet.

        Called by the heartbeat; runs on a connection of its own, without the index's
        lock, so closes and lookups go on meanwhile. Durability does not depend on it:
        committed rows survive a killed process in the WAL (and closed files' rows not
        in sqlite yet, in the close log). True when it ran.
        """
        now = time.monotonic()
        if not self._commits or (self._commits < min_commits
                                 and now - self._last_checkpoint < max_age):
            return False
        self._commits = 0
        self._last_checkpoint = now
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(os.path.join(self.cache_dir, "index.db"),
                                                 check_same_thread=False,
                                                 isolation_level=None)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return True

    def remove_orphans(self) -> tuple[int, list[str]]:
        """Reconcile rows and files after a crash.

        Data files no row names are deleted (a write that died before its row was made);
        rows whose file is gone are dropped. Returns how many files were deleted and the
        paths of dirty rows that had lost their data (reported, never silent).
        """
        rows = self.all()
        named = {row.file for row in rows if row.file}
        removed = 0
        for name in os.listdir(self.data_dir):
            if name not in named:
                os.unlink(os.path.join(self.data_dir, name))
                removed += 1
        lost = []
        for row in rows:
            if row.file == DIRECTORY:
                continue
            if row.file and not os.path.exists(os.path.join(self.data_dir, row.file)):
                if row.dirty:
                    lost.append(row.path)
                with self._lock:
                    self._execute("DELETE FROM entries WHERE path = ?", (row.path,))
                    self._commit()
                    self._entries.pop(row.path, None)
                    self.total_size -= row.size
        return removed, lost

    def close(self) -> None:
        with self._lock:
            self._execute("SELECT 1")     # rows kept in memory are written
            self._commit()
            self._db.close()
            self._log.close()
            if self._checkpointer is not None:
                self._checkpointer.close()
