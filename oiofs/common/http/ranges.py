"""Byte ranges: parsing ``Range`` headers and resolving them against a body length.

Swift's rules (what OpenStack Swift 2.38 answers), in three steps, all without I/O:

1. :func:`parse_range_header` reads the header into :class:`ByteRangeSpec` values, or
   answers ``None`` when the header must be ignored and the whole body served with 200:
   absent, another unit, any element that is not ``first-last``, ``first-`` or ``-suffix``
   (an empty element included), or a range whose last byte precedes its first. Spaces
   anywhere in the value are ignored (``bytes = 0-1 , 4-5`` is two ranges).
2. :func:`resolve_ranges` turns the specs into half-open ``(start, stop)`` offsets for a body
   of a given length, dropping unsatisfiable ones and clipping the rest. Ranges stay in the
   order asked and are neither merged nor deduplicated.
3. :func:`ranges_to_serve` decides the answer: ``None`` (serve the whole body, 200), ``[]``
   (416 with ``Content-Range: bytes */<length>``), one range (206 with ``Content-Range``) or
   more (206 ``multipart/byteranges``). A set of ranges a server should not honour (more
   than :data:`MAX_RANGES` satisfiable ranges, more than :data:`MAX_RANGE_OVERLAPS`
   overlapping pairs, or :data:`MAX_NONASCENDING_RANGES` or more ranges out of order) is
   refused with 416, as RFC 7233 section 6.1 allows.

>>> specs = parse_range_header('bytes=0-9, -5, 100-')
>>> resolve_ranges(specs, 50)
[(0, 10), (45, 50)]
>>> ranges_to_serve(specs, 50), ranges_to_serve(specs, 0)
([(0, 10), (45, 50)], None)
>>> ranges_to_serve(parse_range_header('bytes=60-'), 50)
[]
>>> content_range(0, 10, 50)
'bytes 0-9/50'
>>> parse_range_header('bytes=9-3') is None
True
"""

from __future__ import annotations

from itertools import combinations, pairwise
from typing import NamedTuple

#: more satisfiable ranges than this in one request and it is refused (416): answering
#: thousands of tiny ranges costs far more than the body itself
MAX_RANGES = 50
#: more pairs of overlapping ranges than this and the request is refused (416)
MAX_RANGE_OVERLAPS = 2
#: this many ranges or more, not in ascending order, and the request is refused (416)
MAX_NONASCENDING_RANGES = 8


class ByteRangeSpec(NamedTuple):
    """One ``byte-range-spec`` as written by the client.

    ``first-last`` is ``(first, last)``; ``first-`` is ``(first, None)``; the suffix form
    ``-n`` (the last n bytes) is ``(None, n)``. Positions are inclusive, as in the header.
    """

    first: int | None
    last: int | None


def _digits(text: str) -> int | None:
    # int() would also accept "+5", "5_0" and non-ASCII digits: refuse them.
    if text and text.isascii() and text.isdigit():
        return int(text)
    return None


def _parse_spec(element: str) -> ByteRangeSpec | None:
    first_text, dash, last_text = element.partition("-")
    if not dash:
        return None
    first = _digits(first_text) if first_text else None
    last = _digits(last_text) if last_text else None
    if (first_text and first is None) or (last_text and last is None):
        return None
    if first is None and last is None:
        return None  # "-" alone
    if first is not None and last is not None and last < first:
        return None
    return ByteRangeSpec(first, last)


def parse_range_header(value: str | None) -> list[ByteRangeSpec] | None:
    """The specs of a ``Range`` header, or ``None`` when the header is to be ignored.

    Any number of specs is returned (the request head's size bounds them); how many are
    honoured is :func:`ranges_to_serve`'s decision.
    """
    if not value:
        return None
    text = value.replace(" ", "").replace("\t", "")
    if text[:6].lower() != "bytes=":
        return None
    specs: list[ByteRangeSpec] = []
    for element in text[6:].split(","):
        spec = _parse_spec(element)
        if spec is None:
            return None
        specs.append(spec)
    return specs


def resolve_ranges(specs: list[ByteRangeSpec], length: int) -> list[tuple[int, int]]:
    """The satisfiable ranges of ``specs`` for a body of ``length`` bytes, half-open.

    A range is unsatisfiable when it starts at or after the end of the body, or is a suffix
    of length 0; a body of length 0 therefore satisfies no range at all. Ranges reaching
    past the end are clipped to it; a suffix longer than the body is the whole body.
    """
    resolved: list[tuple[int, int]] = []
    for first, last in specs:
        if first is None:
            if not last or not length:
                continue
            resolved.append((max(0, length - last), length))
            continue
        if first >= length:
            continue
        stop = length if last is None else min(last + 1, length)
        resolved.append((first, stop))
    return resolved


def _overlap(one: tuple[int, int], two: tuple[int, int]) -> bool:
    # Swift's test: an end point of one range strictly inside the other (so two equal
    # ranges do not count as overlapping)
    (start1, end1), (start2, end2) = one, two
    return (start1 < start2 < end1 or start1 < end2 < end1 or
            start2 < start1 < end2 or start2 < end1 < end2)


def too_many_ranges(ranges: list[tuple[int, int]]) -> bool:
    """True if ``ranges`` (resolved) are more than a server should serve (see above)."""
    if len(ranges) > MAX_RANGES:
        return True
    overlaps = 0
    for one, two in combinations(ranges, 2):
        if _overlap(one, two):
            overlaps += 1
            if overlaps > MAX_RANGE_OVERLAPS:
                return True
    if len(ranges) >= MAX_NONASCENDING_RANGES:
        return any(a > b for a, b in pairwise(ranges))
    return False


def ranges_to_serve(specs: list[ByteRangeSpec] | None,
                    length: int) -> list[tuple[int, int]] | None:
    """What to answer to ``specs`` (from :func:`parse_range_header`) for ``length`` bytes.

    ``None``: the whole body with 200 (no or an ignored ``Range``, or a suffix range of an
    empty body: there are no byte positions to name in a ``Content-Range``). ``[]``: 416.
    Otherwise the ranges to send with 206, in the order asked.
    """
    if not specs:
        return None
    if length == 0:
        # "the last n bytes" of nothing is the (empty) whole; any other range is beyond it
        return None if any(first is None and last for first, last in specs) else []
    ranges = resolve_ranges(specs, length)
    if too_many_ranges(ranges):
        return []
    return ranges


def content_range(start: int, stop: int, length: int) -> str:
    """The ``Content-Range`` value of the half-open range ``[start, stop)`` of ``length``."""
    return f"bytes {start}-{stop - 1}/{length}"


def unsatisfied_content_range(length: int) -> str:
    """The ``Content-Range`` value sent with a 416: ``bytes */<length>``."""
    return f"bytes */{length}"


def parse_content_range(value: str) -> tuple[int, int, int]:
    """``'bytes 0-9/50'`` as the half-open ``(0, 10, 50)``; ``ValueError`` if malformed.

    The length must be known (``*`` as the complete length is refused).
    """
    unit, _, rest = value.strip().partition(" ")
    span, _, total = rest.partition("/")
    first_text, _, last_text = span.partition("-")
    first, last, length = _digits(first_text), _digits(last_text), _digits(total.strip())
    if unit.lower() != "bytes" or first is None or last is None or length is None \
            or last < first or last >= length:
        raise ValueError(f"invalid Content-Range {value!r}")
    return first, last + 1, length
