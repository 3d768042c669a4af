"""Object versioning (X-Versions-Enabled) through the all-in-one (docs/middleware.md)."""

from __future__ import annotations

import hashlib
import json

from tests.support.proxy_client import unique

VID = "x-object-version-id"


def put(client, path, body):
    resp = client.request("PUT", path, body=body)
    assert resp.status == 201, resp
    return resp.headers[VID]


def test_object_versioning_is_in_info(client):
    info = json.loads(client.request("GET", "/info", absolute=True).body)
    assert "object_versioning" in info


def test_enable_and_refusals(client):
    name = unique("ov")
    assert client.request("PUT", f"/{name}", headers={"X-Versions-Enabled": "maybe"}
                          ).status == 400
    assert client.request("PUT", f"/{name}", headers={"X-Versions-Enabled": "true",
                                                      "X-Versions-Location": "x"}
                          ).status == 400
    assert client.request("PUT", f"/{name}", headers={"X-Versions-Enabled": "true"}
                          ).status == 201
    head = client.request("HEAD", f"/{name}")
    assert head.headers["x-versions-enabled"] == "True"
    assert not [h for h in head.headers if "sysmeta" in h]
    assert client.request("POST", f"/{name}", headers={"X-History-Location": "x"}
                          ).status == 400
    assert client.request("GET", f"/.oiofs-versions.{name}").status == 403
    assert client.request("GET", f"/.oiofs-versions.{name}/x").status == 403


def test_versions_read_deleted_and_restored(client):
    name = unique("ov")
    assert client.request("PUT", f"/{name}").status == 201
    first = client.request("PUT", f"/{name}/o", body=b"null one")
    assert first.status == 201 and VID not in first.headers
    assert client.request("POST", f"/{name}", headers={"X-Versions-Enabled": "true"}
                          ).status == 204
    v1 = put(client, f"/{name}/o", b"one")
    v2 = put(client, f"/{name}/o", b"two")
    assert v1 < v2
    got = client.request("GET", f"/{name}/o")
    assert (got.status, got.body, got.headers[VID]) == (200, b"two", v2)
    assert "content-location" not in got.headers
    old = client.request("GET", f"/{name}/o?version-id={v1}", quote_path=False)
    assert (old.status, old.body, old.headers[VID]) == (200, b"one", v1)
    assert client.request("HEAD", f"/{name}/o?version-id=bogus", quote_path=False
                          ).status == 400
    # the container listing shows the current version, not the link
    listing = json.loads(client.request(
        "GET", f"/{name}?format=json", quote_path=False).body)
    assert [(r["name"], r["bytes"], r["hash"]) for r in listing] == [
        ("o", 3, hashlib.md5(b"two").hexdigest())]
    assert not [k for k in listing[0] if k.startswith("symlink")]
    xml = client.request("GET", f"/{name}?format=xml", quote_path=False)
    assert b"<bytes>3</bytes>" in xml.body and xml.headers["x-versions-enabled"] == "True"
    # the object written before versioning was kept as a version, no longer null
    assert client.request("GET", f"/{name}/o?version-id=null", quote_path=False
                          ).status == 404
    kept = [r for r in json.loads(client.request(
        "GET", f"/{name}?versions&format=json", quote_path=False).body)]
    assert [r["version_id"] < v1 for r in kept] == [False, False, True]
    assert client.request("GET", f"/{name}/o?version-id={kept[2]['version_id']}",
                          quote_path=False).body == b"null one"
    listing = json.loads(client.request(
        "GET", f"/{name}?format=json", quote_path=False).body)
    assert [row["name"] for row in listing] == ["o"]

    gone = client.request("DELETE", f"/{name}/o")
    assert gone.status == 204
    marker = gone.headers[VID]
    missing = client.request("GET", f"/{name}/o")
    assert (missing.status, missing.headers.get(VID)) == (404, marker)
    prev = client.request("GET", f"/{name}/o?version-id={v2}", quote_path=False)
    assert (prev.status, prev.body) == (200, b"two")

    assert client.request("DELETE", f"/{name}/o?version-id={marker}", quote_path=False
                          ).status == 204
    back = client.request("GET", f"/{name}/o")
    assert (back.status, back.body, back.headers[VID]) == (200, b"two", v2)

    # deleting the newest version points the object at the one before
    assert client.request("DELETE", f"/{name}/o?version-id={v2}", quote_path=False
                          ).status == 204
    back = client.request("GET", f"/{name}/o")
    assert (back.status, back.body, back.headers[VID]) == (200, b"one", v1)


