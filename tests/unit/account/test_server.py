"""The account server's WSGI application in-process, on real databases in tmp_path."""

import json

import pytest
import redis
from lxml import etree
from werkzeug.test import Client

from oiofs.account.server import AccountServer, app_factory
from oiofs.common.exceptions import ConfigError
from oiofs.common.storage_policy import POLICIES, ReplicationPolicy
from oiofs.common.timestamp import Timestamp


@pytest.fixture(params=["sqlite", "redis"])
def backend_conf(request):
    """Each test runs with both account backends (Redis emptied first)."""
    if request.param == "sqlite":
        return {"backend": "sqlite"}
    url = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    return {"backend": "redis", "redis_url": url}


@pytest.fixture
def client(devices, backend_conf):
    return Client(app_factory({"devices": devices}, mount_check="false",
                              log_requests="false", **backend_conf))


class Clock:
    def __init__(self):
        self.now = 1700000000.0

    def __call__(self):
        self.now += 1
        return Timestamp(self.now).internal


@pytest.fixture
def ts():
    return Clock()


def report(client, ts, name, put=None, delete="0", objects=0, size=0, path="/sda/1/a",
           **headers):
    return client.put(f"{path}/{name}", headers={
        "X-Timestamp": ts(), "X-Put-Timestamp": put or ts(), "X-Delete-Timestamp": delete,
        "X-Object-Count": str(objects), "X-Bytes-Used": str(size), **headers})


def test_app_factory():
    assert isinstance(app_factory({}, devices="/nowhere"), AccountServer)


def test_account_lifecycle(client, ts):
    assert client.head("/sda/1/a").status_code == 404
    resp = client.put("/sda/1/a", headers={"X-Timestamp": ts(), "X-Account-Meta-A": "1"})
    assert resp.status_code == 201
    assert client.put("/sda/1/a", headers={"X-Timestamp": ts()}).status_code == 202
    head = client.head("/sda/1/a")
    assert head.status_code == 204
    assert head.headers["X-Account-Meta-A"] == "1"
    assert head.headers["X-Account-Container-Count"] == "0"
    assert client.post("/sda/1/a", headers={"X-Timestamp": ts(), "X-Account-Meta-A": "",
                                            "X-Account-Meta-B": "2"}).status_code == 204
    head = client.head("/sda/1/a")
    assert "X-Account-Meta-A" not in head.headers and head.headers["X-Account-Meta-B"] == "2"
    resp = client.delete("/sda/1/a", headers={"X-Timestamp": ts()})
    assert resp.status_code == 204
    head = client.head("/sda/1/a")
    assert head.status_code == 404 and head.headers["X-Account-Status"] == "Deleted"
    resp = client.put("/sda/1/a", headers={"X-Timestamp": ts()})
    assert resp.status_code == 403 and resp.headers["X-Account-Status"] == "Deleted"
    assert client.delete("/sda/1/a", headers={"X-Timestamp": ts()}).status_code == 404
    assert client.post("/sda/1/a", headers={"X-Timestamp": ts()}).status_code == 404


def test_the_same_delete_taken_twice_is_204_both_times(devices, redis_url, ts):
    # Three account servers share one Redis, and the proxy sends them one DELETE (one
    # X-Timestamp) at once: each must answer 204, whichever marked the account first.
    # A later DELETE (another timestamp) still finds it deleted: 404.
    redis.Redis.from_url(redis_url).flushdb()
    servers = [Client(app_factory({"devices": devices}, mount_check="false",
                                  log_requests="false", backend="redis",
                                  redis_url=redis_url)) for _ in range(3)]
    assert servers[0].put("/sda/1/a", headers={"X-Timestamp": ts()}).status_code == 201
    stamp = ts()
    for server in servers:
        resp = server.delete("/sda/1/a", headers={"X-Timestamp": stamp})
        assert resp.status_code == 204
        assert resp.headers["X-Account-Status"] == "Deleted"
    assert servers[1].delete("/sda/1/a", headers={"X-Timestamp": ts()}).status_code == 404


