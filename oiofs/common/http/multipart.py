"""``multipart/byteranges`` bodies (RFC 7233 appendix A): laying one out, and reading one.

Writing is split from I/O: :class:`ByteRangesLayout` computes every part header and the
total ``Content-Length`` up front (so the response can announce it), and
:meth:`ByteRangesLayout.iter_body` interleaves those headers with the bytes a caller-supplied
function reads for each range. :func:`iter_byterange_parts` reads such a body back from any
file-like object (what a proxy needs when a backend answers several ranges).

>>> layout = ByteRangesLayout([(0, 2), (4, 5)], 6, 'text/plain', 'XYZ')
>>> body = b''.join(layout.iter_body(lambda start, stop: [b'abcdef'[start:stop]]))
>>> len(body) == layout.content_length
True
>>> import io
>>> [(p.start, p.stop, p.read()) for p in iter_byterange_parts(io.BytesIO(body), 'XYZ')]
[(0, 2, b'ab'), (4, 5, b'e')]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from oiofs.common.http.ranges import content_range, parse_content_range

MAX_PART_HEADER_LINES = 32
MAX_LINE = 8192


def make_boundary() -> str:
    """A fresh random boundary (32 hex digits) that will not occur in a body by chance."""
    return os.urandom(16).hex()


def byteranges_content_type(boundary: str) -> str:
    """The response ``Content-Type`` of a multipart/byteranges body with ``boundary``."""
    return f"multipart/byteranges;boundary={boundary}"


def boundary_from_content_type(value: str) -> str | None:
    """The boundary parameter of a ``multipart/byteranges`` content type, else ``None``."""
    media, _, params = value.partition(";")
    if media.strip().lower() != "multipart/byteranges":
        return None
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "boundary":
            val = val.strip()
            if len(val) >= 2 and val[0] == val[-1] == '"':
                val = val[1:-1]
            return val or None
    return None


class ByteRangesLayout:
    """The layout of a multipart/byteranges body for ``ranges`` of a ``length``-byte entity.

    ``ranges`` are half-open ``(start, stop)`` pairs, all satisfiable. Each part carries
    ``Content-Type`` (the entity's) and ``Content-Range``; parts are separated by
    ``\\r\\n--boundary`` lines and the body ends with ``\\r\\n--boundary--``.
    """

    def __init__(self, ranges: list[tuple[int, int]], length: int, content_type: str,
                 boundary: str):
        self.boundary = boundary
        self.content_type = byteranges_content_type(boundary)
        self.parts: list[tuple[bytes, int, int]] = []
        total = 0
        for index, (start, stop) in enumerate(ranges):
            head = ("" if index == 0 else "\r\n") + (
                f"--{boundary}\r\nContent-Type: {content_type}\r\n"
                f"Content-Range: {content_range(start, stop, length)}\r\n\r\n")
            head_bytes = head.encode("latin-1")
            self.parts.append((head_bytes, start, stop))
            total += len(head_bytes) + stop - start
        self.closing = f"\r\n--{boundary}--".encode("latin-1")
        #: the exact size of the body :meth:`iter_body` produces
        self.content_length = total + len(self.closing)

    def iter_body(self, read_range: Callable[[int, int], Iterable[bytes]]) -> Iterator[bytes]:
        """The body: part headers, then ``read_range(start, stop)``'s chunks, for each part.

        ``read_range`` must yield exactly ``stop - start`` bytes in total.
        """
        for head, start, stop in self.parts:
            yield head
            yield from read_range(start, stop)
        yield self.closing


class ByteRangePart:
    """One part being read: its range, its headers, and a reader limited to its body."""

    def __init__(self, source: BinaryIO, start: int, stop: int, length: int,
                 headers: dict[str, str]):
        self.start = start
        self.stop = stop
        #: the complete length of the entity the range is taken from
        self.length = length
        #: part headers with lower-case names
        self.headers = headers
        self._source = source
        self._left = stop - start

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the part's body (all that is left if negative)."""
        if self._left <= 0:
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._source.read(want)
        if not data:
            raise ValueError("multipart/byteranges body ended inside a part")
        self._left -= len(data)
        return data

    def drain(self) -> None:
        """Skip what is left of the part's body."""
        while self._left > 0:
            self.read(65536)


def _readline(source: BinaryIO) -> bytes:
    line = source.readline(MAX_LINE)
    if len(line) >= MAX_LINE and not line.endswith(b"\n"):
        raise ValueError("line too long in multipart/byteranges body")
    return line


def iter_byterange_parts(source: BinaryIO, boundary: str) -> Iterator[ByteRangePart]:
    """The parts of a multipart/byteranges body read from ``source`` (``readline``/``read``).

    Each part must carry a ``Content-Range``; its body is exactly that many bytes. A part
    not read to its end by the consumer is skipped before the next one is parsed.
    ``ValueError`` for a malformed body.
    """
    delimiter = b"--" + boundary.encode("latin-1")
    # skip a preamble, if any, up to the first delimiter line
    while True:
        line = _readline(source)
        if not line:
            raise ValueError("no multipart/byteranges delimiter found")
        if line.rstrip(b"\r\n") == delimiter:
            break
        if line.rstrip(b"\r\n") == delimiter + b"--":
            return
    while True:
        headers: dict[str, str] = {}
        for _ in range(MAX_PART_HEADER_LINES):
            line = _readline(source)
            if not line:
                raise ValueError("multipart/byteranges body ended in part headers")
            if line in (b"\r\n", b"\n"):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ValueError(f"invalid part header line {line!r}")
            headers[name.strip().lower()] = value.strip()
        else:
            raise ValueError("too many part header lines")
        if "content-range" not in headers:
            raise ValueError("part without Content-Range")
        start, stop, length = parse_content_range(headers["content-range"])
        part = ByteRangePart(source, start, stop, length, headers)
        yield part
        part.drain()
        # the body is followed by CRLF, then the next delimiter or the closing one
        line = _readline(source)
        if line in (b"\r\n", b"\n"):
            line = _readline(source)
        marker = line.rstrip(b"\r\n")
        if marker == delimiter + b"--":
            return
        if marker != delimiter:
            raise ValueError(f"expected a multipart delimiter, got {line[:80]!r}")
