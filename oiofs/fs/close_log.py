"""The close log: rows of small new files, appended at ``close()``, before they reach sqlite.

Writing a closed file's row into the index (sqlite) costs a transaction: a dozen
``pwrite`` of WAL frames, lock calls and a commit, about a third of what the mount spends
on a small file of an untar. A killed process (SIGKILL, a crash) must still keep every
file that was closed, and that only needs the bytes to be in the kernel before ``close()``
returns. So the first close of a new small file appends one record (its row and its data)
to this log with a single ``write``, and the index writes the rows it holds to sqlite in
one transaction a little later (before any other statement on the index, at the latest
at the next heartbeat), then empties the log.

A record: ``OCL1``, the lengths of the row (JSON) and of the data, a CRC-32 of both, then
both. Reading stops at the first record that is incomplete or fails its CRC (a process
killed in the middle of an append, whose ``close()`` never returned). The log is never
fsynced for itself: ``fsync`` of a file goes through the index's checkpoint, which
writes the rows to sqlite first and then empties the log and syncs it.
"""

from __future__ import annotations

import json
import os
import struct
import zlib

HEADER = struct.Struct("<4sIII")
MAGIC = b"OCL1"


class CloseLog:
    """An append-only file of (row, data) records; not thread-safe (the index locks)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = os.fstat(self._fd).st_size

    def append(self, row: tuple, data: bytes) -> int:
        """Add one record with one ``write`` (in the kernel when it returns); returns
        where its data starts in the log (for :meth:`read`)."""
        meta = json.dumps(row).encode()
        crc = zlib.crc32(data, zlib.crc32(meta))
        record = b"".join((HEADER.pack(MAGIC, len(meta), len(data), crc), meta, data))
        written = os.write(self._fd, record)
        if written != len(record):       # a full disk: no half record may look whole
            os.ftruncate(self._fd, self.size)
            raise OSError(f"short write to {self.path}")
        offset = self.size + HEADER.size + len(meta)
        self.size += written
        return offset

    @property
    def empty(self) -> bool:
        """Whether the log holds no record."""
        return self.size == 0

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes of the log at ``offset`` (a record's data, from the page
        cache: the log was written a moment ago)."""
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise OSError(f"{self.path} is shorter than expected")
        return data

    def records(self) -> list[tuple[list, bytes]]:
        """The complete records, oldest first (a torn last one is left out)."""
        out = []
        with open(self.path, "rb") as f:
            blob = f.read()
        pos = 0
        while pos + HEADER.size <= len(blob):
            magic, meta_len, data_len, crc = HEADER.unpack_from(blob, pos)
            start = pos + HEADER.size
            end = start + meta_len + data_len
            if magic != MAGIC or end > len(blob):
                break
            meta, data = blob[start:start + meta_len], blob[start + meta_len:end]
            if zlib.crc32(data, zlib.crc32(meta)) != crc:
                break
            out.append((json.loads(meta), data))
            pos = end
        return out

    def clear(self, sync: bool = False) -> None:
        """Empty the log (its rows are in sqlite); ``sync``: make that durable."""
        if not self.empty or sync:
            os.ftruncate(self._fd, 0)
            if sync:
                os.fsync(self._fd)
        self.size = 0

    def close(self) -> None:
        os.close(self._fd)
