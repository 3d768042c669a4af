import pytest

from oiofs.common import constraints
from oiofs.common.exceptions import (
    HTTPBadRequest,
    HTTPLengthRequired,
    HTTPNotImplemented,
    HTTPRequestEntityTooLarge,
)


def test_split_path_segments():
    assert constraints.split_path("/a/c", 1, 3) == ["a", "c", None]
    assert constraints.split_path("/d/p/a/c/o/with/slash", 5, 5, True) == [
        "d", "p", "a", "c", "o/with/slash"]
    assert constraints.split_path("/a/", 1, 2) == ["a", None]


@pytest.mark.parametrize("path", ["a/c", "//c", "/a//c", "/../c", "/a/./c", "/a/b/c/d"])
def test_split_path_refuses_tricks(path):
    with pytest.raises(HTTPBadRequest):
        constraints.split_path(path, 2, 3)


def test_check_metadata_limits():
    ok = {"X-Object-Meta-" + "k" * constraints.LIMITS.max_meta_name_length: "v"}
    constraints.check_metadata(ok, "object")
    with pytest.raises(HTTPBadRequest, match="name too long"):
        constraints.check_metadata({"X-Object-Meta-" + "k" * 129: "v"}, "object")
    with pytest.raises(HTTPBadRequest, match="value longer"):
        constraints.check_metadata({"X-Object-Meta-k": "v" * 257}, "object")
    many = {f"X-Object-Meta-k{i}": "v" for i in range(constraints.LIMITS.max_meta_count + 1)}
    with pytest.raises(HTTPBadRequest, match="Too many"):
        constraints.check_metadata(many, "object")
    big = {f"X-Object-Meta-k{i:02}": "v" * 250 for i in range(17)}
    with pytest.raises(HTTPBadRequest, match="Total metadata"):
        constraints.check_metadata(big, "object")
    with pytest.raises(HTTPBadRequest, match="empty"):
        constraints.check_metadata({"X-Object-Meta-": "v"}, "object")
    # other types' metadata is not counted
    constraints.check_metadata({"X-Container-Meta-k": "v" * 300}, "object")


@pytest.mark.parametrize("headers, text", [
    ({"X-Object-Meta-" + "k" * 129: "v"}, "Metadata name too long: x-object-meta-" + "k" * 129),
    ({"X-Object-Meta-K": "v" * 257}, "Metadata value longer than 256: x-object-meta-K"),
    ({f"X-Object-Meta-K{i}": "v" for i in range(91)}, "Too many metadata items; max 90"),
    ({f"X-Object-Meta-K{i:02}": "v" * 250 for i in range(17)},
     "Total metadata too large; max 4096"),
])
def test_check_metadata_texts_are_swifts(headers, text):
    with pytest.raises(HTTPBadRequest) as info:
        constraints.check_metadata(headers, "object")
    assert info.value.description == text


def test_check_metadata_utf8():
    not_utf8 = b"\xff\xfe".decode("latin-1")  # as a WSGI string
    # object values are kept byte for byte; account and container values must be UTF-8
    constraints.check_metadata({"X-Object-Meta-K": not_utf8}, "object")
    for kind in ("account", "container"):
        with pytest.raises(HTTPBadRequest, match="valid UTF-8"):
            constraints.check_metadata({f"X-{kind.title()}-Meta-K": not_utf8}, kind)
    # names must be UTF-8 everywhere, and representable on the wire (latin-1 WSGI text)
    for name in ("X-Object-Meta-" + not_utf8, "X-Object-Meta-\u0178", "X-Object-Meta-a\x00"):
        with pytest.raises(HTTPBadRequest, match="valid UTF-8"):
            constraints.check_metadata({name: "v"}, "object")
    constraints.check_metadata({"X-Object-Meta-" + "caf\u00e9".encode().decode("latin-1"): "v"},
                               "object")


def test_max_header_count_leaves_room_for_all_metadata():
    assert constraints.max_header_count() == constraints.LIMITS.max_meta_count + 36


def test_if_none_match_on_put():
    constraints.check_if_none_match(None)
    constraints.check_if_none_match("*")
    constraints.check_if_none_match('"abc", *')
    for value in ('"abc"', "", "abc, def"):
        with pytest.raises(HTTPBadRequest, match=r"If-None-Match only supports \*"):
            constraints.check_if_none_match(value)


def test_check_utf8():
    assert constraints.check_utf8("caf\u00e9".encode().decode("latin-1"))
    assert not constraints.check_utf8(b"\xff\xfe".decode("latin-1"))
    assert not constraints.check_utf8("a\x00b")
    assert not constraints.check_utf8("")


def test_content_length_checks():
    assert constraints.check_content_length({"Content-Length": "12"}) == 12
    assert constraints.check_content_length({"Transfer-Encoding": "chunked"}) is None
    with pytest.raises(HTTPLengthRequired):
        constraints.check_content_length({})
    with pytest.raises(HTTPBadRequest):
        constraints.check_content_length({"Content-Length": "-1"})
    with pytest.raises(HTTPNotImplemented):
        constraints.check_content_length({"Transfer-Encoding": "gzip"})
    with pytest.raises(HTTPRequestEntityTooLarge):
        constraints.check_content_length(
            {"Content-Length": str(constraints.LIMITS.max_file_size + 1)})


def test_delete_headers():
    assert constraints.check_delete_headers({"X-Delete-After": "10"}, 100.0) == 110
    assert constraints.check_delete_headers({"X-Delete-At": "200"}, 100.0) == 200
    assert constraints.check_delete_headers({}, 100.0) is None
    for headers in ({"X-Delete-At": "50"}, {"X-Delete-After": "-1"},
                    {"X-Delete-At": "x"}, {"X-Delete-After": "0"},
                    {"X-Delete-At": "-5"}, {"X-Delete-After": "-" + "9" * 400}):
        with pytest.raises(HTTPBadRequest):
            constraints.check_delete_headers(headers, 100.0)


@pytest.mark.parametrize("headers, expected", [
    # Swift keeps X-Delete-At to 10 digits: later times are capped at 9999999999
    ({"X-Delete-At": "99999999999"}, 9999999999),
    ({"X-Delete-At": "9" * 400}, 9999999999),
    ({"X-Delete-At": "9999999999"}, 9999999999),
    ({"X-Delete-At": "0001700000100"}, 1700000100),
    ({"X-Delete-After": "99999999999"}, 9999999999),
    ({"X-Delete-After": "9" * 400}, 9999999999),  # no float overflow
    ({"X-Delete-After": "9999999999"}, 9999999999),
    ({"X-Delete-After": "10", "X-Delete-At": "99999999999"}, 1700000010),  # After wins
])
def test_delete_at_is_normalised_as_swift_does(headers, expected):
    assert constraints.check_delete_headers(headers, 1700000000.5) == expected


def test_name_lengths():
    constraints.check_name_lengths("a" * 256, "c" * 256, "o" * 1024)
    with pytest.raises(HTTPBadRequest):
        constraints.check_name_lengths("a", "c", "o" * 1025)
    with pytest.raises(HTTPBadRequest):  # measured in UTF-8 bytes
        constraints.check_name_lengths("a", "\u00e9" * 129)


def test_valid_timestamp():
    assert constraints.valid_timestamp("1700000000.1").normal == "1700000000.10000"
    for bad in (None, "", "soon"):
        with pytest.raises(HTTPBadRequest):
            constraints.valid_timestamp(bad)
