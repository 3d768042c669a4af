"""Segments of large objects: range-to-segments mapping and ETags (no I/O)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from oiofs.proxy.middleware.segments import (
    Segment,
    dlo_etag,
    pieces_for_range,
    slo_etag,
)

sizes = st.lists(st.integers(min_value=0, max_value=50), max_size=12)


def concatenation(segments):
    """The bytes of the large object, each segment a distinct letter (a model)."""
    return b"".join(bytes([65 + i % 26]) * s.size for i, s in enumerate(segments))


def assemble(segments, start, stop):
    """What the pieces read, from the model."""
    letters = {s.path: bytes([65 + i % 26]) for i, s in enumerate(segments)}
    return b"".join(letters[p.segment.path] * p.length
                    for p in pieces_for_range(segments, start, stop))


@given(sizes, st.integers(0, 700), st.integers(0, 700))
def test_pieces_cover_exactly_the_range(lengths, a, b):
    segments = [Segment(f"/c/{i}", None, n) for i, n in enumerate(lengths)]
    start, stop = min(a, b), max(a, b)
    assert assemble(segments, start, stop) == concatenation(segments)[start:stop]
    assert assemble(segments, start, None) == concatenation(segments)[start:]


@given(sizes, st.integers(0, 700), st.integers(0, 700))
def test_pieces_are_inside_their_segments_and_never_empty(lengths, a, b):
    segments = [Segment(f"/c/{i}", None, n) for i, n in enumerate(lengths)]
    for piece in pieces_for_range(segments, min(a, b), max(a, b)):
        assert 0 <= piece.start < piece.stop <= piece.segment.size


def test_nothing_past_the_range_is_consumed():
    consumed = []

    def lazy():
        for i in range(1000):
            consumed.append(i)
            yield Segment(f"/c/{i}", None, 10)

    pieces = list(pieces_for_range(lazy(), 5, 25))
    assert [(p.segment.path, p.start, p.stop) for p in pieces] == [
        ("/c/0", 5, 10), ("/c/1", 0, 10), ("/c/2", 0, 5)]
    assert consumed == [0, 1, 2, 3]  # the one after is looked at to see it starts too late


def test_ranged_segment_reads_inside_its_range():
    seg = Segment("/c/o", "e", 10, offset=100)
    piece = next(pieces_for_range([seg], 2, 5))
    assert piece.object_range == (102, 105)
    assert not piece.whole
    whole = next(pieces_for_range([Segment("/c/o", "e", 10)], 0, None))
    assert whole.whole and whole.object_range == (0, 10)


def test_dlo_etag_is_md5_of_the_etags():
    assert dlo_etag(["aa", '"bb"']) == hashlib.md5(b"aabb").hexdigest()
    assert dlo_etag([]) == hashlib.md5(b"").hexdigest()


def test_slo_etag_includes_ranges():
    plain = [Segment("/c/a", "e1", 5), Segment("/c/b", "e2", 5)]
    assert slo_etag(plain) == hashlib.md5(b"e1e2").hexdigest()
    ranged = [Segment("/c/a", "e1", 5, offset=10), Segment("/c/b", "e2", 5)]
    assert slo_etag(ranged) == hashlib.md5(b"e1:10-14;e2").hexdigest()
