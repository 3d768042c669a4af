"""Large objects (DLO and SLO filters) through the real proxy of the shared cluster."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from tests.support.proxy_client import Client, unique


@pytest.fixture
def container(client):
    name = unique("lo")
    assert client.request("PUT", f"/{name}").status == 201
    return name


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def put_segments(client, container: str, prefix: str, pieces: list[bytes]) -> list[dict]:
    """Upload ``pieces`` as ``<prefix>/000..``; their SLO put-form entries."""
    entries = []
    for i, piece in enumerate(pieces):
        name = f"{prefix}/{i:03d}"
        resp = client.request("PUT", f"/{container}/{name}", body=piece)
        assert resp.status == 201
        entries.append({"path": f"/{container}/{name}", "etag": md5(piece),
                        "size_bytes": len(piece)})
    return entries


def test_info_advertises_both(client):
    info = json.loads(client.request("GET", "/info", absolute=True).body)
    assert info["slo"]["max_manifest_segments"] == 1000
    assert info["slo"]["max_manifest_size"] == 8 * 1024 * 1024
    assert info["slo"]["min_segment_size"] == 1
    assert info["slo"]["yield_frequency"] == 10
    assert info["dlo"]["max_get_time"] == 86400


# --- DLO ----------------------------------------------------------------------------------


def test_dlo_get_head_ranges_and_manifest(client, container):
    pieces = [os.urandom(1000 + i) for i in range(3)]
    put_segments(client, container, "parts", pieces)
    whole = b"".join(pieces)
    put = client.request("PUT", f"/{container}/big", body=b"",
                         headers={"X-Object-Manifest": f"{container}/parts/"})
    assert put.status == 201
    etag = md5("".join(md5(p) for p in pieces).encode())

    got = client.request("GET", f"/{container}/big")
    assert (got.status, got.body) == (200, whole)
    assert got.headers["etag"] == f'"{etag}"'
    assert got.headers["x-object-manifest"] == f"{container}/parts/"
    head = client.request("HEAD", f"/{container}/big")
    assert head.headers["content-length"] == str(len(whole))
    assert head.headers["etag"] == f'"{etag}"'

    # a range across the first and second segments
    part = client.request("GET", f"/{container}/big", headers={"Range": "bytes=990-1010"})
    assert (part.status, part.body) == (206, whole[990:1011])
    assert part.headers["content-range"] == f"bytes 990-1010/{len(whole)}"
    suffix = client.request("GET", f"/{container}/big", headers={"Range": "bytes=-5"})
    assert suffix.body == whole[-5:]
    bad = client.request("GET", f"/{container}/big", headers={"Range": "bytes=99999-"})
    assert bad.status == 416
    assert client.request("GET", f"/{container}/big",
                          headers={"If-None-Match": f'"{etag}"'}).status == 304
    assert client.request("GET", f"/{container}/big",
                          headers={"If-Match": '"nope"'}).status == 412

    manifest = client.request("GET", f"/{container}/big?multipart-manifest=get",
                              quote_path=False)
    assert (manifest.status, manifest.body) == (200, b"")

    # segments added later are part of the object (it is dynamic)
    extra = os.urandom(10)
    client.request("PUT", f"/{container}/parts/003", body=extra)
    assert client.request("GET", f"/{container}/big").body == whole + extra


def test_dlo_copy_assembles_or_copies_manifest(client, container):
    pieces = [b"a" * 100, b"b" * 50]
    put_segments(client, container, "cp", pieces)
    client.request("PUT", f"/{container}/man", body=b"",
                   headers={"X-Object-Manifest": f"{container}/cp/",
                            "X-Object-Meta-Color": "blue"})
    copy = client.request("COPY", f"/{container}/man",
                          headers={"Destination": f"{container}/flat"})
    assert copy.status == 201
    flat = client.request("GET", f"/{container}/flat")
    assert flat.body == b"".join(pieces)
    assert "x-object-manifest" not in flat.headers
    assert flat.headers["x-object-meta-color"] == "blue"
    assert flat.headers["etag"].strip('"') == md5(b"".join(pieces))

    copy = client.request("PUT", f"/{container}/man2?multipart-manifest=get", body=b"",
                          headers={"X-Copy-From": f"{container}/man"}, quote_path=False)
    assert copy.status == 201
    again = client.request("GET", f"/{container}/man2")
    assert again.headers["x-object-manifest"] == f"{container}/cp/"
    assert again.body == b"".join(pieces)


def test_dlo_bad_manifest_header_and_post(client, container):
    for value in ("nocontainer", "/", "/onlyslash"):
        resp = client.request("PUT", f"/{container}/bad", body=b"",
                              headers={"X-Object-Manifest": value})
        assert resp.status == 400, value
        assert b"container/prefix" in resp.body
    put_segments(client, container, "p", [b"xyz"])
    client.request("PUT", f"/{container}/later", body=b"")
    assert client.request("POST", f"/{container}/later",
                          headers={"X-Object-Manifest": "x"}).status == 400
    assert client.request("POST", f"/{container}/later",
                          headers={"X-Object-Manifest": f"{container}/p/"}).status == 202
    assert client.request("GET", f"/{container}/later").body == b"xyz"


def test_dlo_segments_read_as_the_user(cluster, client, container):
    """A user who may read the manifest's container but not the segments' gets 403."""
    segs = unique("private")
    assert client.request("PUT", f"/{segs}").status == 201
    put_segments(client, segs, "s", [b"secret"])
    client.request("POST", f"/{container}", headers={"X-Container-Read": "test:tester3"})
    client.request("PUT", f"/{container}/public", body=b"",
                   headers={"X-Object-Manifest": f"{segs}/s/"})
    other = Client(cluster, "test:tester3")
    try:
        assert other.request("GET", f"/{container}/public").status == 403
        client.request("POST", f"/{segs}", headers={"X-Container-Read": "test:tester3"})
        got = other.request("GET", f"/{container}/public")
        assert (got.status, got.body) == (200, b"secret")
    finally:
        other.close()


# --- SLO ----------------------------------------------------------------------------------


def put_manifest(client, container, name, entries, query="", headers=None):
    return client.request("PUT", f"/{container}/{name}?multipart-manifest=put{query}",
                          body=json.dumps(entries).encode(), headers=headers,
                          quote_path=False)


def test_slo_put_get_head_ranges(client, container):
    pieces = [os.urandom(2000), os.urandom(3000), os.urandom(10)]
    entries = put_segments(client, container, "segs", pieces)
    whole = b"".join(pieces)
    slo_etag = md5("".join(e["etag"] for e in entries).encode())
    put = put_manifest(client, container, "slo", entries)
    assert put.status == 201, put.body
    assert put.headers["etag"] == f'"{slo_etag}"'

    head = client.request("HEAD", f"/{container}/slo")
    assert head.headers["content-length"] == str(len(whole))
    assert head.headers["etag"] == f'"{slo_etag}"'
    assert head.headers["x-static-large-object"] == "True"
    assert not any(k.startswith("x-object-sysmeta") for k in head.headers)
    got = client.request("GET", f"/{container}/slo")
    assert (got.status, got.body) == (200, whole)
    part = client.request("GET", f"/{container}/slo", headers={"Range": "bytes=1500-4999"})
    assert (part.status, part.body) == (206, whole[1500:5000])

    stored = client.request("GET", f"/{container}/slo?multipart-manifest=get",
                            quote_path=False)
    listed = json.loads(stored.body)
    assert [s["name"] for s in listed] == [e["path"] for e in entries]
    assert [s["bytes"] for s in listed] == [len(p) for p in pieces]
    raw = client.request("GET", f"/{container}/slo?multipart-manifest=get&format=raw",
                         quote_path=False)
    assert json.loads(raw.body) == entries
    # the raw form uploads again as is
    assert put_manifest(client, container, "slo2", json.loads(raw.body)).status == 201
    assert client.request("GET", f"/{container}/slo2").body == whole


def test_slo_ranged_and_nested_segments(client, container):
    pieces = [os.urandom(1000), os.urandom(1000)]
    entries = put_segments(client, container, "n", pieces)
    inner = put_manifest(client, container, "inner", entries)
    assert inner.status == 201
    inner_etag = inner.headers["etag"].strip('"')
    outer_entries = [
        {"path": f"/{container}/inner", "etag": inner_etag, "size_bytes": 2000},
        dict(entries[0], range="10-19"),
        {"path": f"/{container}/inner", "etag": None, "size_bytes": None,
         "range": "990-1009"},
    ]
    outer = put_manifest(client, container, "outer", outer_entries)
    assert outer.status == 201, outer.body
    inner_whole = b"".join(pieces)
    expected = inner_whole + pieces[0][10:20] + inner_whole[990:1010]
    got = client.request("GET", f"/{container}/outer")
    assert got.body == expected
    assert got.headers["content-length"] == str(len(expected))
    part = client.request("GET", f"/{container}/outer", headers={"Range": "bytes=1995-2025"})
    assert part.body == expected[1995:2026]
    stored = json.loads(client.request("GET", f"/{container}/outer?multipart-manifest=get",
                                       quote_path=False).body)
    assert stored[0]["sub_slo"] is True
    assert stored[1]["range"] == "10-19"


def test_slo_put_problems_are_listed(client, container):
    entries = put_segments(client, container, "bad", [b"x" * 10, b"y" * 10])
    wrong = [dict(entries[0], etag="0" * 32), dict(entries[1], size_bytes=11),
             {"path": f"/{container}/missing", "etag": None, "size_bytes": None}]
    resp = put_manifest(client, container, "m", wrong)
    assert resp.status == 400
    text = resp.body.decode()
    assert text.startswith("Errors:\n")
    assert f"/{container}/bad/000, Etag Mismatch" in text
    assert f"/{container}/bad/001, Size Mismatch" in text
    assert f"/{container}/missing, 404 Not Found" in text
    assert client.request("HEAD", f"/{container}/m").status == 404

    shape = put_manifest(client, container, "m", [{"path": "nocontainer"}, 5,
                                                  {"path": "/c/o", "size_bytes": "1"}])
    assert shape.status == 400
    assert shape.body.decode().splitlines() == [
        "Index 0: path does not refer to an object. Path must be of the form "
        "/container/object.",
        "Index 1: not a JSON object",
        'Index 2: "size_bytes" must be a non-negative integer, or null']
    assert client.request("PUT", f"/{container}/m?multipart-manifest=put", body=b"{",
                          quote_path=False).status == 400
    refused = client.request("PUT", f"/{container}/fake", body=b"[]",
                             headers={"X-Static-Large-Object": "True"})
    assert refused.status == 400
    plain = client.request("PUT", f"/{container}/fake", body=b"[]")
    assert plain.status == 201
    assert "x-static-large-object" not in client.request("HEAD", f"/{container}/fake").headers


def test_slo_changed_segment_ends_the_response(client, container):
    pieces = [os.urandom(70000), os.urandom(70000)]
    entries = put_segments(client, container, "chg", pieces)
    assert put_manifest(client, container, "m", entries).status == 201
    client.request("PUT", f"/{container}/chg/001", body=os.urandom(70000))
    client.close()
    with pytest.raises(Exception):  # noqa: B017 - http.client reports the cut its own way
        client.request("GET", f"/{container}/m")
    client.close()


def test_slo_heartbeat_put(client, container):
    entries = put_segments(client, container, "hb", [b"1" * 5, b"2" * 5])
    resp = put_manifest(client, container, "m", entries, "&heartbeat=on")
    assert resp.status == 202
    text = resp.body.decode()
    assert "Response Status: 201 Created" in text
    bad = put_manifest(client, container, "m2", [dict(entries[0], size_bytes=1)],
                       "&heartbeat=on", headers={"Accept": "application/json"})
    report = json.loads(bad.body)
    assert report["Response Status"] == "400 Bad Request"
    assert report["Errors"] == [[f"/{container}/hb/000", "Size Mismatch"]]


def test_slo_delete_and_copy(client, container):
    pieces = [b"p" * 100, b"q" * 100]
    entries = put_segments(client, container, "del", pieces)
    assert put_manifest(client, container, "m", entries,
                        headers={"X-Object-Meta-Kind": "slo"}).status == 201
    assert client.request("POST", f"/{container}/m",
                          headers={"X-Object-Meta-Kind": "still"}).status == 202
    head = client.request("HEAD", f"/{container}/m")
    assert head.headers["x-static-large-object"] == "True"
    assert head.headers["x-object-meta-kind"] == "still"

    flat = client.request("COPY", f"/{container}/m", headers={"Destination": f"{container}/f"})
    assert flat.status == 201
    got = client.request("GET", f"/{container}/f")
    assert got.body == b"".join(pieces)
    assert "x-static-large-object" not in got.headers
    same = client.request("COPY", f"/{container}/m?multipart-manifest=get",
                          headers={"Destination": f"{container}/m2"}, quote_path=False)
    assert same.status == 201
    assert client.request("HEAD", f"/{container}/m2").headers["x-static-large-object"] == \
        "True"

    gone = client.request("DELETE", f"/{container}/m?multipart-manifest=delete",
                          headers={"Accept": "application/json"}, quote_path=False)
    assert gone.status == 200
    report = json.loads(gone.body)
    assert (report["Number Deleted"], report["Errors"]) == (3, [])
    for name in ("m", "del/000", "del/001"):
        assert client.request("HEAD", f"/{container}/{name}").status == 404
    assert client.request("DELETE", f"/{container}/f?multipart-manifest=delete",
                          quote_path=False).status == 400  # not an SLO
