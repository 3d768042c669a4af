"""The Swift v1 API through the real proxy of the shared cluster: happy paths.

Accounts, containers, objects, listings in every format, copies, chunked and
``Expect: 100-continue`` uploads, ranges, conditional requests, expiry, ``/info``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from xml.etree import ElementTree

import pytest

from tests.support.proxy_client import (
    Client,
    raw_request,
    status_of,
    unique,
)
from tests.support.waiting import wait_for


@pytest.fixture
def container(client):
    name = unique("api")
    assert client.request("PUT", f"/{name}").status == 201
    return name


def test_info_and_healthcheck(cluster, client):
    resp = client.request("GET", "/info", absolute=True)
    assert resp.status == 200
    info = json.loads(resp.body)
    assert info["swift"]["max_file_size"] > 0
    assert info["swift"]["container_listing_limit"] == 10000
    assert info["tempauth"]["account_acls"] is True
    assert resp.headers["x-trans-id"].startswith("tx")
    health = client.request("GET", "/healthcheck", absolute=True)
    assert (health.status, health.body) == (200, b"OK")


def test_every_response_has_a_trans_id(cluster, client):
    anonymous = Client(cluster, user=None)
    seen = set()
    for resp in (client.request("GET", "/no-such-container-xyz"),
                 anonymous.request("GET", "/c/o"),
                 client.request("PATCH", "/c/o"),
                 client.request("GET", "/auth/v1.0", absolute=True)):
        assert resp.headers["x-trans-id"].startswith("tx")
        seen.add(resp.headers["x-trans-id"])
    assert len(seen) == 4


def test_account_autocreate(cluster):
    fresh = unique("AUTH_fresh")
    admin = Client(cluster, "admin:admin")
    admin.base_path = f"/v1/{fresh}"
    head = admin.request("HEAD")
    assert head.status == 204
    assert head.headers["x-account-container-count"] == "0"
    listing = admin.request("GET", "?format=json", quote_path=False)
    assert (listing.status, json.loads(listing.body)) == (200, [])
    assert admin.request("PUT", "/first").status == 201  # creates the account
    names = json.loads(admin.request("GET", "?format=json", quote_path=False).body)
    assert [c["name"] for c in names] == ["first"]


def test_container_lifecycle(client):
    name = unique("life")
    assert client.request("PUT", f"/{name}").status == 201
    assert client.request("PUT", f"/{name}").status == 202
    post = client.request("POST", f"/{name}", headers={"X-Container-Meta-Color": "blue"})
    assert post.status == 204
    head = client.request("HEAD", f"/{name}")
    assert head.status == 204
    assert head.headers["x-container-meta-color"] == "blue"
    assert head.headers["x-container-object-count"] == "0"
    assert head.headers["x-storage-policy"] == "Policy-0"
    assert client.request("PUT", f"/{name}/obj", body=b"data").status == 201
    deleted = client.request("DELETE", f"/{name}")
    assert deleted.status == 409
    assert client.request("DELETE", f"/{name}/obj").status == 204
    assert client.request("DELETE", f"/{name}").status == 204
    assert client.request("HEAD", f"/{name}").status == 404
    assert client.request("DELETE", f"/{name}").status == 404
    assert client.request("PUT", f"/{name}/obj", body=b"x").status == 404


def test_bad_storage_policy(client):
    resp = client.request("PUT", f"/{unique('pol')}", headers={"X-Storage-Policy": "nope"})
    assert resp.status == 400


def test_object_lifecycle(client, container):
    path = f"/{container}/docs/readme.txt"
    body = b"hello oiofs\n" * 100
    put = client.request("PUT", path, body=body, headers={"X-Object-Meta-Color": "red",
                                                          "X-Object-Meta-Size": "big"})
    assert put.status == 201
    assert put.headers["etag"] == hashlib.md5(body).hexdigest()
    assert "last-modified" in put.headers
    get = client.request("GET", path)
    assert get.status == 200 and get.body == body
    assert get.headers["content-type"].startswith("text/plain")  # detected from the name
    assert get.headers["x-object-meta-color"] == "red"
    assert get.headers["etag"] == hashlib.md5(body).hexdigest()  # bare, as Swift sends it
    assert get.headers["content-length"] == str(len(body))
    assert float(get.headers["x-timestamp"]) > 0
    assert not any(k.startswith("x-backend") for k in get.headers)
    head = client.request("HEAD", path)
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == str(len(body))
    assert client.request("POST", path, headers={"X-Object-Meta-Mood": "happy"}).status == 202
    after = client.request("HEAD", path)
    assert after.headers["x-object-meta-mood"] == "happy"
    assert "x-object-meta-color" not in after.headers  # POST replaces user metadata
    assert after.headers["content-type"].startswith("text/plain")
    assert client.request("DELETE", path).status == 204
    assert client.request("GET", path).status == 404
    assert client.request("DELETE", path).status == 404
    assert client.request("POST", path, headers={"X-Object-Meta-A": "b"}).status == 404


def test_content_type_given_or_detected(client, container):
    given = f"/{container}/pic.jpg"
    client.request("PUT", given, body=b"x", headers={"Content-Type": "application/x-mine"})
    assert client.request("HEAD", given).headers["content-type"] == "application/x-mine"
    client.request("PUT", given, body=b"x", headers={"Content-Type": "application/x-mine",
                                                     "X-Detect-Content-Type": "true"})
    assert client.request("HEAD", given).headers["content-type"] == "image/jpeg"
    unknown = f"/{container}/noext"
    client.request("PUT", unknown, body=b"x")
    assert client.request("HEAD", unknown).headers["content-type"] == \
        "application/octet-stream"


def test_object_names_with_unicode_and_slashes(client, container):
    path = f"/{container}/dir/sub dir/caf\u00e9 \u2603.txt"
    assert client.request("PUT", path, body=b"snow").status == 201
    assert client.request("GET", path).body == b"snow"
    listing = json.loads(client.request(
        "GET", f"/{container}?format=json", quote_path=False).body)
    assert [o["name"] for o in listing] == ["dir/sub dir/caf\u00e9 \u2603.txt"]


def test_listings(client, container):
    names = ["a", "b/c", "b/d", "b/e/f", "e"]
    for name in names:
        assert client.request("PUT", f"/{container}/{name}", body=name.encode()).status == 201

    def listing(query="", headers=None):
        resp = client.request("GET", f"/{container}{query}", quote_path=False,
                              headers=headers)
        assert resp.status in (200, 204), resp
        return resp

    assert listing().body.decode().split() == names
    rows = json.loads(listing("?format=json").body)
    assert [r["name"] for r in rows] == names
    assert rows[0]["bytes"] == 1 and rows[0]["hash"] == hashlib.md5(b"a").hexdigest()
    assert "last_modified" in rows[0] and "content_type" in rows[0]
    xml = ElementTree.fromstring(listing("?format=xml").body)
    assert [o.findtext("name") for o in xml.iter("object")] == names
    assert json.loads(listing(headers={"Accept": "application/json"}).body)[0]["name"] == "a"
    assert listing("?limit=2").body.decode().split() == ["a", "b/c"]
    assert listing("?marker=b/c").body.decode().split() == ["b/d", "b/e/f", "e"]
    assert listing("?end_marker=b/d").body.decode().split() == ["a", "b/c"]
    assert listing("?prefix=b/").body.decode().split() == ["b/c", "b/d", "b/e/f"]
    assert listing("?delimiter=/").body.decode().split() == ["a", "b/", "e"]
    assert listing("?prefix=b/&delimiter=/").body.decode().split() == ["b/c", "b/d", "b/e/"]
    assert listing("?path=b").body.decode().split() == ["b/c", "b/d"]
    assert listing("?reverse=true").body.decode().split() == names[::-1]
    sub = json.loads(listing("?delimiter=/&format=json").body)
    assert {"subdir": "b/"} in sub
    assert listing("?prefix=zzz").status == 204
    too_big = client.request("GET", f"/{container}?limit=10001", quote_path=False)
    assert too_big.status == 412
    head = client.request("HEAD", f"/{container}")
    assert head.headers["x-container-object-count"] == "5"
    account = json.loads(client.request("GET", f"?format=json&prefix={container}",
                                        quote_path=False).body)
    assert [c["name"] for c in account] == [container]


def test_copy(client, container):
    src = f"/{container}/src"
    body = os.urandom(1000)
    client.request("PUT", src, body=body, headers={"Content-Type": "application/x-src",
                                                   "X-Object-Meta-Origin": "src",
                                                   "X-Object-Meta-Keep": "yes"})
    copied = client.request("COPY", src, headers={"Destination": f"{container}/dst1",
                                                  "X-Object-Meta-Origin": "copy"})
    assert copied.status == 201
    assert copied.headers["x-copied-from"] == f"{container}/src"
    assert copied.headers["etag"] == hashlib.md5(body).hexdigest()
    dst = client.request("GET", f"/{container}/dst1")
    assert dst.body == body
    assert dst.headers["content-type"] == "application/x-src"
    assert dst.headers["x-object-meta-origin"] == "copy"
    assert dst.headers["x-object-meta-keep"] == "yes"
    put_copy = client.request("PUT", f"/{container}/dst2",
                              headers={"X-Copy-From": f"/{container}/src",
                                       "X-Fresh-Metadata": "true", "Content-Length": "0"})
    assert put_copy.status == 201
    dst2 = client.request("GET", f"/{container}/dst2")
    assert dst2.body == body and "x-object-meta-keep" not in dst2.headers
    missing = client.request("COPY", f"/{container}/nothing",
                             headers={"Destination": f"{container}/x"})
    assert missing.status == 404
    assert client.request("COPY", src, headers={"Destination": "nocontainer"}).status == 412
    with_body = client.request("PUT", f"/{container}/dst3", body=b"abc",
                               headers={"X-Copy-From": f"{container}/src"})
    assert with_body.status == 400


def test_large_copy_streams(client, container):
    body = os.urandom(300 * 1024)
    client.request("PUT", f"/{container}/big", body=body)
    resp = client.request("COPY", f"/{container}/big",
                          headers={"Destination": f"{container}/big2"})
    assert resp.status == 201
    assert client.request("GET", f"/{container}/big2").body == body


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize("piece_size, count", [(1000, 3), (50000, 6)])
def test_chunked_upload(cluster, client, container, piece_size, count):
    pieces = [os.urandom(piece_size) for _ in range(count)]
    path = f"{client.base_path}/{container}/chunked-{piece_size}"
    head = (f"PUT {path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {client.token}\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    raw = raw_request(cluster.layout.proxy_port, head + chunked(*pieces))
    assert status_of(raw) == 201, raw
    got = client.request("GET", f"/{container}/chunked-{piece_size}")
    assert got.body == b"".join(pieces)


@pytest.mark.parametrize("first", [b"", b"x" * 100_000])
def test_broken_chunked_body_is_499_and_stores_nothing(cluster, client, container, first):
    # invalid chunk framing mid-body is the client's fault, answered as Swift does: 499
    # (RequestBody), both before the nodes are asked (small) and mid-stream (large)
    path = f"{client.base_path}/{container}/broken-{len(first)}"
    head = (f"PUT {path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {client.token}\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    piece = b"%x\r\n%s\r\n" % (len(first), first) if first else b""
    raw = raw_request(cluster.layout.proxy_port, head + piece + b"5\r\nhello\r\nzz\r\n")
    assert status_of(raw) == 499, raw[:300]
    assert client.request("GET", f"/{container}/broken-{len(first)}").status == 404


@pytest.mark.parametrize("size", [100, 200 * 1024])
def test_expect_100_continue(cluster, client, container, size):
    body = os.urandom(size)
    path = f"{client.base_path}/{container}/continue-{size}"
    head = (f"PUT {path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {client.token}\r\n"
            f"Content-Length: {size}\r\nExpect: 100-continue\r\n"
            f"Connection: close\r\n\r\n").encode()
    raw = raw_request(cluster.layout.proxy_port, head, then=body, wait_for_continue=True)
    assert raw.startswith(b"HTTP/1.1 100 Continue"), raw[:200]
    assert status_of(raw) == 201, raw
    assert client.request("GET", f"/{container}/continue-{size}").body == body


def test_expect_100_refused_early(cluster, client):
    # No such container: the answer comes before the body is asked for.
    path = f"{client.base_path}/{unique('none')}/o"
    head = (f"PUT {path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {client.token}\r\n"
            f"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n").encode()
    raw = raw_request(cluster.layout.proxy_port, head, wait_for_continue=True)
    assert status_of(raw) == 404 and b"100 Continue" not in raw


def test_large_object_and_ranges(client, container):
    body = os.urandom(1024 * 1024 + 7)
    path = f"/{container}/large"
    put = client.request("PUT", path, body=body)
    assert put.status == 201 and put.headers["etag"] == hashlib.md5(body).hexdigest()
    assert client.request("GET", path).body == body
    part = client.request("GET", path, headers={"Range": "bytes=10-19"})
    assert part.status == 206 and part.body == body[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(body)}"
    tail = client.request("GET", path, headers={"Range": "bytes=-5"})
    assert tail.status == 206 and tail.body == body[-5:]
    beyond = client.request("GET", path, headers={"Range": f"bytes={len(body) + 10}-"})
    assert beyond.status == 416


def test_conditional_requests(client, container):
    path = f"/{container}/cond"
    etag = client.request("PUT", path, body=b"v1").headers["etag"]
    assert client.request("GET", path, headers={"If-None-Match": f'"{etag}"'}).status == 304
    assert client.request("GET", path, headers={"If-Match": '"nope"'}).status == 412
    assert client.request("GET", path, headers={"If-Match": f'"{etag}"'}).status == 200
    future = "Fri, 01 Jan 2100 00:00:00 GMT"
    assert client.request("GET", path, headers={"If-Modified-Since": future}).status == 304
    past = "Thu, 01 Jan 1998 00:00:00 GMT"
    assert client.request("GET", path, headers={"If-Unmodified-Since": past}).status == 412
    again = client.request("PUT", path, body=b"v2", headers={"If-None-Match": "*"})
    assert again.status == 412
    assert client.request("GET", path).body == b"v1"
    fresh = client.request("PUT", f"/{container}/cond-new", body=b"n",
                           headers={"If-None-Match": "*"})
    assert fresh.status == 201


def test_etag_checked_on_put(client, container):
    bad = client.request("PUT", f"/{container}/etag", body=b"data",
                         headers={"ETag": hashlib.md5(b"other").hexdigest()})
    assert bad.status == 422
    assert client.request("GET", f"/{container}/etag").status == 404
    good = client.request("PUT", f"/{container}/etag", body=b"data",
                          headers={"ETag": hashlib.md5(b"data").hexdigest()})
    assert good.status == 201


def test_x_newest(client, container):
    path = f"/{container}/newest"
    client.request("PUT", path, body=b"one")
    client.request("PUT", path, body=b"two")
    resp = client.request("GET", path, headers={"X-Newest": "true"})
    assert resp.status == 200 and resp.body == b"two"
    client.request("DELETE", path)
    assert client.request("GET", path, headers={"X-Newest": "true"}).status == 404
    listing = client.request("GET", f"/{container}", headers={"X-Newest": "true"})
    assert listing.status in (200, 204)


def test_object_expiry(client, container):
    path = f"/{container}/expiring"
    assert client.request("PUT", path, body=b"soon", headers={"X-Delete-After": "1"}).status \
        == 201
    delete_at = int(client.request("HEAD", path).headers["x-delete-at"])
    assert delete_at >= int(time.time())
    wait_for(lambda: client.request("GET", path).status == 404, 5, "the object to expire",
             interval=0.1)
    assert client.request("PUT", path, body=b"x", headers={"X-Delete-At": "1"}).status == 400
    assert client.request("PUT", path, body=b"x",
                          headers={"X-Delete-After": "soon"}).status == 400


def test_cors(cluster, client):
    name = unique("cors")
    client.request("PUT", f"/{name}", headers={
        "X-Container-Meta-Access-Control-Allow-Origin": "http://good.example",
        "X-Container-Meta-Access-Control-Max-Age": "60",
        "X-Container-Meta-Access-Control-Expose-Headers": "x-custom"})
    client.request("PUT", f"/{name}/o", body=b"x", headers={"X-Object-Meta-Color": "red"})
    anonymous = Client(cluster, user=None, storage_url=client.storage_url)
    pre = anonymous.request("OPTIONS", f"/{name}/o", headers={
        "Origin": "http://good.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-auth-token"})
    assert pre.status == 200
    assert pre.headers["access-control-allow-origin"] == "http://good.example"
    assert pre.headers["access-control-max-age"] == "60"
    assert "GET" in pre.headers["access-control-allow-methods"]
    assert "x-auth-token" in pre.headers["access-control-allow-headers"]
    denied = anonymous.request("OPTIONS", f"/{name}/o", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "GET"})
    assert denied.status == 401
    plain = anonymous.request("OPTIONS", f"/{name}/o")
    assert plain.status == 200 and "GET" in plain.headers["allow"]
    get = client.request("GET", f"/{name}/o", headers={"Origin": "http://good.example"})
    assert get.headers["access-control-allow-origin"] == "http://good.example"
    exposed = get.headers["access-control-expose-headers"]
    assert "x-object-meta-color" in exposed and "x-custom" in exposed and "etag" in exposed
    other = client.request("GET", f"/{name}/o", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    # An anonymous, refused request still tells the browser about CORS.
    refused = anonymous.request("GET", f"/{name}/o", headers={"Origin": "http://good.example"})
    assert refused.status == 401
    assert refused.headers["access-control-allow-origin"] == "http://good.example"
