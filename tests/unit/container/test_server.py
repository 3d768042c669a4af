"""The container server's WSGI application in-process, on real databases in tmp_path.

Requests go through werkzeug's test client into the real app; the account update to real
account servers is covered by tests/functional/test_container_server.py.
"""

import json
import os

import pytest
from lxml import etree
from werkzeug.test import Client

from oiofs.common.db.broker import db_dir_for
from oiofs.common.storage_policy import POLICIES, ReplicationPolicy
from oiofs.common.timestamp import Timestamp
from oiofs.container.backend import ContainerBroker
from oiofs.container.server import ContainerServer, app_factory


@pytest.fixture
def two_policies():
    saved = list(POLICIES)
    POLICIES._set([ReplicationPolicy(0, "gold", is_default=True), ReplicationPolicy(1, "silver")])
    yield
    POLICIES._set(saved)


@pytest.fixture
def app(devices):
    return app_factory({"devices": devices}, mount_check="false", log_requests="false")


@pytest.fixture
def client(app):
    return Client(app)


class Clock:
    def __init__(self):
        self.now = 1700000000.0

    def __call__(self):
        self.now += 1
        return Timestamp(self.now).internal


@pytest.fixture
def ts():
    return Clock()


def put_container(client, ts, path="/sda/1/a/c", **headers):
    return client.put(path, headers={"X-Timestamp": ts(), **headers})


def put_object(client, ts, name, size=3, path="/sda/1/a/c", **headers):
    return client.put(f"{path}/{name}", headers={
        "X-Timestamp": ts(), "X-Size": str(size), "X-Content-Type": "text/plain",
        "X-Etag": "etag", **headers})


def test_app_factory_reads_options(devices):
    app = app_factory({"devices": devices}, mount_check="false", allow_versions="true",
                      node_timeout="7")
    assert isinstance(app, ContainerServer)
    assert app.node_timeout == 7.0 and app.mount_check is False
    assert "x-versions-location" in app.save_headers
    assert app.fsync is not os.fsync  # a GroupFsync by default (inline while the disk is fast)
    plain = app_factory({"devices": devices}, fsync_in_threads="false", pending_cap="4096")
    assert plain.fsync is os.fsync and plain.pending_cap == 4096


def test_create_then_update(client, ts):
    resp = put_container(client, ts, **{"X-Container-Meta-Color": "blue"})
    assert resp.status_code == 201
    assert resp.headers["X-Backend-Storage-Policy-Index"] == "0"
    assert put_container(client, ts).status_code == 202
    head = client.head("/sda/1/a/c")
    assert head.status_code == 204
    assert head.headers["X-Container-Meta-Color"] == "blue"
    assert head.headers["X-Container-Object-Count"] == "0"
    assert head.headers["Content-Type"] == "text/plain; charset=utf-8"
    for name in ("X-Timestamp", "X-PUT-Timestamp", "X-Backend-Put-Timestamp",
                 "X-Backend-Delete-Timestamp", "X-Backend-Status-Changed-At",
                 "Last-Modified"):
        assert name in head.headers


def test_policy_on_create_and_conflict(client, ts, two_policies):
    assert put_container(client, ts, **{"X-Backend-Storage-Policy-Index": "1"}
                         ).status_code == 201
    resp = put_container(client, ts, **{"X-Backend-Storage-Policy-Index": "0"})
    assert resp.status_code == 409
    assert resp.headers["X-Backend-Storage-Policy-Index"] == "1"
    assert put_container(client, ts).status_code == 202  # no index given: no conflict
    for bad in ("7", "x", "-1", ""):
        assert put_container(client, ts, **{"X-Backend-Storage-Policy-Index": bad}
                             ).status_code == 400
    # a deleted container may come back with another policy
    assert client.delete("/sda/1/a/c", headers={"X-Timestamp": ts()}).status_code == 204
    resp = put_container(client, ts, **{"X-Backend-Storage-Policy-Index": "0"})
    assert resp.status_code == 201 and resp.headers["X-Backend-Storage-Policy-Index"] == "0"


