"""Request bodies: bytes, a file object or an iterable of chunks, streamed.

A :class:`UploadBody` knows its length when it can (bytes, a seekable file, or a length
given by the caller; otherwise the body goes chunked), whether it can be sent again from
the start (bytes and seekable files can; an iterator cannot, so a request with one is
never retried), and it can compute the MD5 of what it sent, to check the ``ETag`` the
server answers.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

#: bytes read from a file per chunk
CHUNK_SIZE = 64 * 1024

Data = (bytes | bytearray | memoryview | str | BinaryIO | Iterable[bytes | memoryview]
        | Callable[[], Iterable[bytes | memoryview]])


class UploadBody:
    """A body to stream; build with :func:`request_body`."""

    def __init__(self, source, length: int | None, replayable: bool, start: int = 0,
                 chunk_size: int = CHUNK_SIZE, md5: bool = False):
        self._source = source
        self.length = length
        self.replayable = replayable
        self._start = start
        self.chunk_size = chunk_size
        self._want_md5 = md5
        self._md5: Any = None
        self._used = False

    @property
    def md5(self) -> str | None:
        """Hex MD5 of the bytes sent by the last full pass (when asked for)."""
        return self._md5.hexdigest() if self._md5 is not None else None

    def chunks(self, restart: bool = False) -> Iterator[bytes]:
        """The body's chunks, from the start; ``restart`` for a second pass."""
        if self._used and not self.replayable:
            raise ValueError("this body (an iterator) cannot be sent twice")
        self._used = True
        self._md5 = hashlib.md5(usedforsecurity=False) if self._want_md5 else None
        for chunk in self._raw_chunks():
            if self._md5 is not None:
                self._md5.update(chunk)
            yield chunk

    def _raw_chunks(self) -> Iterator[bytes]:
        src = self._source
        if isinstance(src, bytes):
            for pos in range(0, len(src), 1 << 20):
                yield src[pos:pos + (1 << 20)]
        elif hasattr(src, "read"):
            if self.replayable:
                src.seek(self._start)
            left = self.length
            while left is None or left > 0:
                chunk = src.read(self.chunk_size if left is None
                                 else min(self.chunk_size, left))
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        else:
            for chunk in (src() if callable(src) else src):
                if isinstance(chunk, str):
                    chunk = chunk.encode("utf-8")
                yield chunk  # bytes or a memoryview (sent without a copy)


def request_body(data: Data | None, length: int | None = None,
                 md5: bool = False) -> UploadBody | None:
    """Wrap ``data`` for streaming.

    * ``bytes``/``str`` (UTF-8): sent as is, replayable.
    * a file object: read from its current position in chunks; ``length`` bytes when
      given, else to its end. A seekable file is replayable and its length is found
      without reading it; a pipe or socket file is sent chunked unless ``length`` is given.
    * a callable returning an iterable of bytes: called for each pass, so replayable.
    * any other iterable of bytes: sent chunked (or with ``length``), not replayable.
    """
    if data is None:
        return None
    if isinstance(data, str):
        data = data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if isinstance(data, bytes):
        if length is not None and length != len(data):
            raise ValueError(f"length {length} given for {len(data)} bytes")
        return UploadBody(data, len(data), True, md5=md5)
    if hasattr(data, "read"):
        start, size = _seekable_extent(data)
        if start is None:
            return UploadBody(data, length, False, md5=md5)
        if length is None:
            length = size - start
        return UploadBody(data, length, True, start=start, md5=md5)
    if callable(data):
        return UploadBody(data, length, True, md5=md5)
    if isinstance(data, Iterable):
        return UploadBody(iter(data), length, False, md5=md5)
    raise TypeError(f"cannot send a {type(data).__name__} as a body")


def _seekable_extent(fileobj) -> tuple[int | None, int]:
    """(current position, size) of a seekable file object, or (None, 0)."""
    try:
        if not fileobj.seekable():
            return None, 0
        start = fileobj.tell()
        try:
            size = os.fstat(fileobj.fileno()).st_size
        except (AttributeError, OSError, io.UnsupportedOperation):
            size = fileobj.seek(0, io.SEEK_END)
            fileobj.seek(start)
        return start, size
    except (AttributeError, OSError, ValueError):
        return None, 0
