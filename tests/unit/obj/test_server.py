"""The object server application driven through WSGI in-process (no socket).

Behaviour that needs a real connection (chunked bodies, clients going away, timeouts,
container updates, crashes) is in tests/functional/test_object_*.py.
"""

import io
import os
import time

import pytest
from werkzeug.test import Client

from oiofs.common.hashing import hash_path, md5
from oiofs.common.storage_policy import POLICIES
from oiofs.common.timestamp import Timestamp
from oiofs.obj.server import ObjectServer, app_factory

T0 = "1700000000.00000"
T1 = "1700000001.00000"
T2 = "1700000002.00000"


def wsgi(text: str) -> str:
    """Text as a WSGI header or path string (UTF-8 bytes seen as latin-1)."""
    return text.encode("utf-8").decode("latin-1")


@pytest.fixture
def app(devices):
    return ObjectServer({"devices": devices, "log_requests": "false",
                             "fsync_in_threads": "false"})


@pytest.fixture
def client(app):
    return Client(app)


@pytest.fixture
def two_policies():
    POLICIES.load({"storage-policy:0": {"name": "gold", "default": "yes"},
                   "storage-policy:1": {"name": "silver"}})
    yield
    POLICIES.load({})


def put(client, path="/sda/1/a/c/o", body=b"hello world", ts=T0, **headers):
    headers = {"X-Timestamp": ts, "Content-Type": "text/plain", **headers}
    return client.put(path, data=body, headers=headers)


def hash_dir(devices, obj="o", policy_dir="objects", part="1"):
    name_hash = hash_path("a", "c", obj)
    return os.path.join(devices, "sda", policy_dir, part, name_hash[-3:], name_hash)


def stored(devices, **kwargs):
    try:
        return sorted(os.listdir(hash_dir(devices, **kwargs)))
    except FileNotFoundError:
        return []


# --- PUT -----------------------------------------------------------------------------

def test_put_get_head(client, devices):
    resp = put(client, **{"X-Object-Meta-Color": wsgi("bleu é"), "Content-Encoding": "gzip",
                          "X-Object-Sysmeta-Slo": "yes", "X-Unknown": "dropped"})
    assert resp.status_code == 201
    etag = md5(b"hello world").hexdigest()
    assert resp.headers["ETag"] == f'"{etag}"'
    assert stored(devices) == [T0 + ".data"]
    for method in ("GET", "HEAD"):
        resp = client.open("/sda/1/a/c/o", method=method)
        assert resp.status_code == 200
        assert resp.data == (b"hello world" if method == "GET" else b"")
        headers = resp.headers
        assert headers["Content-Length"] == "11"
        assert headers["Content-Type"] == "text/plain"
        assert headers["ETag"] == f'"{etag}"'
        assert headers["X-Timestamp"] == T0
        assert headers["X-Backend-Timestamp"] == T0
        assert headers["X-Backend-Data-Timestamp"] == T0
        assert headers["Last-Modified"] == Timestamp(T0).http_date
        assert headers["X-Object-Meta-Color"] == wsgi("bleu é")
        assert headers["Content-Encoding"] == "gzip"
        assert headers["X-Object-Sysmeta-Slo"] == "yes"
        assert "X-Unknown" not in headers and "name" not in headers


def test_put_with_etag(client, devices):
    etag = md5(b"hello world").hexdigest()
    assert put(client, ETag=etag).status_code == 201
    assert put(client, ts=T1, ETag=f'"{etag.upper()}"').status_code == 201
    resp = put(client, ts=T2, ETag="0" * 32)
    assert resp.status_code == 422
    assert stored(devices) == [T1 + ".data"]
    assert os.listdir(os.path.join(devices, "sda", "tmp")) == []