def test_object_rows(client, ts):
    assert put_object(client, ts, "o").status_code == 404  # no container yet
    put_container(client, ts)
    assert put_object(client, ts, "dir/o", size=10).status_code == 201
    assert put_object(client, ts, "o").status_code == 201
    head = client.head("/sda/1/a/c")
    assert head.headers["X-Container-Object-Count"] == "2"
    assert head.headers["X-Container-Bytes-Used"] == "13"
    assert client.delete("/sda/1/a/c/o", headers={"X-Timestamp": ts()}).status_code == 204
    assert client.delete("/sda/1/a/nope/o", headers={"X-Timestamp": ts()}).status_code == 404
    assert client.head("/sda/1/a/c").headers["X-Container-Object-Count"] == "1"


@pytest.mark.parametrize("missing", ["X-Size", "X-Content-Type", "X-Etag"])
def test_object_put_needs_its_headers(client, ts, missing):
    put_container(client, ts)
    headers = {"X-Timestamp": ts(), "X-Size": "1", "X-Content-Type": "t", "X-Etag": "e"}
    del headers[missing]
    assert client.put("/sda/1/a/c/o", headers=headers).status_code == 400
    headers[missing] = "-1" if missing == "X-Size" else "x"
    expected = 400 if missing == "X-Size" else 201
    assert client.put("/sda/1/a/c/o", headers=headers).status_code == expected


def update_rows(client, rows, path="/sda/1/a/c"):
    body = json.dumps(rows).encode("utf-8")
    return client.open(path, method="UPDATE", data=body,
                       headers={"Content-Type": "application/json"})


def row(op, name, timestamp, size=3, **headers):
    if op == "PUT":
        headers = {"X-Size": str(size), "X-Content-Type": "text/plain", "X-Etag": "etag",
                   **headers}
    return {"op": op, "obj": name, "headers": {"X-Timestamp": timestamp, **headers}}


def test_update_records_several_rows_at_once(client, ts, devices):
    assert update_rows(client, [row("PUT", "o", ts())]).status_code == 404  # no container
    put_container(client, ts)
    put_object(client, ts, "gone")
    resp = update_rows(client, [
        row("PUT", "a1", ts(), size=5),
        row("PUT", "h\u00e9/\u2603", ts(), size=7, **{
            "X-Content-Type": "text/\u00e9".encode().decode("latin-1")}),  # as WSGI
        row("DELETE", "gone", ts()),
    ])
    assert resp.status_code == 202
    # acknowledged once in the pending file (durable), merged into sqlite on the reads below
    broker = ContainerBroker(os.path.join(
        db_dir_for(devices, "sda", "containers", "1", "a", "c")[1]))
    with open(broker.db_file + ".pending", "rb") as pending:
        assert pending.read().count(b":") == 4  # the single PUT's entry, then the batch's
    listing = json.loads(client.get("/sda/1/a/c?format=json").data)
    assert [(r["name"], r["bytes"], r["content_type"]) for r in listing] == [
        ("a1", 5, "text/plain"), ("h\u00e9/\u2603", 7, "text/\u00e9")]
    head = client.head("/sda/1/a/c")
    assert (head.headers["X-Container-Object-Count"],
            head.headers["X-Container-Bytes-Used"]) == ("2", "12")


def test_update_is_refused_whole_when_a_row_is_bad(client, ts):
    put_container(client, ts)
    good = row("PUT", "ok", ts())
    for rows in ([good, row("PUT", "o", ts(), **{"X-Size": "x"})],
                 [good, row("PUT", "o", "not-a-time")],
                 [good, {"op": "POST", "obj": "o", "headers": {}}],
                 [good, row("PUT", "", ts())],
                 [good, row("PUT", "x" * 2000, ts())],
                 []):
        assert update_rows(client, rows).status_code == 400, rows
    assert client.open("/sda/1/a/c", method="UPDATE", data=b"{not json").status_code == 400
    assert client.open("/sda/1/a/c", method="UPDATE", data=b"[]" + b" " * (2 << 20)) \
        .status_code == 413
    assert client.head("/sda/1/a/c").headers["X-Container-Object-Count"] == "0"


def test_update_on_a_deleted_container(client, ts):
    put_container(client, ts)
    assert client.delete("/sda/1/a/c", headers={"X-Timestamp": ts()}).status_code == 204
    assert update_rows(client, [row("PUT", "o", ts())]).status_code == 404
    # deletions alone are recorded, as a single DELETE of a row would be
    assert update_rows(client, [row("DELETE", "o", ts())]).status_code == 202


def test_update_autocreates_internal_containers(client, ts):
    path = "/sda/1/.expiring_objects/1700000000"
    assert update_rows(client, [row("PUT", "1700000000-a/c/o", ts(), size=0)],
                       path=path).status_code == 202
    assert client.head(path).headers["X-Container-Object-Count"] == "1"