def test_suspend(client):
    name = unique("ov")
    assert client.request("PUT", f"/{name}", headers={"X-Versions-Enabled": "true"}
                          ).status == 201
    v1 = put(client, f"/{name}/o", b"one")
    assert client.request("POST", f"/{name}", headers={"X-Versions-Enabled": "false"}
                          ).status == 204
    assert client.request("HEAD", f"/{name}").headers["x-versions-enabled"] == "False"
    assert put(client, f"/{name}/o", b"plain") == "null"
    got = client.request("GET", f"/{name}/o")
    assert (got.body, got.headers[VID]) == (b"plain", "null")
    old = client.request("GET", f"/{name}/o?version-id={v1}", quote_path=False)
    assert (old.status, old.body) == (200, b"one")


def test_copy_from_and_copy_are_versioned(client):
    name = unique("ov")
    assert client.request("PUT", f"/{name}", headers={"X-Versions-Enabled": "true"}
                          ).status == 201
    v1 = put(client, f"/{name}/a", b"source")
    assert client.request("HEAD", f"/{name}/a").headers["content-type"] == \
        "application/octet-stream"
    put(client, f"/{name}/p.html", b"<p>")
    assert client.request("HEAD", f"/{name}/p.html").headers["content-type"] == "text/html"
    rows = json.loads(client.request("GET", f"/{name}?format=json", quote_path=False).body)
    assert [r["content_type"] for r in rows] == ["application/octet-stream", "text/html"]
    copied = client.request("PUT", f"/{name}/b", body=b"",
                            headers={"X-Copy-From": f"{name}/a"})
    assert copied.status == 201 and copied.headers[VID] > v1
    assert client.request("GET", f"/{name}/b").body == b"source"
    # COPY into a versioned container is a versioned write (Swift: the copy middleware
    # turns it into PUT with X-Copy-From), from this container and from another one
    put(client, f"/{name}/c", b"first c")
    copy = client.request("COPY", f"/{name}/a", headers={"Destination": f"{name}/c"})
    assert copy.status == 201 and copy.headers[VID]
    assert client.request("GET", f"/{name}/c").body == b"source"
    other = unique("plain")
    assert client.request("PUT", f"/{other}").status == 201
    assert client.request("PUT", f"/{other}/s", body=b"from elsewhere").status == 201
    again = client.request("COPY", f"/{other}/s", headers={"Destination": f"{name}/c"})
    assert again.status == 201 and again.headers[VID] > copy.headers[VID]
    assert client.request("GET", f"/{name}/c").body == b"from elsewhere"
    rows = [r for r in versions(client, name) if r["name"] == "c"]
    assert [r["bytes"] for r in rows] == [len(b"from elsewhere"), len(b"source"),
                                         len(b"first c")]
    assert client.request("GET", f"/{name}/c?version-id={copy.headers[VID]}",
                          quote_path=False).body == b"source"
    # a copy out of a versioned container into a plain one is an ordinary copy
    out = client.request("COPY", f"/{name}/a", headers={"Destination": f"{other}/t"})
    assert out.status == 201 and VID not in out.headers
    assert client.request("GET", f"/{other}/t").body == b"source"


def versions(client, container, query=""):
    resp = client.request("GET", f"/{container}?versions&format=json{query}",
                          quote_path=False)
    assert resp.status == 200, resp
    return json.loads(resp.body)


