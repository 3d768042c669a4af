"""Path parsing and request helpers."""

import re

import pytest

from oiofs.common.exceptions import HTTPBadRequest, HTTPNotFound, HTTPPreconditionFailed
from oiofs.proxy.request import (
    ProxyRequest,
    env_key,
    header_name,
    new_trans_id,
    split_api_path,
)


@pytest.mark.parametrize("path, expected", [
    ("/v1/AUTH_a", ("v1", "AUTH_a", None, None)),
    ("/v1/AUTH_a/", ("v1", "AUTH_a", None, None)),
    ("/v1.0/AUTH_a/c", ("v1.0", "AUTH_a", "c", None)),
    ("/v1/AUTH_a/c/", ("v1", "AUTH_a", "c", None)),
    ("/v1/AUTH_a/c/o", ("v1", "AUTH_a", "c", "o")),
    ("/v1/AUTH_a/c/d/e/f.txt", ("v1", "AUTH_a", "c", "d/e/f.txt")),
    ("/v1/AUTH_a/c/../../AUTH_b/c/o", ("v1", "AUTH_a", "c", "../../AUTH_b/c/o")),
    ("/v1/AUTH_a/c//o", ("v1", "AUTH_a", "c", "/o")),
])
def test_split_api_path(path, expected):
    assert split_api_path(path) == expected


@pytest.mark.parametrize("path, error", [
    ("/v2/AUTH_a", HTTPBadRequest),
    ("/", HTTPNotFound),
    ("//v1/AUTH_a", HTTPNotFound),
    ("v1/AUTH_a", HTTPNotFound),
    ("/v1", HTTPPreconditionFailed),
    ("/v1/", HTTPPreconditionFailed),
    ("/v2", HTTPPreconditionFailed),
    ("/v1//c", HTTPPreconditionFailed),
    ("/v1/AUTH_a//o", HTTPPreconditionFailed),
    ("/v1/../AUTH_b/c", HTTPBadRequest),
    ("/v1/AUTH_a/../AUTH_b/c", HTTPBadRequest),
    ("/v1/AUTH_a/./o", HTTPBadRequest),
    ("/v1/AUTH_a/c/..", HTTPBadRequest),
    ("/v1/AUTH_a/c/.", HTTPBadRequest),
])
def test_split_api_path_refuses(path, error):
    with pytest.raises(error):
        split_api_path(path)


def environ(path, **headers):
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": path}
    env.update({env_key(k.replace("_", "-")): v for k, v in headers.items()})
    return env


def test_request_decodes_utf8_names():
    raw = "/v1/AUTH_a/c\u00e9/obj".encode().decode("latin-1")
    req = ProxyRequest(environ(raw), "tx1")
    assert req.container == "c\u00e9"


def test_request_refuses_invalid_utf8():
    raw = b"/v1/AUTH_a/c/\xff\xfe".decode("latin-1")
    with pytest.raises(HTTPPreconditionFailed):
        ProxyRequest(environ(raw), "tx1")


def test_request_refuses_nul():
    with pytest.raises(HTTPPreconditionFailed):
        ProxyRequest(environ("/v1/AUTH_a/c/o\x00"), "tx1")


def test_headers():
    req = ProxyRequest(environ("/v1/AUTH_a/c/o", X_Newest="True", X_Object_Meta_Color="red",
                               X_Object_Meta_Size="1"), "tx1")
    assert req.true_header("X-Newest")
    assert not req.true_header("X-Detect-Content-Type")
    assert sorted(req.headers_with_prefix("X-Object-Meta-")) == [
        ("X-Object-Meta-Color", "red"), ("X-Object-Meta-Size", "1")]
    assert req.get("x-object-meta-color") == "red"


def test_env_key_and_header_name():
    assert env_key("Content-Length") == "CONTENT_LENGTH"
    assert env_key("X-Auth-Token") == "HTTP_X_AUTH_TOKEN"
    assert header_name("HTTP_X_OBJECT_META_COLOR") == "X-Object-Meta-Color"


def test_trans_id_format():
    first, second = new_trans_id(), new_trans_id("-sfx")
    assert re.fullmatch(r"tx[0-9a-f]{21}-[0-9a-f]{10}", first)
    assert second.endswith("-sfx") and first != second[:-4]
