"""The reading side of the object-file API: :class:`DiskFileReader`, the body of a GET.

Kept apart from :mod:`oiofs.obj.diskfile`, which creates it (``DiskFile.reader()``): it
streams the data from an open file descriptor, whole or by ranges, and checks each block
against the data's block checksums (:mod:`oiofs.obj.block_checksums`) before giving any
of it out.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NoReturn

from oiofs.common.exceptions import DiskFileQuarantined
from oiofs.common.http.multipart import ByteRangesLayout
from oiofs.obj.block_checksums import BlockMismatch, BlockVerifier, iter_verified

#: drop the page cache of a large object every this many bytes read or written
DROP_CACHE_WINDOW = 8 * 1024 * 1024


def drop_cache(fd: int, offset: int, length: int) -> None:
    """Drop ``length`` bytes at ``offset`` of ``fd`` from the page cache (best effort):
    large objects would push hot small objects out of it."""
    try:
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass


class DiskFileReader:
    """The body of a GET, read from disk; a WSGI response iterable (``close()`` included).

    Iterating yields the whole data, or what :meth:`set_range`/:meth:`set_ranges` chose,
    in chunks of at most ``chunk_size`` bytes, never past ``length`` (the checksum list
    and metadata trailer, if any, lie beyond). When ``keep_cache`` is false the pages read
    are dropped from the page cache as it goes. ``close()`` releases the file descriptor.

    With a ``verifier`` (:class:`~oiofs.obj.block_checksums.BlockVerifier`) whole blocks
    are read around what is asked and each is checked before a byte of it is yielded; at
    the first bad block ``on_corrupt(reason)`` runs (it quarantines the object) and the
    iteration raises :class:`DiskFileQuarantined`, so the server drops the connection
    before the bad block: the client sees a body shorter than its ``Content-Length``.
    """

    def __init__(self, fd: int, length: int, chunk_size: int, keep_cache: bool = True,
                 verifier: BlockVerifier | None = None,
                 on_corrupt: Callable[[str], NoReturn] | None = None):
        self.fd: int | None = fd
        self.length = length
        self.chunk_size = chunk_size
        self.keep_cache = keep_cache
        self.verifier = verifier
        self.on_corrupt = on_corrupt
        self._range = (0, length)
        self._layout: ByteRangesLayout | None = None
        self._first: tuple[int, bytes] | None = None

    def set_range(self, start: int, stop: int) -> DiskFileReader:
        """Serve only the bytes ``[start, stop)``; returns ``self``."""
        self._range = (start, stop)
        return self

    def set_ranges(self, layout: ByteRangesLayout) -> DiskFileReader:
        """Serve the multipart/byteranges body laid out by ``layout``; returns ``self``."""
        self._layout = layout
        return self

    def check_first(self, offset: int) -> None:
        """Read and check the block holding byte ``offset`` (the first the response will
        give out) now, before the response starts: a bad one quarantines the object and
        raises :class:`DiskFileQuarantined` while an error status can still be answered.
        Nothing to do without a verifier or past the data."""
        verifier = self.verifier
        if verifier is None or self.fd is None or offset >= self.length:
            return
        index = offset // verifier.block_size
        try:
            self._first = (index, verifier.read_block(index))
        except BlockMismatch as err:
            self._corrupt(err)

    def _corrupt(self, err: BlockMismatch) -> NoReturn:
        if self.on_corrupt is not None:
            self.on_corrupt(str(err))
        raise DiskFileQuarantined(str(err))

    def __iter__(self):
        if self.fd is None:
            return iter(())
        if self._layout is not None:
            return self._layout.iter_body(self.iter_range)
        return self.iter_range(*self._range)

    def iter_range(self, start: int, stop: int):
        """The bytes ``[start, stop)`` of the data, in chunks (closes nothing)."""
        fd = self.fd
        if fd is None:
            return
        stop = min(stop, self.length)
        pos = dropped = start
        for data in self._read(fd, start, stop):
            pos += len(data)
            if not self.keep_cache and pos - dropped >= DROP_CACHE_WINDOW:
                drop_cache(fd, dropped, pos - dropped)
                dropped = pos
            yield data
        if not self.keep_cache and pos > dropped:
            drop_cache(fd, dropped, pos - dropped)

    def _read(self, fd: int, start: int, stop: int):
        verifier = self.verifier
        chunk_size = self.chunk_size
        if verifier is not None:
            try:
                for data in iter_verified(verifier, start, stop,
                                          max(1, chunk_size // verifier.block_size),
                                          self._first):
                    if len(data) <= chunk_size:
                        yield data
                    else:  # a block larger than the chunks asked for
                        for offset in range(0, len(data), chunk_size):
                            yield data[offset:offset + chunk_size]
            except BlockMismatch as err:
                self._corrupt(err)
            return
        pos = start
        while pos < stop:
            data = os.pread(fd, min(chunk_size, stop - pos), pos)
            if not data:
                break  # truncated under us; the auditor will quarantine it
            pos += len(data)
            yield data

    def close(self) -> None:
        """Close the file descriptor (idempotent)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
