"""Segment and fragment arithmetic of erasure-coded objects (sans-IO).

An object of ``length`` bytes is cut into segments of ``segment_size`` bytes (the last
one shorter); each segment is encoded into ``k + m`` fragments of ``fragment_size``
bytes (pyeclib's header included; the last segment's fragments are shorter), and
fragment archive *i* is fragment *i* of every segment, one after the other. So segment
*s* is at bytes ``[s * fragment_size, s * fragment_size + its fragment size)`` of every
archive, and a byte range of the object needs only the segments it touches.

>>> layout = SegmentLayout(length=2500, segment_size=1000, fragment_size=330,
...                        last_fragment_size=180)
>>> layout.segment_count
3
>>> layout.span(1500, 2100)      # bytes [1500, 2100): segments 1 and 2
SegmentSpan(first=1, last=2, skip=500, length=600)
>>> layout.fragment_range(layout.span(1500, 2100))
(330, 840)
"""

from __future__ import annotations

from typing import Any, NamedTuple


class SegmentSpan(NamedTuple):
    """The segments ``first..last`` (inclusive) holding a byte range, and where the range
    lies in their decoded bytes: after ``skip`` bytes, ``length`` bytes long."""

    first: int
    last: int
    skip: int
    length: int


class SegmentLayout:
    """Where the segments of one object are, in the object and in each archive."""

    def __init__(self, length: int, segment_size: int, fragment_size: int,
                 last_fragment_size: int):
        if segment_size < 1:
            raise ValueError("segment_size must be positive")
        self.length = length
        self.segment_size = segment_size
        self.fragment_size = fragment_size
        self.last_fragment_size = last_fragment_size
        #: an empty object still has one (empty) segment on disk
        self.segment_count = max(1, -(-length // segment_size))

    @classmethod
    def of(cls, driver: Any, length: int, segment_size: int) -> SegmentLayout:
        """The layout pyeclib's ``driver`` gives an object of ``length`` bytes, encoded
        one ``segment_size`` segment at a time (as the proxy's ``ECWriter`` does;
        pyeclib's own ``get_segment_info`` would merge a small last segment into the one
        before, so each size is asked for one segment alone)."""
        if length == 0:
            size = len(driver.encode(b"")[0])
            return cls(0, segment_size, size, size)

        def fragment_size(segment_len: int) -> int:
            return int(driver.get_segment_info(segment_len, segment_size)["fragment_size"])

        last_len = length - (-(-length // segment_size) - 1) * segment_size
        return cls(length, segment_size, fragment_size(min(length, segment_size)),
                   fragment_size(last_len))

    def fragment_len(self, segment: int) -> int:
        """Bytes of one fragment of ``segment`` in an archive."""
        return self.last_fragment_size if segment == self.segment_count - 1 \
            else self.fragment_size

    @property
    def archive_length(self) -> int:
        """Bytes of each fragment archive."""
        return (self.segment_count - 1) * self.fragment_size + self.last_fragment_size

    def span(self, start: int, stop: int) -> SegmentSpan:
        """The segments holding the object bytes ``[start, stop)`` (``stop > start``)."""
        first = start // self.segment_size
        last = (stop - 1) // self.segment_size
        return SegmentSpan(first, last, start - first * self.segment_size, stop - start)

    def fragment_range(self, span: SegmentSpan) -> tuple[int, int]:
        """The archive bytes ``[start, stop)`` holding the fragments of ``span``."""
        start = span.first * self.fragment_size
        stop = span.last * self.fragment_size + self.fragment_len(span.last)
        return start, stop


def fragment_problem(driver: Any, fragment: bytes, frag_index: int) -> str | None:
    """Why ``fragment`` cannot be used as fragment ``frag_index`` of a segment (not a
    pyeclib fragment, another index, a checksum that does not match its bytes), or
    ``None`` when it can. Policies are built with ``inline_crc32``: every reader of
    archives (proxy, auditor, reconstructor) checks each fragment with this."""
    try:
        meta = driver.get_metadata(fragment, formatted=True)
    except Exception as err:  # pyeclib's own errors: not a fragment at all
        return f"not a fragment ({err})"
    if meta.get("chksum_mismatch"):
        return "fragment checksum mismatch"
    if meta.get("index") != frag_index:
        return f"fragment of index {meta.get('index')}, not {frag_index}"
    return None
