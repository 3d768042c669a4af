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
    ok = {"X-Object-Meta-" + "k" * constraints.MAX_META_NAME_LENGTH: "v"}
    constraints.check_metadata(ok, "object")
    with pytest.raises(HTTPBadRequest, match="name too long"):
        constraints.check_metadata({"X-Object-Meta-" + "k" * 129: "v"}, "object")
    with pytest.raises(HTTPBadRequest, match="value longer"):
        constraints.check_metadata({"X-Object-Meta-k": "v" * 257}, "object")
    many = {f"X-Object-Meta-k{i}": "v" for i in range(constraints.MAX_META_COUNT + 1)}
    with pytest.raises(HTTPBadRequest, match="Too many"):
        constraints.check_metadata(many, "object")
    big = {f"X-Object-Meta-k{i:02}": "v" * 250 for i in range(17)}
    with pytest.raises(HTTPBadRequest, match="Total metadata"):
        constraints.check_metadata(big, "object")
    with pytest.raises(HTTPBadRequest, match="empty"):
        constraints.check_metadata({"X-Object-Meta-": "v"}, "object")
    # other types' metadata is not counted
    constraints.check_metadata({"X-Container-Meta-k": "v" * 300}, "object")


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
            {"Content-Length": str(constraints.MAX_FILE_SIZE + 1)})


def test_delete_headers():
    assert constraints.check_delete_headers({"X-Delete-After": "10"}, 100.0) == 110
    assert constraints.check_delete_headers({"X-Delete-At": "200"}, 100.0) == 200
    assert constraints.check_delete_headers({}, 100.0) is None
    for headers in ({"X-Delete-At": "50"}, {"X-Delete-After": "-1"},
                    {"X-Delete-At": "x"}):
        with pytest.raises(HTTPBadRequest):
            constraints.check_delete_headers(headers, 100.0)


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