def test_delete_container(client, ts):
    assert client.delete("/sda/1/a/c", headers={"X-Timestamp": ts()}).status_code == 404
    put_container(client, ts)
    put_object(client, ts, "o")
    assert client.delete("/sda/1/a/c", headers={"X-Timestamp": ts()}).status_code == 409
    client.delete("/sda/1/a/c/o", headers={"X-Timestamp": ts()})
    delete_ts = ts()
    assert client.delete("/sda/1/a/c", headers={"X-Timestamp": delete_ts}).status_code == 204
    head = client.head("/sda/1/a/c")
    assert head.status_code == 404
    assert head.headers["X-Backend-Delete-Timestamp"] == delete_ts
    assert "X-Container-Object-Count" not in head.headers
    assert client.get("/sda/1/a/c").status_code == 404
    assert client.delete("/sda/1/a/c", headers={"X-Timestamp": ts()}).status_code == 404
    assert put_object(client, ts, "o").status_code == 404
    assert client.post("/sda/1/a/c", headers={"X-Timestamp": ts()}).status_code == 404


def test_put_older_than_delete_is_conflict(client, ts):
    old = ts()
    put_container(client, ts)
    client.delete("/sda/1/a/c", headers={"X-Timestamp": ts()})
    assert client.put("/sda/1/a/c", headers={"X-Timestamp": old}).status_code == 409


def test_autocreate_for_internal_accounts(client, ts):
    assert put_object(client, ts, "o", path="/sda/1/.expiring/c").status_code == 201
    assert client.head("/sda/1/.expiring/c").headers["X-Container-Object-Count"] == "1"
    assert put_object(client, ts, "o", path="/sda/1/normal/c").status_code == 404


def test_post_metadata(client, ts):
    assert client.post("/sda/1/a/c", headers={"X-Timestamp": ts()}).status_code == 404
    put_container(client, ts, **{"X-Container-Meta-A": "1"})
    resp = client.post("/sda/1/a/c", headers={
        "X-Timestamp": ts(), "X-Container-Meta-A": "", "X-Container-Meta-B": "caf\xc3\xa9",
        "X-Container-Read": ".r:*", "X-Container-Sysmeta-X": "s", "X-Other": "not kept"})
    assert resp.status_code == 204
    head = client.head("/sda/1/a/c")
    assert "X-Container-Meta-A" not in head.headers  # emptied: deleted
    assert head.headers["X-Container-Meta-B"].encode("latin-1").decode() == "café"
    assert head.headers["X-Container-Read"] == ".r:*"
    assert head.headers["X-Container-Sysmeta-X"] == "s"
    assert "X-Other" not in head.headers


def test_post_and_put_move_last_modified_and_put_timestamp(client):
    first, second, third = (Timestamp(t) for t in (1000000000.5, 1000000100.2, 1000000200.9))
    assert client.put("/sda/1/a/c", headers={"X-Timestamp": first.internal}
                      ).status_code == 201
    head = client.head("/sda/1/a/c")
    assert head.headers["Last-Modified"] == "Sun, 09 Sep 2001 01:46:41 GMT"  # rounded up
    assert head.headers["X-Put-Timestamp"] == first.normal
    assert client.post("/sda/1/a/c", headers={"X-Timestamp": second.internal}
                       ).status_code == 204
    for resp in (client.head("/sda/1/a/c"), client.get("/sda/1/a/c")):
        assert resp.headers["Last-Modified"] == "Sun, 09 Sep 2001 01:48:21 GMT"
        assert resp.headers["X-Put-Timestamp"] == second.normal
    assert client.put("/sda/1/a/c", headers={"X-Timestamp": third.internal}
                      ).status_code == 202
    assert client.head("/sda/1/a/c").headers["Last-Modified"] == \
        "Sun, 09 Sep 2001 01:50:01 GMT"
    # an older POST (a late replica) does not move it back
    assert client.post("/sda/1/a/c", headers={"X-Timestamp": second.internal}
                       ).status_code == 204
    assert client.head("/sda/1/a/c").headers["X-Put-Timestamp"] == third.normal


