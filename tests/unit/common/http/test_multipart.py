"""multipart/byteranges layout and parsing."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oiofs.common.http.multipart import (
    ByteRangesLayout,
    boundary_from_content_type,
    iter_byterange_parts,
    make_boundary,
)

ENTITY = bytes(range(256)) * 4


def read_range(start, stop):
    # yield in small pieces, as a disk reader would
    for pos in range(start, stop, 7):
        yield ENTITY[pos:min(pos + 7, stop)]


def test_layout_exact_bytes():
    layout = ByteRangesLayout([(0, 2), (4, 5)], 6, "text/plain", "XYZ")
    body = b"".join(layout.iter_body(lambda s, e: [b"abcdef"[s:e]]))
    assert body == (b"--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/6\r\n\r\n"
                    b"ab\r\n--XYZ\r\nContent-Type: text/plain\r\nContent-Range: bytes 4-4/6"
                    b"\r\n\r\ne\r\n--XYZ--")
    assert layout.content_length == len(body)
    assert layout.content_type == "multipart/byteranges;boundary=XYZ"


@given(st.lists(st.tuples(st.integers(0, len(ENTITY) - 1), st.integers(1, 300)),
                min_size=1, max_size=8))
def test_layout_then_parse_round_trip(pairs):
    ranges = [(start, min(start + size, len(ENTITY))) for start, size in pairs]
    boundary = make_boundary()
    layout = ByteRangesLayout(ranges, len(ENTITY), "application/octet-stream", boundary)
    body = b"".join(layout.iter_body(read_range))
    assert len(body) == layout.content_length
    parts = [(p.start, p.stop, p.length, p.read(), p.headers["content-type"])
             for p in iter_byterange_parts(io.BytesIO(body), boundary)]
    assert parts == [(s, e, len(ENTITY), ENTITY[s:e], "application/octet-stream")
                     for s, e in ranges]


def test_parts_not_read_are_skipped():
    layout = ByteRangesLayout([(0, 100), (200, 300)], len(ENTITY), "x/y", "B")
    body = io.BytesIO(b"".join(layout.iter_body(read_range)))
    parts = iter_byterange_parts(body, "B")
    first = next(parts)
    assert first.read(10) == ENTITY[:10]
    second = next(parts)
    assert second.read() == ENTITY[200:300]
    assert list(parts) == []


@pytest.mark.parametrize("body", [
    b"",
    b"--B\r\nContent-Type: x\r\n\r\nabc\r\n--B--",                     # no Content-Range
    b"--B\r\nContent-Range: bytes 0-9/10\r\n\r\nabc",                  # body too short
    b"--B\r\nContent-Range: bytes 0-2/10\r\n\r\nabc\r\n--C--",          # wrong delimiter
    b"--B\r\nbroken header line\r\n\r\nabc\r\n--B--",
])
def test_malformed_bodies_raise_value_error(body):
    with pytest.raises(ValueError):
        for part in iter_byterange_parts(io.BytesIO(body), "B"):
            part.read()


def test_boundary_from_content_type():
    assert boundary_from_content_type("multipart/byteranges;boundary=abc") == "abc"
    assert boundary_from_content_type('Multipart/ByteRanges; boundary="a b"') == "a b"
    assert boundary_from_content_type("text/plain; boundary=abc") is None
    assert boundary_from_content_type("multipart/byteranges") is None
