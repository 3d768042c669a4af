"""The persistent map between chunks (tar archives in the store) and the files in them.

One sqlite database (``chunks.db``) in the cache directory, as the seed's chunk map: a
chunk has an id, the directory it is stored in and how many files it was made with; a file
path maps to the chunk holding its current version. A file overwritten (re-packed into a
newer chunk, or uploaded alone), deleted or renamed leaves its old chunk with one stale
member; :meth:`ChunkMap.get_chunks_for_gc` finds the chunks that are mostly stale.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass

from oiofs.fs import paths

CHUNK_PREFIX = ".oiofs-chunk-"
CHUNK_SUFFIX = ".tar"

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY,
    directory TEXT NOT NULL,
    members INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    filepath TEXT PRIMARY KEY,
    directory TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    modified REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_chunk ON files (chunk_id);
CREATE INDEX IF NOT EXISTS files_directory ON files (directory);
"""


def is_chunk_name(name: str) -> bool:
    """True for the last path component of a chunk object."""
    return name.startswith(CHUNK_PREFIX) and name.endswith(CHUNK_SUFFIX)


@dataclass
class ChunkedFile:
    filepath: str
    chunk_id: str
    size: int
    modified: float


class ChunkMap:
    """Chunk ids <-> file paths, persistent and thread-safe."""

    def __init__(self, cache_dir: str) -> None:
        self._lock = threading.Lock()
        os.makedirs(cache_dir, exist_ok=True)
        self._db = sqlite3.connect(os.path.join(cache_dir, "chunks.db"),
                                   check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    @staticmethod
    def get_next_chunk_uuid() -> str:
        """A globally unique id for the next chunk."""
        return uuid.uuid4().hex

    @staticmethod
    def chunk_path(directory: str, chunk_id: str) -> str:
        """The store path of chunk ``chunk_id`` in ``directory``."""
        return paths.join(directory, f"{CHUNK_PREFIX}{chunk_id}{CHUNK_SUFFIX}")

    def put(self, chunk_id: str, directory: str, files: list[ChunkedFile]) -> None:
        """Record a new chunk and make it the home of ``files`` (older homes go stale)."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("INSERT INTO chunks VALUES (?, ?, ?)",
                             (chunk_id, directory, len(files)))
            self._db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                [(f.filepath, paths.parent(f.filepath), chunk_id, f.size, f.modified)
                 for f in files])
            self._db.execute("COMMIT")

    def get(self, filepath: str) -> ChunkedFile | None:
        """The chunk holding ``filepath``, or None when it is not in a chunk."""
        with self._lock:
            row = self._db.execute("SELECT filepath, chunk_id, size, modified FROM files "
                                   "WHERE filepath = ?", (filepath,)).fetchone()
        return ChunkedFile(*row) if row else None

    def chunk_directory(self, chunk_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT directory FROM chunks WHERE chunk_id = ?",
                                   (chunk_id,)).fetchone()
        return row[0] if row else None

    def in_directory(self, directory: str) -> list[ChunkedFile]:
        """Files of ``directory`` that live in chunks."""
        with self._lock:
            rows = self._db.execute("SELECT filepath, chunk_id, size, modified FROM files "
                                    "WHERE directory = ?", (directory,)).fetchall()
        return [ChunkedFile(*row) for row in rows]

    def members(self, chunk_id: str) -> list[ChunkedFile]:
        """Files whose current version is in chunk ``chunk_id``."""
        with self._lock:
            rows = self._db.execute("SELECT filepath, chunk_id, size, modified FROM files "
                                    "WHERE chunk_id = ?", (chunk_id,)).fetchall()
        return [ChunkedFile(*row) for row in rows]

    def remove_file(self, filepath: str) -> None:
        """``filepath`` no longer lives in a chunk (deleted, renamed or stored alone)."""
        with self._lock:
            self._db.execute("DELETE FROM files WHERE filepath = ?", (filepath,))

    def remove_chunk(self, chunk_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM files WHERE chunk_id = ?", (chunk_id,))
            self._db.execute("DELETE FROM chunks WHERE chunk_id = ?", (chunk_id,))

    def rebase(self, old: str, new: str) -> None:
        """A directory moved from ``old`` to ``new``: its chunks and files moved with it."""
        with self._lock:
            self._db.execute("BEGIN")
            for table, column in (("chunks", "directory"), ("files", "filepath"),
                                  ("files", "directory")):
                rows = self._db.execute(f"SELECT rowid, {column} FROM {table}").fetchall()
                for rowid, value in rows:
                    if paths.is_under(value, old):
                        self._db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?",
                                         (paths.rebase(value, old, new), rowid))
            self._db.execute("COMMIT")

    def get_chunks_for_gc(self, stale_ratio: float = 0.5) -> list[tuple[str, str, int]]:
        """(chunk id, directory, live members) of chunks with more than ``stale_ratio``
        of their members stale."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.chunk_id, c.directory, c.members, COUNT(f.filepath) FROM chunks c "
                "LEFT JOIN files f ON f.chunk_id = c.chunk_id GROUP BY c.chunk_id").fetchall()
        return [(cid, directory, live) for cid, directory, total, live in rows
                if total and (total - live) / total > stale_ratio]

    def close(self) -> None:
        with self._lock:
            self._db.close()
