"""Byte ranges: parsing ``Range`` headers and resolving them against a body length.

Two steps, both without I/O:

1. :func:`parse_range_header` reads the header into :class:`ByteRangeSpec` values, or
   answers ``None`` when the header must be ignored (absent, another unit, invalid syntax,
   a range whose last byte precedes its first, more than :data:`MAX_RANGES` ranges). An
   ignored header means the whole body is served with 200 (RFC 7233 section 3.1).
2. :func:`resolve_ranges` turns the specs into half-open ``(start, stop)`` offsets for a body
   of a given length, dropping unsatisfiable ones and clipping the rest. An empty result
   means 416; one range means 206 with ``Content-Range``; more mean
   ``multipart/byteranges``. Ranges stay in the order asked and are not merged.

>>> specs = parse_range_header('bytes=0-9, -5, 100-')
>>> resolve_ranges(specs, 50)
[(0, 10), (45, 50)]
>>> content_range(0, 10, 50)
'bytes 0-9/50'
>>> parse_range_header('bytes=9-3') is None
True
"""

from __future__ import annotations

from typing import NamedTuple

#: more ranges than this in one header and the header is ignored (whole body served):
#: answering thousands of tiny ranges costs far more than the body itself
MAX_RANGES = 50


class ByteRangeSpec(NamedTuple):
    """One ``byte-range-spec`` as written by the client.

    ``first-last`` is ``(first, last)``; ``first-`` is ``(first, None)``; the suffix form
    ``-n`` (the last n bytes) is ``(None, n)``. Positions are inclusive, as in the header.
    """

    first: int | None
    last: int | None


def _digits(text: str) -> int | None:
    # int() would also accept "+5", " 5", "5_0" and non-ASCII digits: refuse them.
    if text and text.isascii() and text.isdigit():
        return int(text)
    return None


def parse_range_header(value: str | None) -> list[ByteRangeSpec] | None:
    """The specs of a ``Range`` header, or ``None`` when the header is to be ignored."""
    if not value:
        return None
    unit, sep, rest = value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    specs: list[ByteRangeSpec] = []
    for element in rest.split(","):
        element = element.strip(" \t")
        if not element:
            continue  # RFC 7230 list syntax allows empty elements
        first_text, dash, last_text = element.partition("-")
        if not dash:
            return None
        if not first_text:
            suffix = _digits(last_text)
            if suffix is None:
                return None
            specs.append(ByteRangeSpec(None, suffix))
            continue
        first = _digits(first_text)
        if first is None:
            return None
        if not last_text:
            specs.append(ByteRangeSpec(first, None))
            continue
        last = _digits(last_text)
        if last is None or last < first:
            return None
        specs.append(ByteRangeSpec(first, last))
        if len(specs) > MAX_RANGES:
            return None
    if not specs or len(specs) > MAX_RANGES:
        return None
    return specs


def resolve_ranges(specs: list[ByteRangeSpec], length: int) -> list[tuple[int, int]]:
    """The satisfiable ranges of ``specs`` for a body of ``length`` bytes, half-open.

    A range is unsatisfiable when it starts at or after the end of the body, or is a suffix
    of length 0; a body of length 0 therefore satisfies no range at all. Ranges reaching
    past the end are clipped to it.
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