def test_metadata_limits(client, ts):
    put_container(client, ts)
    too_long = {"X-Timestamp": ts(), "X-Container-Meta-A": "x" * 257}
    assert client.post("/sda/1/a/c", headers=too_long).status_code == 400
    # each request within limits, together over the 4096-byte total: refused
    for i in range(4):
        resp = client.post("/sda/1/a/c", headers={
            "X-Timestamp": ts(), **{f"X-Container-Meta-K{i}{j}": "v" * 250 for j in range(5)}})
        assert resp.status_code == (400 if i == 3 else 204)


def test_sync_to_change_resets_sync_points(client, ts, devices):
    put_container(client, ts, **{"X-Container-Sync-To": "http://127.0.0.1/v1/a/c1"})
    broker = ContainerBroker(db_dir_for(devices, "sda", "containers", 1, "a", "c")[1])
    broker.set_x_container_sync_points(5, 5)
    client.post("/sda/1/a/c", headers={"X-Timestamp": ts(),
                                       "X-Container-Sync-To": "http://127.0.0.1/v1/a/c1"})
    assert broker.get_info()["x_container_sync_point1"] == 5
    client.post("/sda/1/a/c", headers={"X-Timestamp": ts(),
                                       "X-Container-Sync-To": "http://127.0.0.1/v1/a/c2"})
    info = broker.get_info()
    assert (info["x_container_sync_point1"], info["x_container_sync_point2"]) == (-1, -1)


def fill(client, ts, names):
    put_container(client, ts)
    for name in names:
        assert put_object(client, ts, name).status_code == 201


def test_listing_formats(client, ts):
    fill(client, ts, ["a", "d/1", "d/2", "snow\u2603"])
    plain = client.get("/sda/1/a/c")
    assert plain.status_code == 200
    assert plain.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert plain.data.decode() == "a\nd/1\nd/2\nsnow\u2603\n"
    listing = client.get("/sda/1/a/c?format=json&delimiter=/")
    assert listing.headers["Content-Type"] == "application/json; charset=utf-8"
    records = json.loads(listing.data)
    assert [r.get("name", r.get("subdir")) for r in records] == ["a", "d/", "snow\u2603"]
    assert set(records[0]) == {"name", "hash", "bytes", "content_type", "last_modified"}
    assert b"\\u2603" in listing.data  # JSON escapes non-ASCII
    xml = client.get("/sda/1/a/c", headers={"Accept": "application/xml"})
    assert xml.headers["Content-Type"] == "application/xml; charset=utf-8"
    root = etree.fromstring(xml.data)
    assert root.get("name") == "c" and len(root) == 4
    reverse = client.get("/sda/1/a/c?reverse=true&limit=2&marker=snow%E2%98%83")
    assert reverse.data == b"d/2\nd/1\n"
    paged = client.get("/sda/1/a/c?prefix=d/&marker=d/1")
    assert paged.data == b"d/2\n"
    assert client.get("/sda/1/a/c?path=d").data == b"d/1\nd/2\n"
    assert client.get("/sda/1/a/c?end_marker=b").data == b"a\n"


def test_empty_listings(client, ts):
    put_container(client, ts)
    assert client.get("/sda/1/a/c").status_code == 204
    resp = client.get("/sda/1/a/c?format=json")
    assert (resp.status_code, resp.data) == (200, b"[]")
    assert client.get("/sda/1/a/c?format=xml").status_code == 200


@pytest.mark.parametrize("query,status", [
    ("limit=10001", 412), ("delimiter=ab", 204), ("prefix=%FF", 400), ("marker=%C3%28", 400),
    ("limit=10000", 204), ("limit=nonsense", 204)])
def test_bad_listing_parameters(client, ts, query, status):
    put_container(client, ts)
    assert client.get(f"/sda/1/a/c?{query}").status_code == status


def test_not_acceptable(client, ts):
    put_container(client, ts)
    assert client.get("/sda/1/a/c", headers={"Accept": "image/png"}).status_code == 406
    assert client.head("/sda/1/a/c", headers={"Accept": "image/png"}).status_code == 406


@pytest.mark.parametrize("path,status", [
    ("/sda/1/a", 400), ("/sda/1/a/", 400), ("/sda/x/a/c", 400), ("/sda/1/../c", 400),
    ("/sda/1/a/..", 400), ("/../1/a/c", 400), ("/sda//a/c", 400), ("/nodev/1/a/c", 507),
    ("/sda/1/a/c%00x", 412)])
def test_bad_paths(client, ts, path, status):
    assert client.put(path, headers={"X-Timestamp": ts()}).status_code == status