def test_put_older_or_same_timestamp_conflicts(client, devices):
    assert put(client, ts=T1).status_code == 201
    for ts in (T0, T1):
        resp = put(client, ts=ts, body=b"other")
        assert resp.status_code == 409
        assert resp.headers["X-Backend-Timestamp"] == T1
    assert client.get("/sda/1/a/c/o").data == b"hello world"


def test_put_over_a_tombstone(client):
    put(client, ts=T0)
    assert client.delete("/sda/1/a/c/o", headers={"X-Timestamp": T1}).status_code == 204
    assert put(client, ts=T0, body=b"x").status_code == 409
    assert put(client, ts=T2, body=b"back").status_code == 201
    assert client.get("/sda/1/a/c/o").data == b"back"


def test_put_if_none_match(client, devices):
    assert put(client, **{"If-None-Match": "*"}).status_code == 201
    resp = put(client, ts=T1, **{"If-None-Match": "*"})
    assert resp.status_code == 412
    assert stored(devices) == [T0 + ".data"]
    # only "*" is supported (Swift's 400)
    assert put(client, ts=T1, **{"If-None-Match": '"abc"'}).status_code == 400
    client.delete("/sda/1/a/c/o", headers={"X-Timestamp": T1})
    assert put(client, ts=T2, **{"If-None-Match": "*"}).status_code == 201


def test_put_with_delete_at(client):
    future = str(int(time.time()) + 3600)
    assert put(client, **{"X-Delete-At": future}).status_code == 201
    assert client.head("/sda/1/a/c/o").headers["X-Delete-At"] == future
    past = str(int(time.time()) - 10)
    assert put(client, ts=T1, **{"X-Delete-At": past}).status_code == 400
    assert put(client, ts=T1, **{"X-Delete-At": "soon"}).status_code == 400
    resp = put(client, ts=T1, **{"X-Delete-After": "60"})
    assert resp.status_code == 201
    assert abs(int(client.head("/sda/1/a/c/o").headers["X-Delete-At"]) -
               (time.time() + 60)) < 5


def test_empty_object(client):
    resp = client.put("/sda/1/a/c/o", environ_overrides={"CONTENT_LENGTH": "0"},
                      headers={"X-Timestamp": T0, "Content-Type": "text/plain"})
    assert resp.status_code == 201
    resp = client.get("/sda/1/a/c/o")
    assert (resp.status_code, resp.data, resp.headers["Content-Length"]) == (200, b"", "0")
    assert resp.headers["ETag"] == f'"{md5(b"").hexdigest()}"'


@pytest.mark.parametrize("path", [
    "/sda/1/a/c", "/sda/1/a/c/", "/sda/1/a//o", "/sda//a/c/o", "/sda/x/a/c/o",
    "/../1/a/c/o", "/sda/1/../c/o", "/sda/1/a/./o", "/sda/1/a/c/..", "/sda", "/",
    "/sda/1/a/c/o\x00x",
])
def test_bad_paths(client, devices, path):
    resp = client.put(path, data=b"x", headers={"X-Timestamp": T0, "Content-Type": "t/p"})
    assert resp.status_code == (412 if "\x00" in path else 400)  # NUL: as Swift, 412
    assert os.listdir(os.path.join(devices, "sda")) == []


def test_device_must_exist(client, devices):
    resp = client.put("/sdz/1/a/c/o", data=b"x", headers={"X-Timestamp": T0,
                                                          "Content-Type": "t/p"})
    assert resp.status_code == 507
    assert client.get("/sdz/1/a/c/o").status_code == 507
    assert not os.path.exists(os.path.join(devices, "sdz"))


def test_invalid_utf8_path(client, devices):
    resp = client.put("/", data=b"x", headers={"X-Timestamp": T0, "Content-Type": "t/p"},
                      environ_overrides={"PATH_INFO": "/sda/1/a/c/\xff\xfe"})
    assert resp.status_code == 412  # Swift's "Invalid UTF8 or contains NULL"
    assert os.listdir(os.path.join(devices, "sda")) == []


