"""Legacy versioned writes through the all-in-one: X-Versions-Location (stack mode) and
X-History-Location (history mode) (docs/middleware.md)."""

from __future__ import annotations

import json

import pytest

from tests.support.proxy_client import Client, unique


def listing(client, container, prefix=""):
    resp = client.request("GET", f"/{container}?format=json&prefix={prefix}",
                          quote_path=False)
    assert resp.status == 200, resp
    return json.loads(resp.body)


@pytest.fixture
def versioned(client):
    """``(container, versions container)`` in stack mode."""
    name, versions = unique("ver"), unique("old")
    assert client.request("PUT", f"/{versions}").status == 201
    assert client.request("PUT", f"/{name}", headers={"X-Versions-Location": versions}
                          ).status == 201
    return name, versions


def test_versioned_writes_is_in_info(client):
    info = json.loads(client.request("GET", "/info", absolute=True).body)
    assert info["versioned_writes"] == {"allowed_flags": ["x-versions-location",
                                                          "x-history-location"]}


def test_setting_shown_changed_and_removed(client, versioned):
    name, versions = versioned
    head = client.request("HEAD", f"/{name}")
    assert head.headers["x-versions-location"] == versions
    assert not [h for h in head.headers if "sysmeta" in h]
    assert client.request("POST", f"/{name}", headers={"X-History-Location": versions}
                          ).status == 204
    head = client.request("HEAD", f"/{name}")
    assert head.headers["x-history-location"] == versions
    assert "x-versions-location" not in head.headers
    both = client.request("POST", f"/{name}", headers={"X-History-Location": "a",
                                                       "X-Versions-Location": "b"})
    assert both.status == 400
    assert client.request("POST", f"/{name}", headers={"X-Versions-Location": "a/b"}
                          ).status == 412
    assert client.request("POST", f"/{name}", headers={"X-Remove-History-Location": "x"}
                          ).status == 204
    head = client.request("HEAD", f"/{name}")
    assert "x-history-location" not in head.headers
    assert "x-versions-location" not in head.headers


def test_stack_mode_keeps_and_restores_versions(client, versioned):
    name, versions = versioned
    for body in (b"v1", b"v2", b"v3"):
        assert client.request("PUT", f"/{name}/obj", body=body,
                              headers={"X-Object-Meta-V": body.decode()}).status == 201
    rows = listing(client, versions)
    assert [r["name"][:7] for r in rows] == ["003obj/", "003obj/"]
    assert [r["bytes"] for r in rows] == [2, 2]
    old = client.request("GET", f"/{versions}/{rows[0]['name']}")
    assert (old.body, old.headers["x-object-meta-v"]) == (b"v1", "v1")
    assert client.request("GET", f"/{name}/obj").body == b"v3"
    # DELETE pops the stack: v2, then v1, then the object is gone
    assert client.request("DELETE", f"/{name}/obj").status == 204
    got = client.request("GET", f"/{name}/obj")
    assert (got.body, got.headers["x-object-meta-v"]) == (b"v2", "v2")
    assert len(listing(client, versions)) == 1
    assert client.request("DELETE", f"/{name}/obj").status == 204
    assert client.request("GET", f"/{name}/obj").body == b"v1"
    assert listing(client, versions) == []
    assert client.request("DELETE", f"/{name}/obj").status == 204
    assert client.request("GET", f"/{name}/obj").status == 404
    assert client.request("DELETE", f"/{name}/obj").status == 404


def test_history_mode_keeps_a_delete_marker(client):
    name, versions = unique("hist"), unique("old")
    assert client.request("PUT", f"/{versions}").status == 201
    assert client.request("PUT", f"/{name}", headers={"X-History-Location": versions}
                          ).status == 201
    assert client.request("PUT", f"/{name}/\u00e9", body=b"first").status == 201
    assert client.request("PUT", f"/{name}/\u00e9", body=b"second").status == 201
    assert client.request("DELETE", f"/{name}/\u00e9").status == 204
    assert client.request("GET", f"/{name}/\u00e9").status == 404
    rows = listing(client, versions)
    assert [r["name"][:5] for r in rows] == ["002\u00e9/"] * 3
    assert [r["content_type"] for r in rows][-1] == \
        "application/x-deleted;swift_versions_deleted=1"
    assert [r["bytes"] for r in rows] == [5, 6, 0]
    got = client.request("GET", f"/{versions}/{rows[1]['name']}")
    assert got.body == b"second"


def test_copy_into_a_versioned_container_and_symlinks(client, versioned):
    name, versions = versioned
    assert client.request("PUT", f"/{name}/o", body=b"old").status == 201
    assert client.request("PUT", f"/{name}/src", body=b"new").status == 201
    assert client.request("COPY", f"/{name}/src", headers={"Destination": f"{name}/o"}
                          ).status == 201
    assert client.request("GET", f"/{name}/o").body == b"new"
    rows = listing(client, versions, "001o/")
    assert len(rows) == 1
    assert client.request("GET", f"/{versions}/{rows[0]['name']}").body == b"old"
    # a symlink overwritten is versioned as a symlink
    assert client.request("PUT", f"/{name}/l", body=b"",
                          headers={"X-Symlink-Target": f"{name}/src"}).status == 201
    assert client.request("PUT", f"/{name}/l", body=b"plain").status == 201
    row = listing(client, versions, "001l/")[0]
    assert row["symlink_path"] == f"/v1/AUTH_test/{name}/src"
    assert client.request("DELETE", f"/{name}/l").status == 204
    assert client.request("GET", f"/{name}/l").body == b"new"  # the link is back


def test_versions_need_access_to_the_versions_container(cluster, client, versioned):
    name, _versions = versioned
    other = Client(cluster, "test:tester3")  # no rights on test's containers
    try:
        assert client.request("POST", f"/{name}", headers={
            "X-Container-Write": "test:tester3", "X-Container-Read": "test:tester3"}
        ).status == 204
        assert client.request("PUT", f"/{name}/o", body=b"one").status == 201
        resp = other.request("PUT", f"/{name}/o", body=b"two")
        assert resp.status == 403, resp
        assert client.request("GET", f"/{name}/o").body == b"one"
    finally:
        other.close()


def test_missing_versions_container_refuses_the_overwrite(client):
    name = unique("ver")
    assert client.request("PUT", f"/{name}", headers={"X-Versions-Location": unique("no")}
                          ).status == 201
    assert client.request("PUT", f"/{name}/o", body=b"one").status == 201
    assert client.request("PUT", f"/{name}/o", body=b"two").status == 412
    assert client.request("GET", f"/{name}/o").body == b"one"