def test_container_reports_and_stats(client, ts):
    assert report(client, ts, "c1", objects=1).status_code == 404  # no account
    client.put("/sda/1/a", headers={"X-Timestamp": ts()})
    assert report(client, ts, "c1", objects=2, size=20).status_code == 201
    assert report(client, ts, "c2", objects=3, size=30,
                  **{"X-Backend-Storage-Policy-Index": "1"}).status_code == 201
    head = client.head("/sda/1/a")
    assert (head.headers["X-Account-Container-Count"], head.headers["X-Account-Object-Count"],
            head.headers["X-Account-Bytes-Used"]) == ("2", "5", "50")
    put = ts()
    assert report(client, ts, "c1", put=put, delete=ts()).status_code == 204  # deleted
    assert client.head("/sda/1/a").headers["X-Account-Container-Count"] == "1"


def test_per_policy_headers(client, ts):
    saved = list(POLICIES)
    POLICIES._set([ReplicationPolicy(0, "gold", is_default=True), ReplicationPolicy(1, "silver")])
    try:
        client.put("/sda/1/a", headers={"X-Timestamp": ts()})
        report(client, ts, "c1", objects=2, size=20)
        report(client, ts, "c2", objects=3, size=30, **{"X-Backend-Storage-Policy-Index": "1"})
        report(client, ts, "c3", objects=1, size=1, **{"X-Backend-Storage-Policy-Index": "9"})
        head = client.head("/sda/1/a")
    finally:
        POLICIES._set(saved)
    assert head.headers["X-Account-Storage-Policy-Gold-Object-Count"] == "2"
    assert head.headers["X-Account-Storage-Policy-Silver-Bytes-Used"] == "30"
    assert head.headers["X-Account-Storage-Policy-Silver-Container-Count"] == "1"
    assert head.headers["X-Account-Object-Count"] == "6"  # unknown policy 9 still counts


def test_autocreate_for_internal_accounts(client, ts):
    assert report(client, ts, "c", objects=1, path="/sda/1/.internal").status_code == 201
    assert client.head("/sda/1/.internal").headers["X-Account-Container-Count"] == "1"


@pytest.mark.parametrize("drop,bad", [("X-Put-Timestamp", "x"), ("X-Object-Count", "-1"),
                                      ("X-Bytes-Used", "1.5"),
                                      ("X-Backend-Storage-Policy-Index", "x")])
def test_bad_container_reports(client, ts, drop, bad):
    client.put("/sda/1/a", headers={"X-Timestamp": ts()})
    headers = {"X-Put-Timestamp": ts(), "X-Delete-Timestamp": "0", "X-Object-Count": "0",
               "X-Bytes-Used": "0"}
    headers.pop(drop, None)
    if drop != "X-Backend-Storage-Policy-Index":
        assert client.put("/sda/1/a/c", headers=headers).status_code == 400
    headers[drop] = bad
    assert client.put("/sda/1/a/c", headers=headers).status_code == 400


def test_listing(client, ts):
    client.put("/sda/1/a", headers={"X-Timestamp": ts()})
    assert client.get("/sda/1/a").status_code == 204
    assert client.get("/sda/1/a?format=json").data == b"[]"
    for name in ("photos", "pre-1", "pre-2", "zzz"):
        assert report(client, ts, name, objects=1, size=10).status_code == 201
    assert client.get("/sda/1/a").data == b"photos\npre-1\npre-2\nzzz\n"
    records = json.loads(client.get("/sda/1/a?format=json&delimiter=-").data)
    assert records[0]["name"] == "photos" and records[0]["count"] == 1
    assert set(records[0]) == {"name", "count", "bytes", "last_modified"}
    assert records[1] == {"subdir": "pre-"}
    root = etree.fromstring(client.get("/sda/1/a?format=xml").data)
    assert root.tag == "account" and root.get("name") == "a" and len(root) == 4
    assert client.get("/sda/1/a?reverse=1&limit=1").data == b"zzz\n"
    assert client.get("/sda/1/a?prefix=pre-&marker=pre-1").data == b"pre-2\n"
    assert client.get("/sda/1/a?limit=10001").status_code == 412
    assert client.get("/sda/1/a?delimiter=re-").data == b"photos\npre-\nzzz\n"
    assert client.get("/sda/1/a?prefix=%FF").status_code == 400
    assert client.get("/sda/1/a", headers={"Accept": "image/gif"}).status_code == 406


def test_metadata_limits(client, ts):
    client.put("/sda/1/a", headers={"X-Timestamp": ts()})
    for i in range(4):
        resp = client.post("/sda/1/a", headers={
            "X-Timestamp": ts(), **{f"X-Account-Meta-K{i}{j}": "v" * 250 for j in range(5)}})
        assert resp.status_code == (400 if i == 3 else 204)
    assert client.put("/sda/1/a", headers={"X-Timestamp": ts(),
                                           "X-Account-Meta-" + "n" * 129: "v"}
                      ).status_code == 400


