"""SLO manifests: parsing the client's list, checking segments, stored and raw forms."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oiofs.proxy.middleware.slo_manifest import (
    Found,
    ManifestError,
    check_segment,
    format_problems,
    parse_put_manifest,
    stored_to_raw,
    stored_to_segments,
)


def parse(items, max_segments=1000):
    return parse_put_manifest(json.dumps(items).encode(), max_segments)


def test_good_manifest():
    got = parse([{"path": "c/o", "etag": '"abc"', "size_bytes": 5},
                 {"path": "/c/d/e", "range": "1-2"}])
    assert [(r.path, r.etag, r.size_bytes) for r in got] == [("/c/o", "abc", 5),
                                                             ("/c/d/e", None, None)]
    assert (got[1].range.first, got[1].range.last) == (1, 2)


@pytest.mark.parametrize("body, text", [
    (b"{", "Manifest must be valid JSON.\n"),
    (b'{"a": 1}', "Manifest must be a list.\n"),
    (b"[]", "Manifest must have at least one segment.\n"),
])
def test_whole_body_problems(body, text):
    with pytest.raises(ManifestError) as err:
        parse_put_manifest(body, 10)
    assert str(err.value) == text


def test_every_entry_problem_is_listed():
    with pytest.raises(ManifestError) as err:
        parse([{"path": "/c/o"}, "x", {"path": "/c"}, {"path": "/c/o", "extra": 1},
               {"path": "/c/o", "etag": 5}, {"path": "/c/o", "size_bytes": True},
               {"path": "/c/o", "range": "5-1"}, {"path": "/c/o", "range": "1-2,4-5"},
               {"path": "/c/o", "data": "eA=="}])
    assert str(err.value).splitlines() == [
        "Index 1: not a JSON object",
        "Index 2: path does not refer to an object. Path must be of the form "
        "/container/object.",
        'Index 3: extraneous keys "extra"',
        'Index 4: "etag" must be a string or null (if provided)',
        'Index 5: "size_bytes" must be a non-negative integer, or null',
        "Index 6: invalid range",
        "Index 7: multiple ranges (only one allowed)",
        "Index 8: inline data segments are not supported",
    ]


def test_too_many_segments():
    with pytest.raises(ManifestError, match="<= 2"):
        parse([{"path": "/c/o"}] * 3, max_segments=2)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.sampled_from(["path", "etag", "size_bytes",
                                                       "range", "x"]), kids, max_size=4),
                    max_leaves=12))
def test_any_json_is_parsed_or_refused_cleanly(value):
    try:
        parse_put_manifest(json.dumps(value).encode(), 1000)
    except ManifestError as err:
        assert str(err)


def requested(**kw):
    entry = {"path": "/c/o"}
    entry.update(kw)
    return parse([entry])[0]


def test_check_segment_outcomes():
    found = Found(200, 10, "abc", "text/plain", "now")
    entry, problem = check_segment(requested(etag="abc", size_bytes=10), found, 1, True)
    assert problem is None
    assert entry == {"name": "/c/o", "bytes": 10, "hash": "abc",
                     "content_type": "text/plain", "last_modified": "now"}
    assert check_segment(requested(etag="abd"), found, 1, True) == (None, "Etag Mismatch")
    assert check_segment(requested(size_bytes=9), found, 1, True) == (None, "Size Mismatch")
    assert check_segment(requested(), Found(404), 1, True) == (None, "404 Not Found")
    assert check_segment(requested(range="20-"), found, 1, True) == (
        None, "Unsatisfiable Range")
    assert check_segment(requested(), Found(200, 0, "e"), 1, True)[1].startswith("Too small")
    assert check_segment(requested(), found, 11, False)[1].startswith("Too small")
    assert check_segment(requested(), found, 11, True)[1] is None  # the last may be small
    ranged, _ = check_segment(requested(range="2-4"), found, 1, True)
    assert (ranged["bytes"], ranged["range"]) == (3, "2-4")
    whole, _ = check_segment(requested(range="0-"), found, 1, True)
    assert "range" not in whole  # the whole object is no range


def test_stored_and_raw_forms():
    stored = [{"name": "/c/a", "bytes": 3, "hash": "h1", "range": "2-4"},
              {"name": "/c/b", "bytes": 7, "hash": "h2", "sub_slo": True}]
    segments = stored_to_segments(stored)
    assert [(s.path, s.size, s.offset, s.sub_slo) for s in segments] == [
        ("/c/a", 3, 2, False), ("/c/b", 7, None, True)]
    assert stored_to_raw(stored) == [
        {"path": "/c/a", "etag": "h1", "size_bytes": None, "range": "2-4"},
        {"path": "/c/b", "etag": "h2", "size_bytes": 7}]
    with pytest.raises(ManifestError):
        stored_to_segments([{"bytes": 1}])
    with pytest.raises(ManifestError):
        stored_to_segments({"not": "a list"})


def test_problem_format():
    assert format_problems([("/c/o o", "Etag Mismatch")]) == "Errors:\n/c/o%20o, Etag Mismatch\n"