@pytest.mark.parametrize("headers, status", [
    ({"Content-Type": "t/p"}, 400),                                      # no X-Timestamp
    ({"X-Timestamp": "yesterday", "Content-Type": "t/p"}, 400),
    ({"X-Timestamp": "-1", "Content-Type": "t/p"}, 400),
    ({"X-Timestamp": T0}, 400),                                          # no Content-Type
    ({"X-Timestamp": T0, "Content-Type": "t/p", "X-Object-Meta-": "v"}, 400),
    ({"X-Timestamp": T0, "Content-Type": "t/p", "X-Object-Meta-K": "v" * 257}, 400),
    ({"X-Timestamp": T0, "Content-Type": "t/p", "X-Object-Meta-" + "k" * 129: "v"}, 400),
    ({"X-Timestamp": T0, "Content-Type": "\xff"}, 400),
    ({"X-Timestamp": T0, "Content-Type": "t/p", "If-None-Match": "x"}, 400),
    ({"X-Timestamp": T0, "Content-Type": "t/p", "X-Backend-Storage-Policy-Index": "9"}, 503),
    ({"X-Timestamp": T0, "Content-Type": "t/p", "X-Backend-Storage-Policy-Index": "x"}, 503),
])
def test_bad_put_headers(client, devices, headers, status):
    assert client.put("/sda/1/a/c/o", data=b"x", headers=headers).status_code == status
    assert stored(devices) == []


def test_too_much_metadata(client, devices):
    many = {f"X-Object-Meta-K{i}": "v" for i in range(91)}
    assert put(client, **many).status_code == 400
    big = {f"X-Object-Meta-K{i}": "v" * 250 for i in range(17)}
    assert put(client, **big).status_code == 400
    assert stored(devices) == []


def test_bad_content_length(client, devices):
    environ = {"CONTENT_LENGTH": "ten"}
    resp = client.put("/sda/1/a/c/o", data=b"x", environ_overrides=environ,
                      headers={"X-Timestamp": T0, "Content-Type": "t/p"})
    assert resp.status_code == 400
    resp = client.put("/sda/1/a/c/o", environ_overrides={"wsgi.input": io.BytesIO(b"x")},
                      headers={"X-Timestamp": T0, "Content-Type": "t/p",
                               "Transfer-Encoding": "gzip"})
    assert resp.status_code == 501
    assert stored(devices) == []


def test_name_length_limit(client, devices):
    assert put(client, path="/sda/1/a/c/" + "o" * 1025).status_code == 400
    name = "é" * 512  # 1024 bytes of UTF-8
    assert put(client, path="/sda/1/a/c/" + name).status_code == 201
    assert client.get("/sda/1/a/c/" + name).data == b"hello world"


