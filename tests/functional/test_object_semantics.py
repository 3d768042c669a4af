"""Object semantics as Swift 2.38 has them, through the real proxy of the shared cluster.

Ranges (several, suffix, overlapping, unsatisfiable, ignored) and the headers of their
answers, preconditions in Swift's order, COPY of a range, metadata limits and values that
are not UTF-8 (sent and read back on raw sockets: ``http.client`` would re-encode them),
POST changing the content type, ``X-Delete-At`` normalisation, ``If-None-Match`` on PUT.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket

import pytest

from oiofs.common.http.multipart import boundary_from_content_type, iter_byterange_parts
from tests.support.proxy_client import Client, unique

BODY = b"0123456789"


@pytest.fixture(scope="module")
def container(client):
    name = unique("objsem")
    assert client.request("PUT", f"/{name}").status == 201
    return name


@pytest.fixture
def obj(client, container):
    """A fresh 10-byte object: its path below the storage URL."""
    path = f"/{container}/{unique('o')}"
    assert client.request("PUT", path, body=BODY).status == 201
    return path


class RawResp:
    """A response read off a socket: status, headers as bytes (lower-case names), body."""

    def __init__(self, data: bytes):
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.status = int(lines[0].split()[1])
        self.headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers[name.strip().lower()] = value.strip()


def raw(client: Client, method: str, path: str, headers: list[tuple[bytes, bytes]] = (),
        body: bytes = b"") -> RawResp:
    """One request with exactly these header bytes, on its own connection."""
    lines = [f"{method} {client.base_path}{path} HTTP/1.1".encode(), b"Host: 127.0.0.1",
             b"X-Auth-Token: " + client.token.encode(), b"Connection: close",
             b"Content-Length: %d" % len(body)]
    lines += [name + b": " + value for name, value in headers]
    sock = socket.create_connection((client.host, client.port), timeout=30)
    try:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    finally:
        sock.close()
    return RawResp(data)


# --- ranges ------------------------------------------------------------------------

def parts_of(resp) -> list[tuple[str, bytes]]:
    boundary = boundary_from_content_type(resp.headers["content-type"])
    assert boundary
    return [(part.headers["content-range"], part.read())
            for part in iter_byterange_parts(io.BytesIO(resp.body), boundary)]


def test_multiple_ranges_with_spaces(client, obj):
    resp = client.request("GET", obj, headers={"Range": "bytes = 0-1 , 4-5,-2"})
    assert resp.status == 206
    assert resp.headers["content-type"].startswith("multipart/byteranges;boundary=")
    assert "content-range" not in resp.headers
    assert resp.headers["etag"] == hashlib.md5(BODY).hexdigest()
    assert resp.headers["accept-ranges"] == "bytes" and "last-modified" in resp.headers
    assert int(resp.headers["content-length"]) == len(resp.body)
    assert parts_of(resp) == [("bytes 0-1/10", b"01"), ("bytes 4-5/10", b"45"),
                              ("bytes 8-9/10", b"89")]


def test_single_range_headers(client, obj):
    resp = client.request("GET", obj, headers={"Range": "bytes=-3"})
    assert (resp.status, resp.body) == (206, b"789")
    assert resp.headers["content-range"] == "bytes 7-9/10"
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["etag"] == hashlib.md5(BODY).hexdigest()
    assert resp.headers["accept-ranges"] == "bytes" and "last-modified" in resp.headers
    # a suffix longer than the body is the whole body, still as a range
    resp = client.request("GET", obj, headers={"Range": "bytes=-100"})
    assert (resp.status, resp.body, resp.headers["content-range"]) == (206, BODY,
                                                                        "bytes 0-9/10")


def test_overlapping_ranges(client, obj):
    # up to two overlapping pairs are served, in the order asked
    resp = client.request("GET", obj, headers={"Range": "bytes=0-5,3-8"})
    assert resp.status == 206
    assert parts_of(resp) == [("bytes 0-5/10", b"012345"), ("bytes 3-8/10", b"345678")]
    # more is refused, as Swift does (RFC 7233 section 6.1)
    resp = client.request("GET", obj, headers={"Range": "bytes=0-5,1-6,2-7"})
    assert resp.status == 416
    assert resp.headers["content-range"] == "bytes */10"


def test_unsatisfiable_ranges(client, obj):
    for value in ("bytes=10-", "bytes=20-30,40-", "bytes=-0"):
        resp = client.request("GET", obj, headers={"Range": value})
        assert resp.status == 416, value
        assert resp.headers["content-range"] == "bytes */10"
    # only some satisfiable: those are served (one left: a plain single-range 206)
    resp = client.request("GET", obj, headers={"Range": "bytes=20-30,2-3"})
    assert (resp.status, resp.body, resp.headers["content-range"]) == (206, b"23",
                                                                        "bytes 2-3/10")


@pytest.mark.parametrize("value", ["bytes=5-1", "bytes=0-1,,4-5", "bytes=0-1,", "items=0-1",
                                   "bytes=a-b", "bytes=5", "bytes=-"])
def test_ignored_ranges_answer_200(client, obj, value):
    resp = client.request("GET", obj, headers={"Range": value})
    assert (resp.status, resp.body) == (200, BODY)
    assert "content-range" not in resp.headers


def test_ranges_of_an_empty_object(client, container):
    path = f"/{container}/{unique('empty')}"
    assert client.request("PUT", path, body=b"").status == 201
    resp = client.request("GET", path, headers={"Range": "bytes=-5"})
    assert (resp.status, resp.body) == (200, b"")
    assert client.request("GET", path, headers={"Range": "bytes=0-"}).status == 416


# --- preconditions -------------------------------------------------------------------

PAST = "Thu, 01 Jan 1998 00:00:00 GMT"
FUTURE = "Fri, 01 Jan 2100 00:00:00 GMT"


def test_preconditions_in_swifts_order(client, obj):
    etag = hashlib.md5(BODY).hexdigest()

    def status(**headers):
        return client.request("GET", obj, headers={k.replace("_", "-"): v
                                                   for k, v in headers.items()}).status

    # a matching If-Match does not excuse a failing If-Unmodified-Since
    assert status(If_Match=f'"{etag}"', If_Unmodified_Since=PAST) == 412
    assert status(If_Match=f'"{etag}"', If_Unmodified_Since=FUTURE) == 200
    # a non-matching If-None-Match does not excuse If-Modified-Since
    assert status(If_None_Match='"other"', If_Modified_Since=FUTURE) == 304
    assert status(If_None_Match='"other"', If_Modified_Since=PAST) == 200
    # If-None-Match matching (304) is decided before If-Match failing (412)
    assert status(If_None_Match=f'"{etag}"', If_Match='"other"') == 304
    assert status(If_Match='"other", *') == 200
    assert client.request("HEAD", obj, headers={"If-Match": f'"{etag}"',
                                                "If-Unmodified-Since": PAST}).status == 412


def test_preconditions_on_a_missing_object(client, container):
    path = f"/{container}/{unique('missing')}"
    assert client.request("GET", path, headers={"If-Match": '"abc"'}).status == 404
    assert client.request("GET", path, headers={"If-Match": "*"}).status == 412


# --- COPY of a range -----------------------------------------------------------------

def test_copy_with_a_range(client, container, obj):
    client.request("POST", obj, headers={"X-Object-Meta-Color": "blue",
                                         "Content-Type": "text/x-digits"})
    dest = f"{container}/{unique('copy')}"
    resp = client.request("COPY", obj, headers={"Destination": dest, "Range": "bytes=2-4"})
    assert resp.status == 201
    assert resp.headers["etag"] == hashlib.md5(b"234").hexdigest()
    got = client.request("GET", f"/{dest}")
    assert (got.status, got.body) == (200, b"234")
    assert got.headers["content-type"] == "text/x-digits"
    assert got.headers["x-object-meta-color"] == "blue"
    # PUT with X-Copy-From too
    dest2 = f"/{container}/{unique('copy')}"
    resp = client.request("PUT", dest2, body=b"", headers={"X-Copy-From": obj[1:],
                                                           "Range": "bytes=-2"})
    assert resp.status == 201 and client.request("GET", dest2).body == b"89"
    # several ranges: the copy is the multipart/byteranges document a GET would answer
    dest4 = f"/{container}/{unique('copy')}"
    resp = client.request("PUT", dest4, body=b"", headers={"X-Copy-From": obj[1:],
                                                           "Range": "bytes=0-1,-2"})
    assert resp.status == 201
    got = client.request("GET", dest4)
    assert got.headers["content-type"].startswith("multipart/byteranges;boundary=")
    assert parts_of(got) == [("bytes 0-1/10", b"01"), ("bytes 8-9/10", b"89")]
    # a range the source cannot satisfy copies nothing
    dest3 = f"{container}/{unique('copy')}"
    resp = client.request("COPY", obj, headers={"Destination": dest3, "Range": "bytes=50-"})
    assert resp.status == 416
    assert client.request("HEAD", f"/{dest3}").status == 404


# --- metadata ------------------------------------------------------------------------

def test_object_metadata_not_utf8_is_kept_byte_for_byte(client, container):
    path = f"/{container}/{unique('bin')}"
    resp = raw(client, "PUT", path, [(b"X-Object-Meta-Bin", b"\xff\xfe\x80"),
                                     (b"X-Object-Meta-Text", "café".encode())], b"x")
    assert resp.status == 201
    head = raw(client, "HEAD", path)
    assert head.headers[b"x-object-meta-bin"] == b"\xff\xfe\x80"
    assert head.headers[b"x-object-meta-text"] == "café".encode()
    assert raw(client, "POST", path, [(b"X-Object-Meta-Bin", b"\xc3(")]).status == 202
    assert raw(client, "GET", path).headers[b"x-object-meta-bin"] == b"\xc3("


def test_account_and_container_metadata_must_be_utf8(client, container):
    resp = raw(client, "POST", f"/{container}", [(b"X-Container-Meta-Bin", b"\xff")])
    assert (resp.status, resp.body) == (400, b"Metadata must be valid UTF-8")
    resp = raw(client, "POST", "", [(b"X-Account-Meta-Bin", b"\xff")])
    assert (resp.status, resp.body) == (400, b"Metadata must be valid UTF-8")


@pytest.mark.parametrize("name", [b"X-Object-Meta-\xff", b"X-Object-Meta-\xc3(",
                                  b"X-Object-Meta-\xb5"])
def test_metadata_name_not_utf8_is_400(client, container, name):
    path = f"/{container}/{unique('badname')}"
    resp = raw(client, "PUT", path, [(name, b"v")], b"x")
    assert (resp.status, resp.body) == (400, b"Metadata must be valid UTF-8")
    assert raw(client, "HEAD", path).status == 404
    assert client.request("PUT", path, body=b"x").status == 201
    assert raw(client, "POST", path, [(name, b"v")]).status == 400


def test_too_much_metadata_is_400_with_swifts_text(client, container):
    path = f"/{container}/{unique('meta')}"
    many = [(b"X-Object-Meta-K%d" % i, b"v") for i in range(120)]
    resp = raw(client, "PUT", path, many, b"x")
    assert (resp.status, resp.body) == (400, b"Too many metadata items; max 90")
    big = [(b"X-Object-Meta-K%02d" % i, b"v" * 250) for i in range(17)]
    resp = raw(client, "PUT", path, big, b"x")
    assert (resp.status, resp.body) == (400, b"Total metadata too large; max 4096")
    resp = raw(client, "PUT", path, [(b"X-Object-Meta-K", b"v" * 257)], b"x")
    assert (resp.status, resp.body) == (400, b"Metadata value longer than 256: "
                                             b"x-object-meta-K")
    assert client.request("HEAD", path).status == 404


# --- POST, expiry, If-None-Match -----------------------------------------------------

def test_post_content_type_changes_it_and_keeps_the_body(client, container, obj):
    resp = client.request("POST", obj, headers={"Content-Type": "text/x-posted",
                                                "X-Object-Meta-A": "1"})
    assert resp.status == 202
    got = client.request("GET", obj)
    assert (got.body, got.headers["content-type"]) == (BODY, "text/x-posted")
    assert got.headers["etag"] == hashlib.md5(BODY).hexdigest()
    name = obj.rsplit("/", 1)[1]
    listing = json.loads(client.request("GET", f"/{container}?format=json&prefix={name}",
                                        quote_path=False).body)
    assert [(row["name"], row["content_type"], row["bytes"]) for row in listing] == [
        (name, "text/x-posted", len(BODY))]
    # a later POST without Content-Type keeps the posted one
    client.request("POST", obj, headers={"X-Object-Meta-B": "2"})
    head = client.request("HEAD", obj)
    assert head.headers["content-type"] == "text/x-posted"
    assert head.headers["x-object-meta-b"] == "2" and "x-object-meta-a" not in head.headers


@pytest.mark.parametrize("headers", [{"X-Delete-At": "99999999999"},
                                     {"X-Delete-At": "9" * 300},
                                     {"X-Delete-After": "99999999999999"}])
def test_delete_at_beyond_ten_digits_is_capped(client, container, headers):
    path = f"/{container}/{unique('expiry')}"
    assert client.request("PUT", path, body=b"x", headers=headers).status == 201
    assert client.request("HEAD", path).headers["x-delete-at"] == "9999999999"
    assert client.request("POST", path, headers=headers).status == 202
    assert client.request("HEAD", path).headers["x-delete-at"] == "9999999999"


def test_delete_after_zero_is_in_the_past(client, container):
    resp = client.request("PUT", f"/{container}/{unique('expiry')}", body=b"x",
                          headers={"X-Delete-After": "0"})
    assert (resp.status, resp.body) == (400, b"X-Delete-After in past")


def test_if_none_match_on_put_supports_only_star(client, container, obj):
    resp = client.request("PUT", f"/{container}/{unique('inm')}", body=b"x",
                          headers={"If-None-Match": '"abc"'})
    assert (resp.status, resp.body) == (400, b"If-None-Match only supports *")
    assert client.request("PUT", obj, body=b"y", headers={"If-None-Match": "*"}).status == 412
    assert client.request("GET", obj).body == BODY
