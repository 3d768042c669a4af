"""Large objects without I/O: segments, the ETag of their concatenation, and which bytes
of which segment a byte range of the whole object needs.

A large object (DLO or SLO) is an ordered list of :class:`Segment` values. Each one names
an object (``/container/object``), says how many bytes of it the large object uses, and
optionally that only a range of it is used (SLO ``range``). :func:`pieces_for_range` maps
a half-open byte range of the whole object onto the segments, lazily, so a listing that is
paged in (DLO) or a nested manifest (SLO) is only fetched when its bytes are needed.

>>> segs = [Segment("/c/a", "e1", 10), Segment("/c/b", "e2", 10)]
>>> [(p.segment.path, p.start, p.stop) for p in pieces_for_range(segs, 5, 15)]
[('/c/a', 5, 10), ('/c/b', 0, 5)]
>>> dlo_etag(["e1", "e2"]) == dlo_etag(iter(["e1", "e2"]))
True
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from hashlib import md5


@dataclass(frozen=True)
class Segment:
    """One segment of a large object.

    ``path`` is ``/container/object`` (text). ``size`` is the bytes this segment adds to
    the large object. ``etag`` is the expected ETag of the segment object (``None``: not
    checked). ``offset`` is where the used bytes start in the segment object when only a
    range of it is used (SLO ``range``), else ``None``. ``sub_slo`` marks a segment that is
    itself an SLO manifest, expanded when read.
    """

    path: str
    etag: str | None
    size: int
    offset: int | None = None
    sub_slo: bool = False

    @property
    def ranged(self) -> bool:
        """True when only a range of the segment object is used."""
        return self.offset is not None


@dataclass(frozen=True)
class Piece:
    """Bytes ``[start, stop)`` of a segment's *used part* (not of the segment object)."""

    segment: Segment
    start: int
    stop: int

    @property
    def whole(self) -> bool:
        """True when the piece is the whole segment object (no ``Range`` needed)."""
        return not self.segment.ranged and self.start == 0 and self.stop == self.segment.size

    @property
    def object_range(self) -> tuple[int, int]:
        """The half-open range to read from the segment object itself."""
        base = self.segment.offset or 0
        return base + self.start, base + self.stop

    @property
    def length(self) -> int:
        return self.stop - self.start


def pieces_for_range(segments: Iterable[Segment], start: int,
                     stop: int | None) -> Iterator[Piece]:
    """The pieces covering bytes ``[start, stop)`` of the concatenation, in order.

    ``stop=None`` means to the end. Segments of size 0 yield nothing. The iterable is
    consumed only as far as needed: nothing after the segment holding ``stop - 1`` is read.
    """
    position = 0
    for segment in segments:
        if stop is not None and position >= stop:
            return
        end = position + segment.size
        if end > start and segment.size > 0:
            first = max(start - position, 0)
            last = segment.size if stop is None else min(stop - position, segment.size)
            if last > first:
                yield Piece(segment, first, last)
        position = end


def dlo_etag(etags: Iterable[str]) -> str:
    """The unquoted ETag of a DLO: MD5 of its segments' ETags, concatenated in order."""
    digest = md5()
    for etag in etags:
        digest.update(etag.strip('"').encode("utf-8"))
    return digest.hexdigest()


def slo_etag(segments: Iterable[Segment]) -> str:
    """The unquoted ETag of an SLO: MD5 over its segments' ETags, in order.

    A ranged segment contributes ``<etag>:<first>-<last>;`` (its range, inclusive), so the
    same segments used differently give a different ETag, as Swift computes it.
    """
    digest = md5()
    for segment in segments:
        etag = (segment.etag or "").strip('"')
        if segment.ranged:
            first = segment.offset or 0
            etag = f"{etag}:{first}-{first + segment.size - 1};"
        digest.update(etag.encode("utf-8"))
    return digest.hexdigest()
