"""The response around an assembled large object, and DLO manifest values (no I/O)."""

from __future__ import annotations

import pytest

from oiofs.proxy.middleware.dlo import manifest_problem, split_manifest
from oiofs.proxy.middleware.largeobj import IterReader, object_parts, query_without
from oiofs.proxy.middleware.segment_reader import assembled_response

DATA = bytes(range(100))


def answer(method="GET", length=100, etag="abc", **headers):
    environ = {"REQUEST_METHOD": method}
    environ.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
    base = [("Content-Type", "text/plain"), ("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")]
    status, out, body = assembled_response(
        environ, base, length, etag,
        lambda start, stop: [DATA[start:stop if stop is not None else len(DATA)]])
    return status, dict(out), b"".join(body)


def test_whole_object():
    status, headers, body = answer()
    assert (status, headers["Content-Length"], headers["Etag"], body) == (
        "200 OK", "100", '"abc"', DATA)
    assert answer("HEAD")[2] == b""


def test_one_range_and_unsatisfiable():
    status, headers, body = answer(range="bytes=10-19")
    assert (status, headers["Content-Range"], body) == ("206 Partial Content",
                                                        "bytes 10-19/100", DATA[10:20])
    status, headers, body = answer(range="bytes=200-")
    assert (status, headers["Content-Range"], body) == (
        "416 Requested Range Not Satisfiable", "bytes */100", b"")


def test_several_ranges_or_unknown_length_serve_everything():
    assert answer(range="bytes=1-2,5-6")[0] == "200 OK"
    status, headers, body = answer(length=None, etag=None, range="bytes=1-2")
    assert (status, body) == ("200 OK", DATA)
    assert "Content-Length" not in headers and "Etag" not in headers


@pytest.mark.parametrize("headers, status", [
    ({"if_none_match": '"abc"'}, "304 Not Modified"),
    ({"if_match": '"zzz"'}, "412 Precondition Failed"),
    ({"if_match": '"abc"'}, "200 OK"),
    ({"if_modified_since": "Fri, 02 Jan 2026 00:00:00 GMT"}, "304 Not Modified"),
])
def test_conditions_use_the_large_objects_etag(headers, status):
    assert answer(**headers)[0] == status


@pytest.mark.parametrize("value, ok", [
    ("c/p", True), ("c/", True), ("/c/p", True), ("c%2Fx/p", True), ("c", False),
    ("/", False), ("/p", False), ("../p", False), ("\xff/p", False),
])
def test_manifest_values(value, ok):
    assert (manifest_problem(value) is None) == ok


def test_split_manifest_unquotes():
    assert split_manifest("segs/a%20b/") == ("segs", "a b/")


def test_object_parts_and_query():
    assert object_parts({"PATH_INFO": "/v1/a/c/o/x"}) == ("v1", "a", "c", "o/x")
    assert object_parts({"PATH_INFO": "/v1/a/c"}) is None
    assert object_parts({"PATH_INFO": "/info"}) is None
    env = {"QUERY_STRING": "multipart-manifest=put&heartbeat=on&x=1"}
    assert query_without(env, "multipart-manifest", "heartbeat") == "x=1"


def test_iter_reader_keeps_one_chunk_and_reports_failures():
    reader = IterReader([b"abc", b"de"])
    assert [reader.read(2), reader.read(2), reader.read(5), reader.read(5)] == [
        b"ab", b"c", b"de", b""]

    def broken():
        yield b"x"
        raise RuntimeError("segment gone")

    reader = IterReader(broken())
    assert reader.read(10) == b"x"
    with pytest.raises(OSError):
        reader.read(10)
