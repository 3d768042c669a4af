"""Temp URL verification (sans-IO), against the client library's independent signer."""

import base64
import hashlib
import hmac

import pytest

from oiofs.client.tempurl import temp_url_signature
from oiofs.proxy.middleware.tempurl import HeaderRule
from oiofs.proxy.middleware.tempurl_verify import (
    TempURLInvalid,
    TempURLParams,
    parse_expires,
    parse_query,
    parse_signature,
    verify,
)

ALL = frozenset({"sha1", "sha256", "sha512"})
NOW = 1_700_000_000
PATH = "/v1/AUTH_a/c/o"


def check(sig, method="GET", expires=NOW + 10, keys=(b"k",), obj="o", prefix=None,
          ip_range=None, remote="127.0.0.1", digests=ALL):
    verify(TempURLParams(sig, expires, prefix, ip_range), method, "AUTH_a", "c", obj,
           list(keys), allowed_digests=digests, now=NOW, remote_addr=remote)


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
def test_client_signatures_hold(digest):
    check(temp_url_signature("k", "GET", NOW + 10, PATH, digest))
    with pytest.raises(TempURLInvalid):
        check(temp_url_signature("k", "GET", NOW + 10, PATH, digest), keys=(b"other",))


def test_second_key_and_prefixed_base64_forms():
    sig = temp_url_signature("k2", "PUT", NOW + 10, PATH)
    check(sig, "PUT", keys=(b"k1", b"k2"))
    raw = hmac.new(b"k", f"GET\n{NOW + 10}\n{PATH}".encode(), hashlib.sha256).digest()
    check("sha256:" + base64.b64encode(raw).decode())  # standard alphabet, padded
    check("sha256:" + base64.urlsafe_b64encode(raw).decode().rstrip("="))


def test_expired_method_digest_and_malformed():
    sig = temp_url_signature("k", "GET", NOW - 1, PATH)
    with pytest.raises(TempURLInvalid):
        check(sig, expires=NOW - 1)
    with pytest.raises(TempURLInvalid):
        check(temp_url_signature("k", "GET", NOW + 10, PATH), "DELETE")
    with pytest.raises(TempURLInvalid):
        check(temp_url_signature("k", "GET", NOW + 10, PATH, "sha1"),
              digests=frozenset({"sha256"}))
    for bad in ("xyz", "md5:AAAA", "sha256:!!!", "zz" * 32, "sha256:AAAA"):
        with pytest.raises(TempURLInvalid):
            check(bad)


def test_head_accepts_get_put_post_signatures():
    for method in ("GET", "PUT", "POST", "HEAD"):
        check(temp_url_signature("k", method, NOW + 10, PATH), "HEAD")
    with pytest.raises(TempURLInvalid):
        check(temp_url_signature("k", "DELETE", NOW + 10, PATH), "HEAD")


def test_prefix_and_ip_range():
    sig = temp_url_signature("k", "GET", NOW + 10, "prefix:/v1/AUTH_a/c/d/")
    check(sig, obj="d/x", prefix="d/")
    with pytest.raises(TempURLInvalid):
        check(sig, obj="e/x", prefix="d/")
    sig = temp_url_signature("k", "GET", NOW + 10, PATH, ip_range="10.0.0.0/8")
    check(sig, ip_range="10.0.0.0/8", remote="10.2.3.4")
    with pytest.raises(TempURLInvalid):
        check(sig, ip_range="10.0.0.0/8", remote="127.0.0.1")
    with pytest.raises(TempURLInvalid):  # the range is signed: it cannot be widened
        check(sig, ip_range="0.0.0.0/0", remote="127.0.0.1")


def test_quoted_and_unicode_paths():
    path = "/v1/AUTH_a/c/caf\u00e9 au lait"
    check(temp_url_signature("k", "GET", NOW + 10, path), obj="caf\u00e9 au lait")
    check(temp_url_signature("k", "GET", NOW + 10, "/v1/AUTH_a/c/caf%C3%A9%20au%20lait"),
          obj="caf\u00e9 au lait")


def test_parse_query_and_expires():
    assert parse_query("format=json") is None
    assert parse_query("temp_url_foo=1") is None
    params = parse_query("temp_url_sig=ab&temp_url_expires=2023-11-14T22:13:20Z"
                         "&temp_url_prefix=p/&filename=a%20b&inline")
    assert (params.expires, params.prefix, params.filename, params.inline) == \
        (NOW, "p/", "a b", True)
    for bad in ("temp_url_sig=ab", "temp_url_expires=1", "temp_url_sig=a&temp_url_expires=x",
                "temp_url_sig=a&temp_url_expires=-5"):
        with pytest.raises(TempURLInvalid):
            parse_query(bad)
    assert parse_expires("0") == 0
    assert parse_signature("sha1:" + base64.b64encode(b"x" * 20).decode())[0] == "sha1"


def test_header_rules():
    rule = HeaderRule("x-object-meta-* x-timestamp", "x-object-meta-public-*")
    assert rule.removes("X-Object-Meta-Color") and rule.removes("X-Timestamp")
    assert not rule.removes("X-Object-Meta-Public-Tag")
    assert not rule.removes("Content-Type")