@pytest.mark.parametrize("path,status", [("/sda/1", 400), ("/sda/1/a/c/o", 400),
                                         ("/sda/p/a", 400), ("/sda/1/..", 400),
                                         ("/none/1/a", 507)])
def test_bad_paths(client, ts, path, status):
    assert client.put(path, headers={"X-Timestamp": ts()}).status_code == status


def test_bad_timestamp(client):
    assert client.put("/sda/1/a", headers={"X-Timestamp": "soon"}).status_code == 400
    assert client.delete("/sda/1/a").status_code == 400


def test_report_order(client, ts):
    """A later report with the same timestamps updates the counts; an older one does not."""
    client.put("/sda/1/a", headers={"X-Timestamp": ts()})
    old, put = ts(), ts()
    assert report(client, ts, "c", put=put, objects=1, size=10).status_code == 201
    assert report(client, ts, "c", put=put, objects=4, size=40).status_code == 201
    assert report(client, ts, "c", put=old, objects=9, size=90).status_code == 201
    head = client.head("/sda/1/a")
    assert (head.headers["X-Account-Object-Count"], head.headers["X-Account-Bytes-Used"]) == (
        "4", "40")
    assert json.loads(client.get("/sda/1/a?format=json").data)[0]["count"] == 4


def test_unknown_backend_refused(devices):
    with pytest.raises(ConfigError, match="unknown backend"):
        app_factory({"devices": devices}, backend="mysql")


def test_redis_unreachable_is_503(devices, ts):
    client = Client(app_factory({"devices": devices}, mount_check="false",
                                log_requests="false", backend="redis",
                                redis_url="redis://127.0.0.1:1/0",
                                redis_connect_timeout="0.5"))
    for resp in (client.head("/sda/1/a"), client.put("/sda/1/a", headers={"X-Timestamp": ts()}),
                 report(client, ts, "c", objects=1)):
        assert resp.status_code == 503
        assert resp.request.method == "HEAD" or b"Redis" in resp.data


def test_redis_backend_has_nothing_to_replicate(devices, redis_url):
    client = Client(app_factory({"devices": devices}, mount_check="false",
                                log_requests="false", backend="redis", redis_url=redis_url))
    assert client.open("/sda/1/abc", method="REPLICATE", data=b"[]").status_code == 501


def test_report_to_deleted_account_needs_override(client, ts):
    client.put("/sda/1/a", headers={"X-Timestamp": ts()})
    assert client.delete("/sda/1/a", headers={"X-Timestamp": ts()}).status_code == 204
    assert report(client, ts, "c", objects=1).status_code == 404
    assert report(client, ts, "c", objects=1,
                  **{"X-Account-Override-Deleted": "yes"}).status_code == 201


def test_raw_rows_for_a_merging_proxy(client, ts, backend_conf):
    """The backend-only form (X-Backend-Include-Deleted): deleted container rows too,
    with their put and delete timestamps; refused with the Redis backend (one store:
    account servers never disagree)."""
    client.put("/sda/1/a", headers={"X-Timestamp": ts()})
    for name in ("a", "b", "c"):
        assert report(client, ts, name).status_code == 201
    gone = ts()
    assert report(client, ts, "b", put="0", delete=gone).status_code == 204
    raw = {"X-Backend-Include-Deleted": "true"}
    resp = client.get("/sda/1/a?marker=a", headers=raw)
    if backend_conf["backend"] == "redis":
        assert resp.status_code == 501
        return
    assert resp.status_code == 200
    rows = json.loads(resp.data)
    assert [(r["name"], r["deleted"]) for r in rows] == [("b", 1), ("c", 0)]
    assert rows[0]["delete_timestamp"] == gone
    assert set(rows[0]) == {"name", "put_timestamp", "delete_timestamp", "object_count",
                            "bytes_used", "deleted", "storage_policy_index"}
    inclusive = client.get("/sda/1/a?marker=c&end_marker=a&reverse=on",
                           headers={**raw, "X-Backend-Lower-Inclusive": "true"})
    assert [r["name"] for r in json.loads(inclusive.data)] == ["b", "a"]
    assert client.get("/sda/1/a?delimiter=-", headers=raw).status_code == 400
    assert client.get("/sda/1/a").data == b"a\nc\n"  # the usual form
