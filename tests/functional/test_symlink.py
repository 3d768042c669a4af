"""Symlinks through the all-in-one: dynamic and static links, loops, other accounts,
listings, POST redirects, copies (docs/middleware.md)."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.support.proxy_client import Client, unique


@pytest.fixture
def container(client):
    name = unique("sym")
    assert client.request("PUT", f"/{name}").status == 201
    return name


def link(client, path, target, **headers):
    hdrs = {"X-Symlink-Target": target}
    hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
    return client.request("PUT", path, body=b"", headers=hdrs)


def test_symlink_is_in_info(client):
    info = json.loads(client.request("GET", "/info", absolute=True).body)
    assert info["symlink"] == {"symloop_max": 2, "static_links": True}


def test_dynamic_link_reads_its_target(client, container):
    assert client.request("PUT", f"/{container}/target", body=b"target data",
                          headers={"X-Object-Meta-Color": "red"}).status == 201
    resp = link(client, f"/{container}/link", f"{container}/target")
    assert resp.status == 201, resp
    got = client.request("GET", f"/{container}/link")
    assert (got.status, got.body) == (200, b"target data")
    assert got.headers["x-object-meta-color"] == "red"
    assert got.headers["content-location"] == f"/v1/AUTH_test/{container}/target"
    assert not [h for h in got.headers if "sysmeta" in h or h.startswith("x-symlink")]
    head = client.request("HEAD", f"/{container}/link")
    assert head.headers["content-length"] == "11"
    ranged = client.request("GET", f"/{container}/link", headers={"Range": "bytes=0-5"})
    assert (ranged.status, ranged.body) == (206, b"target")
    etag = got.headers["etag"]
    cached = client.request("GET", f"/{container}/link", headers={"If-None-Match": etag})
    assert cached.status == 304  # evaluated on the target
    empty = hashlib.md5(b"").hexdigest()  # the link's own ETag: still the target's answer
    assert client.request("GET", f"/{container}/link", headers={"If-None-Match": empty}
                          ).body == b"target data"
    assert client.request("GET", f"/{container}/target", headers={"If-None-Match": etag}
                          ).status == 304
    own = client.request("GET", f"/{container}/link?symlink=get", quote_path=False)
    assert (own.status, own.body) == (200, b"")
    assert own.headers["x-symlink-target"] == f"{container}/target"
    assert own.headers["x-symlink-target-account"] == "AUTH_test"
    assert own.headers["content-type"] == "application/symlink"
    # the link to a missing object is 404; deleting the link keeps the target
    assert link(client, f"/{container}/dangling", f"{container}/nothing").status == 201
    missing = client.request("GET", f"/{container}/dangling")
    assert missing.status == 404
    assert client.request("DELETE", f"/{container}/link").status == 204
    assert client.request("GET", f"/{container}/target").body == b"target data"


def test_bad_links_are_refused(client, container):
    assert client.request("PUT", f"/{container}/l", body=b"data",
                          headers={"X-Symlink-Target": f"{container}/t"}).status == 400
    assert link(client, f"/{container}/l", "no-slash").status == 412
    assert link(client, f"/{container}/l", f"/{container}/t").status == 412
    assert link(client, f"/{container}/l", f"{container}/l").status == 400
    assert link(client, f"/{container}/l", f"{container}/t",
                X_Symlink_Target_Account="a/b").status == 412
    assert client.request("HEAD", f"/{container}/l").status == 404
    assert client.request("PUT", f"/{container}/o", body=b"x").status == 201
    resp = client.request("POST", f"/{container}/o",
                          headers={"X-Symlink-Target": f"{container}/t"})
    assert resp.status == 400


def test_loops_are_cut_at_symloop_max(client, container):
    assert client.request("PUT", f"/{container}/o", body=b"end").status == 201
    assert link(client, f"/{container}/l1", f"{container}/o").status == 201
    assert link(client, f"/{container}/l2", f"{container}/l1").status == 201
    assert link(client, f"/{container}/l3", f"{container}/l2").status == 201
    assert client.request("GET", f"/{container}/l2").body == b"end"
    assert client.request("GET", f"/{container}/l3").status == 409
    assert link(client, f"/{container}/a", f"{container}/b").status == 201
    assert link(client, f"/{container}/b", f"{container}/a").status == 201
    resp = client.request("GET", f"/{container}/a")
    assert resp.status == 409 and b"Too many levels of symbolic links" in resp.body


def test_static_link_checks_its_target(client, container):
    data = b"static target"
    etag = hashlib.md5(data).hexdigest()
    assert client.request("PUT", f"/{container}/o", body=data).status == 201
    assert link(client, f"/{container}/s", f"{container}/o",
                X_Symlink_Target_Etag="0" * 32).status == 409
    assert link(client, f"/{container}/s", f"{container}/missing",
                X_Symlink_Target_Etag=etag).status == 409
    assert link(client, f"/{container}/s", f"{container}/o",
                X_Symlink_Target_Etag=etag).status == 201
    assert client.request("GET", f"/{container}/s").body == data
    own = client.request("HEAD", f"/{container}/s?symlink=get", quote_path=False)
    assert own.headers["x-symlink-target-etag"] == etag
    assert own.headers["x-symlink-target-bytes"] == str(len(data))
    listing = json.loads(client.request("GET", f"/{container}?format=json",
                                        quote_path=False).body)
    row = {r["name"]: r for r in listing}["s"]
    assert row["symlink_path"] == f"/v1/AUTH_test/{container}/o"
    assert (row["symlink_etag"], row["symlink_bytes"]) == (etag, len(data))
    assert row["hash"] == hashlib.md5(b"").hexdigest()
    # the target changes: the static link no longer reads it
    assert client.request("PUT", f"/{container}/o", body=b"changed").status == 201
    assert client.request("GET", f"/{container}/s").status == 409


def test_listing_shows_symlink_path_and_post_redirects(client, container):
    assert client.request("PUT", f"/{container}/o", body=b"x").status == 201
    assert link(client, f"/{container}/d\u00e9 l", "other%20c/%C3%A9%20t",
                X_Symlink_Target_Account="AUTH_test2").status == 201
    listing = json.loads(client.request("GET", f"/{container}?format=json",
                                        quote_path=False).body)
    rows = {r["name"]: r for r in listing}
    assert "symlink_path" not in rows["o"]
    assert rows["d\u00e9 l"]["symlink_path"] == "/v1/AUTH_test2/other%20c/%C3%A9%20t"
    assert "symlink" not in rows["d\u00e9 l"]["hash"]
    resp = client.request("POST", f"/{container}/d\u00e9 l",
                          headers={"X-Object-Meta-Tag": "t"})
    assert resp.status == 307
    assert resp.headers["location"] == "/v1/AUTH_test2/other%20c/%C3%A9%20t"
    own = client.request("HEAD", f"/{container}/d%C3%A9%20l?symlink=get", quote_path=False)
    assert own.headers["x-object-meta-tag"] == "t"
    assert client.request("POST", f"/{container}/o", headers={"X-Object-Meta-A": "b"}
                          ).status == 202


def test_copy_of_a_link_copies_its_target_or_itself(client, container):
    assert client.request("PUT", f"/{container}/o", body=b"copied").status == 201
    assert link(client, f"/{container}/l", f"{container}/o").status == 201
    resp = client.request("PUT", f"/{container}/c1", body=b"",
                          headers={"X-Copy-From": f"{container}/l"})
    assert resp.status == 201, resp
    c1 = client.request("GET", f"/{container}/c1?symlink=get", quote_path=False)
    assert c1.body == b"copied" and "x-symlink-target" not in c1.headers
    resp = client.request("COPY", f"/{container}/l?symlink=get",
                          headers={"Destination": f"{container}/c2"}, quote_path=False)
    assert resp.status == 201, resp
    c2 = client.request("GET", f"/{container}/c2?symlink=get", quote_path=False)
    assert c2.headers["x-symlink-target"] == f"{container}/o"
    assert client.request("GET", f"/{container}/c2").body == b"copied"


def test_link_to_another_account_honours_its_acls(cluster, client, container):
    other = Client(cluster, "test2:tester2")
    try:
        shared = unique("shared")
        assert other.request("PUT", f"/{shared}").status == 201
        assert other.request("PUT", f"/{shared}/o", body=b"theirs").status == 201
        assert link(client, f"/{container}/x", f"{shared}/o",
                    X_Symlink_Target_Account="AUTH_test2").status == 201
        assert client.request("GET", f"/{container}/x").status == 403
        assert other.request("POST", f"/{shared}", headers={
            "X-Container-Read": "test:tester"}).status == 204
        got = client.request("GET", f"/{container}/x")
        assert (got.status, got.body) == (200, b"theirs")
        assert got.headers["content-location"] == f"/v1/AUTH_test2/{shared}/o"
    finally:
        other.close()


def test_link_to_a_large_object(client, container):
    seg = b"a" * 10
    assert client.request("PUT", f"/{container}/seg", body=seg).status == 201
    manifest = json.dumps([{"path": f"/{container}/seg"}, {"path": f"/{container}/seg"}])
    assert client.request("PUT", f"/{container}/slo?multipart-manifest=put",
                          body=manifest.encode(), quote_path=False).status == 201
    slo_etag = client.request("HEAD", f"/{container}/slo").headers["etag"].strip('"')
    assert link(client, f"/{container}/l", f"{container}/slo",
                X_Symlink_Target_Etag=slo_etag).status == 201
    got = client.request("GET", f"/{container}/l")
    assert (got.status, got.body) == (200, seg * 2)
    own = client.request("HEAD", f"/{container}/l?symlink=get", quote_path=False)
    assert own.headers["x-symlink-target-bytes"] == "20"