def test_metadata_at_the_api_limits(client, devices):
    """A 1 KiB name, a long content type and the maximum user metadata are stored."""
    name = "ü" * 512
    meta = {}
    for i in range(90):
        key = f"k{i:02d}"
        meta["X-Object-Meta-" + key] = "v" * (4096 // 90 - len(key))
    content_type = "application/" + "x" * 3000
    resp = put(client, path="/sda/1/a/c/" + name, **meta,
               **{"Content-Type": content_type})
    assert resp.status_code == 201
    resp = client.get("/sda/1/a/c/" + name)
    assert resp.status_code == 200 and resp.data == b"hello world"
    assert resp.headers["Content-Type"] == content_type
    for key, value in meta.items():
        assert resp.headers[key] == value


def test_policies(client, devices, two_policies):
    path = "/sda/1/a/c/o"
    assert put(client, **{"X-Backend-Storage-Policy-Index": "1"}).status_code == 201
    assert stored(devices, policy_dir="objects-1") == [T0 + ".data"]
    assert client.get(path).status_code == 404
    resp = client.get(path, headers={"X-Backend-Storage-Policy-Index": "1"})
    assert resp.status_code == 200


# --- GET/HEAD ------------------------------------------------------------------------

def test_get_missing(client):
    resp = client.get("/sda/1/a/c/o")
    assert resp.status_code == 404 and "X-Backend-Timestamp" not in resp.headers
    assert client.head("/sda/1/a/c/o").status_code == 404
    # If-Match on a missing object fails (RFC 7232: no current representation)
    assert client.get("/sda/1/a/c/o", headers={"If-Match": "*"}).status_code == 412


def test_ranges(client):
    body = bytes(range(256)) * 4
    put(client, body=body)
    resp = client.get("/sda/1/a/c/o", headers={"Range": "bytes=10-19"})
    assert resp.status_code == 206
    assert resp.data == body[10:20]
    assert resp.headers["Content-Range"] == "bytes 10-19/1024"
    assert resp.headers["Content-Length"] == "10"
    resp = client.get("/sda/1/a/c/o", headers={"Range": "bytes=-4"})
    assert (resp.status_code, resp.data) == (206, body[-4:])
    resp = client.get("/sda/1/a/c/o", headers={"Range": "bytes=0-1,-2"})
    assert resp.status_code == 206
    assert resp.headers["Content-Type"].startswith("multipart/byteranges;boundary=")
    assert int(resp.headers["Content-Length"]) == len(resp.data)
    assert b"Content-Range: bytes 0-1/1024" in resp.data
    assert b"Content-Range: bytes 1022-1023/1024" in resp.data
    resp = client.get("/sda/1/a/c/o", headers={"Range": "bytes=2000-"})
    assert resp.status_code == 416
    assert resp.headers["Content-Range"] == "bytes */1024"
    for ignored in ("bytes=5-1", "chars=0-1", "bytes=x"):
        resp = client.get("/sda/1/a/c/o", headers={"Range": ignored})
        assert (resp.status_code, resp.data) == (200, body)
    # HEAD ignores Range (RFC 7233)
    resp = client.head("/sda/1/a/c/o", headers={"Range": "bytes=0-1"})
    assert (resp.status_code, resp.headers["Content-Length"]) == (200, "1024")


def test_if_range(client):
    put(client)
    etag = md5(b"hello world").hexdigest()
    resp = client.get("/sda/1/a/c/o", headers={"Range": "bytes=0-4", "If-Range": f'"{etag}"'})
    assert (resp.status_code, resp.data) == (206, b"hello")
    resp = client.get("/sda/1/a/c/o", headers={"Range": "bytes=0-4", "If-Range": '"other"'})
    assert (resp.status_code, resp.data) == (200, b"hello world")


def test_conditionals(client):
    put(client)
    etag = f'"{md5(b"hello world").hexdigest()}"'
    last_modified = Timestamp(T0).http_date
    before = Timestamp(float(T0) - 60).http_date
    for method in ("GET", "HEAD"):
        def status(method=method, **headers):
            return client.open("/sda/1/a/c/o", method=method, headers=headers).status_code

        assert status(**{"If-Match": etag}) == 200
        assert status(**{"If-Match": '"nope"'}) == 412
        assert status(**{"If-None-Match": etag}) == 304
        assert status(**{"If-None-Match": "*"}) == 304
        assert status(**{"If-None-Match": '"nope"'}) == 200
        assert status(**{"If-Modified-Since": last_modified}) == 304
        assert status(**{"If-Modified-Since": before}) == 200
        assert status(**{"If-Unmodified-Since": before}) == 412
        assert status(**{"If-Unmodified-Since": last_modified}) == 200
    resp = client.get("/sda/1/a/c/o", headers={"If-None-Match": etag})
    assert resp.data == b"" and resp.headers["ETag"] == etag
    resp = client.get("/sda/1/a/c/o", headers={"If-Match": '"nope"'})
    assert resp.headers["ETag"] == etag


def test_expired_object_is_not_served(app, client):
    # the API refuses an X-Delete-At in the past: store one through the disk layer,
    # as if time had passed since the PUT
    df = app.manager.get_diskfile("sda", "1", "a", "c", "o", POLICIES.get_by_index(0))
    with df.create(size=2) as writer:
        writer.write(b"hi")
        writer.put({"X-Timestamp": T0, "Content-Type": "t/p", "ETag": md5(b"hi").hexdigest(),
                    "Content-Length": "2", "name": df.name,
                    "X-Delete-At": str(int(time.time()) - 1)})
    for method in ("GET", "HEAD"):
        resp = client.open("/sda/1/a/c/o", method=method)
        assert resp.status_code == 404
        assert resp.headers["X-Backend-Timestamp"] == T0
    resp = client.get("/sda/1/a/c/o", headers={"X-Backend-Replication": "True"})
    assert (resp.status_code, resp.data) == (200, b"hi")
    assert client.post("/sda/1/a/c/o", headers={"X-Timestamp": T1}).status_code == 404
    assert put(client, ts=T1).status_code == 201  # a new PUT over an expired object is fine


def test_tombstone_answers_404_with_its_timestamp(client):
    put(client)
    client.delete("/sda/1/a/c/o", headers={"X-Timestamp": T1})
    resp = client.get("/sda/1/a/c/o")
    assert resp.status_code == 404 and resp.headers["X-Backend-Timestamp"] == T1


def test_corrupt_object_is_quarantined_and_answers_404(client, devices):
    put(client)
    path = os.path.join(hash_dir(devices), T0 + ".data")
    value = os.getxattr(path, "user.oiofs.meta")
    os.setxattr(path, "user.oiofs.meta", value.replace(b"text/plain", b"text/plaiN"))
    assert client.get("/sda/1/a/c/o").status_code == 404
    assert stored(devices) == []
    assert os.listdir(os.path.join(devices, "sda", "quarantined", "objects")) == [
        hash_path("a", "c", "o")]


STATE_ONLY = {"X-Backend-State-Only": "true"}


def state(client, **headers):
    """A state-only HEAD: (status, X-Backend-Timestamp, X-Backend-Data-Timestamp)."""
    resp = client.head("/sda/1/a/c/o", headers={**STATE_ONLY, **headers})
    return (resp.status_code, resp.headers.get("X-Backend-Timestamp"),
            resp.headers.get("X-Backend-Data-Timestamp"))


def test_state_only_head_gives_the_timestamps_of_a_full_head(client):
    assert state(client) == (404, None, None)
    put(client)
    full = client.head("/sda/1/a/c/o")
    assert state(client) == (200, full.headers["X-Backend-Timestamp"],
                             full.headers["X-Backend-Data-Timestamp"]) == (200, T0, T0)
    assert client.post("/sda/1/a/c/o", headers={"X-Timestamp": T1}).status_code == 202
    assert state(client) == (200, T1, T0)  # a .meta counts, as in a full HEAD
    assert client.delete("/sda/1/a/c/o", headers={"X-Timestamp": T2}).status_code == 204
    full = client.head("/sda/1/a/c/o")
    assert (full.status_code, full.headers["X-Backend-Timestamp"]) == (404, T2)
    assert state(client) == (404, T2, None)


def test_state_only_head_leaves_the_file_unopened(client, devices):
    """Metadata gone bad: a full HEAD quarantines the object, a state-only one answers
    from the listing and leaves it for the reads (and the auditor) to find."""
    put(client)
    path = os.path.join(hash_dir(devices), T0 + ".data")
    value = os.getxattr(path, "user.oiofs.meta")
    os.setxattr(path, "user.oiofs.meta", value.replace(b"text/plain", b"text/plaiN"))
    assert state(client) == (200, T0, T0)
    assert stored(devices) == [T0 + ".data"]
    assert client.head("/sda/1/a/c/o").status_code == 404
    assert stored(devices) == []
    assert state(client) == (404, None, None)


def test_state_only_head_is_only_for_heads(client):
    put(client)
    resp = client.get("/sda/1/a/c/o", headers=STATE_ONLY)
    assert (resp.status_code, resp.data) == (200, b"hello world")


# --- POST ----------------------------------------------------------------------------

def test_post_replaces_user_metadata(client, devices):
    put(client, **{"X-Object-Meta-A": "1", "Content-Disposition": "inline",
                   "X-Static-Large-Object": "True"})
    resp = client.post("/sda/1/a/c/o", headers={"X-Timestamp": T1, "X-Object-Meta-B": "2"})
    assert resp.status_code == 202
    assert stored(devices) == [T0 + ".data", T1 + ".meta"]
    headers = client.head("/sda/1/a/c/o").headers
    assert headers["X-Object-Meta-B"] == "2"
    assert "X-Object-Meta-A" not in headers and "Content-Disposition" not in headers
    assert headers["X-Static-Large-Object"] == "True"
    assert headers["Content-Type"] == "text/plain"
    assert headers["X-Timestamp"] == T1
    assert headers["X-Backend-Timestamp"] == T1
    assert headers["X-Backend-Data-Timestamp"] == T0
    assert client.get("/sda/1/a/c/o").data == b"hello world"
    # an older or equal POST conflicts with the newest .meta
    resp = client.post("/sda/1/a/c/o", headers={"X-Timestamp": T1, "X-Object-Meta-C": "3"})
    assert (resp.status_code, resp.headers["X-Backend-Timestamp"]) == (409, T1)
    # a newer PUT drops the .meta
    put(client, ts=T2)
    assert stored(devices) == [T2 + ".data"]


def test_post_changes_the_content_type(client, devices):
    put(client)
    resp = client.post("/sda/1/a/c/o", headers={"X-Timestamp": T1,
                                                "Content-Type": "text/x-posted"})
    assert resp.status_code == 202
    headers = client.head("/sda/1/a/c/o").headers
    assert headers["Content-Type"] == "text/x-posted"
    assert "Content-Type-Timestamp" not in headers
    assert client.get("/sda/1/a/c/o").data == b"hello world"
    # a later POST without one keeps it
    client.post("/sda/1/a/c/o", headers={"X-Timestamp": T2, "X-Object-Meta-X": "1"})
    headers = client.head("/sda/1/a/c/o").headers
    assert headers["Content-Type"] == "text/x-posted" and headers["X-Object-Meta-X"] == "1"
    assert client.post("/sda/1/a/c/o", headers={"X-Timestamp": "1700000003.00000",
                                                "Content-Type": "\xff"}).status_code == 400


def test_metadata_values_are_kept_byte_for_byte(client):
    # not UTF-8: stored and served back as the same bytes (WSGI strings are latin-1)
    assert put(client, **{"X-Object-Meta-Bin": "\xff\xfe", "X-Object-Meta-Text": "\xc3\xa9",
                          "Content-Disposition": "\xe9"}).status_code == 201
    headers = client.head("/sda/1/a/c/o").headers
    assert headers["X-Object-Meta-Bin"] == "\xff\xfe"
    assert headers["X-Object-Meta-Text"] == "\xc3\xa9"
    assert headers["Content-Disposition"] == "\xe9"
    client.post("/sda/1/a/c/o", headers={"X-Timestamp": T1, "X-Object-Meta-Bin": "\x80"})
    assert client.head("/sda/1/a/c/o").headers["X-Object-Meta-Bin"] == "\x80"


def test_post_errors(client):
    assert client.post("/sda/1/a/c/o", headers={"X-Timestamp": T1}).status_code == 404
    put(client)
    assert client.post("/sda/1/a/c/o").status_code == 400
    assert client.post("/sda/1/a/c/o", headers={
        "X-Timestamp": T1, "X-Object-Meta-K": "v" * 300}).status_code == 400
    assert client.post("/sda/1/a/c/o", headers={
        "X-Timestamp": T1, "X-Delete-At": "1"}).status_code == 400
    client.delete("/sda/1/a/c/o", headers={"X-Timestamp": T1})
    resp = client.post("/sda/1/a/c/o", headers={"X-Timestamp": T2})
    assert resp.status_code == 404 and resp.headers["X-Backend-Timestamp"] == T1


# --- DELETE --------------------------------------------------------------------------

def test_delete(client, devices):
    assert client.delete("/sda/1/a/c/o", headers={"X-Timestamp": T0}).status_code == 404
    assert stored(devices) == [T0 + ".ts"]  # the tombstone is written anyway
    put(client, ts=T1)
    resp = client.delete("/sda/1/a/c/o", headers={"X-Timestamp": T2})
    assert resp.status_code == 204 and resp.headers["X-Backend-Timestamp"] == T2
    assert stored(devices) == [T2 + ".ts"]
    resp = client.delete("/sda/1/a/c/o", headers={"X-Timestamp": T1})
    assert resp.status_code == 409 and resp.headers["X-Backend-Timestamp"] == T2
    assert client.delete("/sda/1/a/c/o").status_code == 400


def test_delete_if_delete_at(client, devices):
    delete_at = str(int(time.time()) + 3600)
    put(client, **{"X-Delete-At": delete_at})
    headers = {"X-Timestamp": T1, "X-If-Delete-At": str(int(delete_at) + 1)}
    assert client.delete("/sda/1/a/c/o", headers=headers).status_code == 412
    headers["X-If-Delete-At"] = "soon"
    assert client.delete("/sda/1/a/c/o", headers=headers).status_code == 400
    assert stored(devices) == [T0 + ".data"]
    headers["X-If-Delete-At"] = delete_at
    assert client.delete("/sda/1/a/c/o", headers=headers).status_code == 204
    headers = {"X-Timestamp": T2, "X-If-Delete-At": delete_at}
    assert client.delete("/sda/1/a/c/o", headers=headers).status_code == 412


def test_delete_by_the_expirer_of_an_expired_object(client, devices):
    """The expirer deletes at the X-Delete-At time: the object counts as expired then."""
    delete_at = int(time.time()) + 3600
    put(client, **{"X-Delete-At": str(delete_at)})
    resp = client.delete("/sda/1/a/c/o", headers={"X-Timestamp": str(delete_at),
                                                  "X-If-Delete-At": str(delete_at)})
    assert resp.status_code == 404
    assert stored(devices) == [Timestamp(delete_at).internal + ".ts"]


# --- others --------------------------------------------------------------------------

def test_unknown_methods(client):
    assert client.open("/sda/1/a/c/o", method="PATCH").status_code == 405
    # REPLICATE exists since the replicator (tests/unit/obj/test_replicator_server.py)
    assert client.open("/sda/1", method="REPLICATE").status_code == 200


def test_app_factory_merges_options(devices):
    app = app_factory({"devices": devices, "node_timeout": "1"}, node_timeout="7",
                      container_update_timeout="0.25")
    assert (app.node_timeout, app.container_update_timeout) == (7.0, 0.25)
    assert app.manager.devices == devices


def test_chunked_body_over_the_size_limit(client, devices, monkeypatch):
    from oiofs.common import constraints
    monkeypatch.setattr(constraints.LIMITS, "max_file_size", 10)
    # the WSGI server decodes chunked bodies: the app reads plain bytes from wsgi.input
    resp = client.put("/sda/1/a/c/o", environ_overrides={"wsgi.input": io.BytesIO(b"x" * 100)},
                      headers={"X-Timestamp": T0, "Content-Type": "t/p",
                               "Transfer-Encoding": "chunked"})
    assert resp.status_code == 413
    assert stored(devices) == []
    assert os.listdir(os.path.join(devices, "sda", "tmp")) == []