def test_versions_listing(client):
    name = unique("ov")
    assert client.request("PUT", f"/{name}").status == 201
    assert client.request("PUT", f"/{name}/d/x", body=b"plain").status == 201
    assert client.request("POST", f"/{name}", headers={"X-Versions-Enabled": "true"}
                          ).status == 204
    a1 = put(client, f"/{name}/a", b"1")
    a2 = put(client, f"/{name}/a", b"22")
    b1 = put(client, f"/{name}/b", b"333")
    marker = client.request("DELETE", f"/{name}/b").headers[VID]
    rows = versions(client, name)
    assert [(r["name"], r["version_id"], r["is_latest"]) for r in rows] == [
        ("a", a2, True), ("a", a1, False), ("b", marker, True), ("b", b1, False),
        ("d/x", "null", True)]
    assert rows[0]["bytes"] == 2 and rows[0]["hash"] == hashlib.md5(b"22").hexdigest()
    assert rows[2]["content_type"] == "application/x-deleted;swift_versions_deleted=1"
    assert all(r["last_modified"] and r["content_type"] for r in rows)
    page = versions(client, name, f"&marker=a&version_marker={a2}&limit=2")
    assert [(r["name"], r["version_id"]) for r in page] == [("a", a1), ("b", marker)]
    assert [r["version_id"] for r in versions(client, name, "&marker=a")][:1] == [marker]
    assert versions(client, name, "&delimiter=/")[-1] == {"subdir": "d/"}
    assert [r["version_id"] for r in versions(client, name, "&prefix=b")] == [marker, b1]
    plain = client.request("GET", f"/{name}?versions", quote_path=False)
    assert plain.body.decode().split() == ["a", "a", "b", "b", "d/x"]
    xml = client.request("GET", f"/{name}?versions&format=xml", quote_path=False)
    assert xml.status == 200 and xml.headers["content-type"].startswith("application/xml")
    from lxml import etree

    root = etree.fromstring(xml.body)
    assert root.tag == "container" and root.get("name") == name
    got = [(o.findtext("name"), o.findtext("version_id"), o.findtext("is_latest"))
           for o in root.iter("object")]
    assert got == [("a", a2, "true"), ("a", a1, "false"), ("b", marker, "true"),
                   ("b", b1, "false"), ("d/x", "null", "true")]
    assert root.find("object/hash").text == hashlib.md5(b"22").hexdigest()


def test_post_goes_to_current_version_and_container_delete(client):
    name = unique("ov")
    assert client.request("PUT", f"/{name}", headers={"X-Versions-Enabled": "true"}
                          ).status == 201
    v1 = put(client, f"/{name}/o", b"one")
    posted = client.request("POST", f"/{name}/o", headers={"X-Object-Meta-Color": "red"})
    assert (posted.status, posted.headers[VID]) == (202, v1)
    assert client.request("HEAD", f"/{name}/o").headers["x-object-meta-color"] == "red"
    assert client.request("DELETE", f"/{name}/o").status == 204
    assert client.request("DELETE", f"/{name}").status == 409
    for row in versions(client, name):
        assert client.request("DELETE", f"/{name}/o?version-id={row['version_id']}",
                              quote_path=False).status == 204
    assert versions(client, name) == []
    assert client.request("DELETE", f"/{name}/o?version-id={v1}", quote_path=False
                          ).status == 404
    assert client.request("DELETE", f"/{name}").status == 204
    assert client.request("HEAD", f"/{name}").status == 404
    assert client.request("PUT", f"/{name}").status == 201
    assert "x-versions-enabled" not in client.request("HEAD", f"/{name}").headers


def test_large_object_manifest_is_versioned(client):
    name, segs = unique("ov"), unique("seg")
    assert client.request("PUT", f"/{segs}").status == 201
    assert client.request("PUT", f"/{segs}/s1", body=b"a" * 10).status == 201
    assert client.request("PUT", f"/{name}", headers={"X-Versions-Enabled": "true"}
                          ).status == 201
    manifest = json.dumps([{"path": f"{segs}/s1"}]).encode()
    made = client.request("PUT", f"/{name}/big?multipart-manifest=put", body=manifest,
                          quote_path=False)
    assert made.status == 201, made
    got = client.request("GET", f"/{name}/big")
    assert (got.status, got.body, got.headers[VID]) == (200, b"a" * 10, made.headers[VID])