def test_path_not_utf8_is_412(client, ts):
    # a WSGI server hands PATH_INFO over as latin-1 decoded bytes: this is byte 0xFF
    resp = client.put("/x", headers={"X-Timestamp": ts()},
                      environ_overrides={"PATH_INFO": "/sda/1/a/\xff"})
    assert resp.status_code == 412  # Swift's "Invalid UTF8 or contains NULL"


@pytest.mark.parametrize("value", [None, "", "abc", "-5", "1e400"])
def test_bad_timestamps(client, value):
    headers = {} if value is None else {"X-Timestamp": value}
    assert client.put("/sda/1/a/c", headers=headers).status_code == 400
    assert client.delete("/sda/1/a/c", headers=headers).status_code == 400
    assert client.post("/sda/1/a/c", headers=headers).status_code == 400


def test_get_with_an_object_path_is_refused(client, ts):
    put_container(client, ts)
    assert client.get("/sda/1/a/c/o").status_code == 400


def test_method_not_allowed(client):
    resp = client.open("/sda/1/a/c", method="PATCH")
    assert resp.status_code == 405 and "GET" in resp.headers["Allow"]


def test_mount_check(devices, ts):
    # tmp_path's sda is a plain directory, not a mount point: refused with mount_check
    client = Client(app_factory({"devices": devices}, mount_check="true"))
    assert put_container(client, ts).status_code == 507


def test_account_update_header_mismatch_is_400(client, ts):
    resp = put_container(client, ts, **{"X-Account-Host": "127.0.0.1:1,127.0.0.1:2",
                                         "X-Account-Device": "sda",
                                         "X-Account-Partition": "1"})
    assert resp.status_code == 400


def test_corrupt_database_answers_500_then_404(client, ts, devices):
    put_container(client, ts)
    db_file = db_dir_for(devices, "sda", "containers", 1, "a", "c")[1]
    with open(db_file, "wb") as handle:
        handle.write(b"not a database" * 500)
    assert client.get("/sda/1/a/c").status_code == 500
    assert client.get("/sda/1/a/c").status_code == 404


# --- the backend-only raw form a proxy merges replicas with -------------------------------

RAW = {"X-Backend-Include-Deleted": "true"}


def test_raw_rows_include_deleted_rows_with_their_timestamps(client, ts):
    put_container(client, ts)
    for name in ("a", "b", "c", "d"):
        put_object(client, ts, name)
    deleted_at = ts()
    client.delete("/sda/1/a/c/b", headers={"X-Timestamp": deleted_at})
    plain = client.get("/sda/1/a/c?format=json")
    assert [r["name"] for r in json.loads(plain.data)] == ["a", "c", "d"]
    resp = client.get("/sda/1/a/c?limit=3&marker=a", headers=RAW)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    rows = json.loads(resp.data)
    assert [(r["name"], r["deleted"]) for r in rows] == [("b", 1), ("c", 0), ("d", 0)]
    assert rows[0]["created_at"] == deleted_at
    assert set(rows[1]) == {"name", "created_at", "size", "content_type", "etag", "deleted"}
    assert resp.headers["X-Backend-Rows-Hash"]  # the usual container headers too


def test_raw_rows_bounds_reverse_and_inclusive_lower_bound(client, ts):
    put_container(client, ts)
    for name in ("a", "b", "c", "d"):
        put_object(client, ts, name)
    client.delete("/sda/1/a/c/c", headers={"X-Timestamp": ts()})

    def names(query, **headers):
        resp = client.get(f"/sda/1/a/c?{query}", headers={**RAW, **headers})
        return [r["name"] for r in json.loads(resp.data)]

    assert names("marker=b&end_marker=d") == ["c"]
    assert names("marker=b&end_marker=d", **{"X-Backend-Lower-Inclusive": "true"}) == \
        ["b", "c"]
    assert names("reverse=on&marker=d&end_marker=a") == ["c", "b"]
    assert names("reverse=on&marker=d&end_marker=a",
                 **{"X-Backend-Lower-Inclusive": "true"}) == ["c", "b", "a"]
    assert names("prefix=c") == ["c"]


def test_raw_rows_refuse_a_delimiter(client, ts):
    put_container(client, ts)
    assert client.get("/sda/1/a/c?delimiter=/", headers=RAW).status_code == 400
    assert client.get("/sda/1/a/c?path=x", headers=RAW).status_code == 400
    assert client.get("/sda/1/a/c?delimiter=/").status_code == 204  # the usual form
