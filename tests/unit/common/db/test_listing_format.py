"""Listing parameters, content negotiation and the json/xml/plain bodies (sans-IO)."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from oiofs.common import constraints
from oiofs.common.db.listing_format import (
    QueryParams,
    account_row_to_record,
    extract_swift_bytes,
    get_listing_content_type,
    iter_listing_body,
    max_listing_limit,
    object_row_to_record,
    parse_listing_params,
)
from oiofs.common.exceptions import HTTPBadRequest, HTTPNotAcceptable, HTTPPreconditionFailed
from oiofs.common.timestamp import Timestamp


def params(query):
    return parse_listing_params(QueryParams(query), 10000)


def test_defaults():
    p = params("")
    assert (p.limit, p.marker, p.end_marker, p.prefix, p.delimiter, p.path, p.reverse) == (
        10000, "", None, None, None, None, False)


def test_values_are_percent_decoded_utf8():
    p = params("prefix=caf%C3%A9%2F&marker=a+b&end_marker=z&delimiter=%2F&path=&reverse=on"
               "&limit=5")
    assert p.prefix == "café/" and p.marker == "a b" and p.end_marker == "z"
    assert p.delimiter == "/" and p.path == "" and p.reverse and p.limit == 5


@pytest.mark.parametrize("query", ["prefix=%FF", "marker=%C3", "delimiter=%00",
                                   "path=a%00b", "end_marker=%ED%A0%80"])
def test_invalid_utf8_or_nul_is_400(query):
    with pytest.raises(HTTPBadRequest):
        params(query)


def test_limits():
    assert params("limit=0").limit == 0
    assert params("limit=10000").limit == 10000
    assert params("limit=-1").limit == 10000  # not a number: ignored, as Swift does
    assert params("limit=abc").limit == 10000
    with pytest.raises(HTTPPreconditionFailed):
        params("limit=10001")


@pytest.mark.parametrize("delimiter, expected", [("//", "//"), ("ab", "ab"),
                                                  ("%C4%80", "\u0100"), ("-%2F-", "-/-")])
def test_delimiters_of_any_length(delimiter, expected):
    assert params("delimiter=" + delimiter).delimiter == expected


def test_max_listing_limit_is_the_advertised_constraint():
    assert max_listing_limit("container") == \
        constraints.LIMITS.container_listing_limit
    assert max_listing_limit("account") == \
        constraints.LIMITS.account_listing_limit


@pytest.mark.parametrize("query,accept,expected", [
    ("", None, "text/plain"),
    ("format=json", None, "application/json"),
    ("format=XML", "application/json", "application/xml"),
    ("format=nonsense", None, "text/plain"),
    ("", "application/json", "application/json"),
    ("", "text/xml", "text/xml"),
    ("", "application/xml;q=0.5, application/json;q=0.9", "application/json"),
    ("", "*/*", "text/plain"),
])
def test_content_type_negotiation(query, accept, expected):
    assert get_listing_content_type(QueryParams(query), accept) == expected


def test_unacceptable_accept_is_406():
    with pytest.raises(HTTPNotAcceptable):
        get_listing_content_type(QueryParams(""), "image/png")


def test_swift_bytes():
    assert extract_swift_bytes("text/plain") == ("text/plain", None)
    assert extract_swift_bytes("a/b; charset=utf-8;swift_bytes=12") == (
        "a/b;charset=utf-8", "12")
    record = object_row_to_record(("o", Timestamp(1).internal, 0,
                                   "a/b;swift_bytes=12", "e"))
    assert record["bytes"] == 12 and record["content_type"] == "a/b"
    broken = object_row_to_record(("o", Timestamp(1).internal, 3, "a/b;swift_bytes=x", "e"))
    assert broken["bytes"] == 3


def test_records():
    assert object_row_to_record(("d/", "0", 0, None, "")) == {"subdir": "d/"}
    assert object_row_to_record(("o", "1700000000.12346", 5, "text/plain", "etag")) == {
        "bytes": 5, "hash": "etag", "name": "o", "content_type": "text/plain",
        "last_modified": "2023-11-14T22:13:20.123460"}
    assert account_row_to_record(("c", 3, 30, "1700000000.00000", 0)) == {
        "name": "c", "count": 3, "bytes": 30, "last_modified": "2023-11-14T22:13:20.000000"}
    assert account_row_to_record(("p/", 0, 0, "0", 1)) == {"subdir": "p/"}


OBJECTS = [{"bytes": 5, "hash": "h", "name": "<a&b> \u2603 \"q\"", "content_type": "t/p",
            "last_modified": "2024-01-02T03:04:05.123456"}, {"subdir": "d/"}]


def body(records, content_type, root="container", name="c"):
    return b"".join(iter_listing_body(records, content_type, root, name))


def test_json_body_is_what_json_dumps_gives():
    assert body(OBJECTS, "application/json") == json.dumps(OBJECTS).encode("ascii")
    assert body([], "application/json") == b"[]"


def test_plain_body():
    assert body(OBJECTS, "text/plain") == "<a&b> \u2603 \"q\"\nd/\n".encode()
    assert body([], "text/plain") == b""


def test_xml_body_parses_back():
    data = body(OBJECTS, "application/xml", name="c&<")
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<container name="c&amp;&lt;">')
    root = etree.fromstring(data)
    assert root.tag == "container" and root.get("name") == "c&<"
    obj, sub = list(root)
    assert [child.tag for child in obj] == ["name", "hash", "bytes", "content_type",
                                            "last_modified"]
    assert obj.findtext("name") == OBJECTS[0]["name"] and obj.findtext("bytes") == "5"
    assert sub.tag == "subdir" and sub.get("name") == "d/" and sub.findtext("name") == "d/"
    empty = etree.fromstring(body([], "text/xml", "account", "a"))
    assert empty.tag == "account" and len(empty) == 0


def test_xml_account_body_and_unrepresentable_characters():
    records = [{"name": "bad\x01name", "count": 1, "bytes": 2, "last_modified": "x"}]
    root = etree.fromstring(body(records, "application/xml", "account", "a"))
    container = root[0]
    assert [c.tag for c in container] == ["name", "count", "bytes", "last_modified"]
    assert container.findtext("name") == "bad\ufffdname"


@given(st.lists(st.text(min_size=1).filter(lambda s: "\x00" not in s), max_size=1200))
def test_large_streamed_json_is_valid(names):
    records = [{"subdir": n} for n in names]
    chunks = list(iter_listing_body(records, "application/json", "container", "c"))
    assert json.loads(b"".join(chunks)) == records


@pytest.mark.parametrize("ch", ["\x00", "\x01", "\x0b", "\x1f", "\ud800", "\udfff", "\ufffe",
                                "\uffff"])
def test_xml_listing_replaces_what_xml_cannot_hold(ch):
    from xml.etree import ElementTree

    from oiofs.common.db.listing_format import iter_xml
    record = {"name": f"a{ch}b", "hash": "h", "bytes": 1, "content_type": "t",
              "last_modified": "x"}
    body = b"".join(iter_xml([record], "container", f"c{ch}"))
    tree = ElementTree.fromstring(body)
    assert tree.get("name") == "c\ufffd"
    assert tree.find("object/name").text == "a\ufffdb"


@pytest.mark.parametrize("ch", ["\t", "\n", "\x7f", "\x85", "\ud7ff", "\ue000", "\ufffd",
                                "\U00010000", "\U0010ffff"])
def test_xml_listing_keeps_what_xml_can_hold(ch):
    from oiofs.common.db.listing_format import xml_safe
    assert xml_safe(f"a{ch}b") == f"a{ch}b"
