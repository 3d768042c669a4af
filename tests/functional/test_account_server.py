"""A real account server as a subprocess (cluster with two storage policies), over HTTP."""

import json
import time

import pytest
from lxml import etree

from tests.support.db_servers import raw_request, request
from tests.support.redis_server import RedisServer
from tests.support.servers import ServerProcess, free_port, write_cluster_conf, write_server_conf

POLICIES = """
[storage-policy:0]
name = gold
default = yes

[storage-policy:1]
name = silver
"""


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def port(request, tmp_path_factory):
    """An account server with each backend: the same tests run against both."""
    base = tmp_path_factory.mktemp("accounts")
    oiofs_dir = str(base / "etc")
    write_cluster_conf(oiofs_dir, POLICIES)
    (base / "devices" / "sda").mkdir(parents=True)
    options = {"backend": request.param}
    redis_server = None
    if request.param == "redis":
        redis_server = RedisServer(str(base / "redis")).start()
        options["redis_url"] = redis_server.url
    port = free_port()
    conf = write_server_conf(str(base / "account.conf"), "egg:oiofs#account", {
        "bind_port": port, "workers": 1, "devices": str(base / "devices"),
        "mount_check": "false", "oiofs_dir": oiofs_dir, "log_level": "WARNING", **options})
    try:
        server = ServerProcess("account", conf, port).start()
        try:
            yield port
        finally:
            server.kill()  # SIGKILL: see the note in test_container_server
    finally:
        if redis_server is not None:
            redis_server.stop()


class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        self.now += 0.001
        return "%016.5f" % self.now


@pytest.fixture
def ts():
    return Clock()


def report(port, ts, path, objects, size, policy="0", delete="0"):
    return request(port, "PUT", path, {
        "X-Timestamp": ts(), "X-Put-Timestamp": ts(), "X-Delete-Timestamp": delete,
        "X-Object-Count": str(objects), "X-Bytes-Used": str(size),
        "X-Backend-Storage-Policy-Index": policy})[0]


def test_account_flow(port, ts):
    assert request(port, "HEAD", "/sda/9/acc")[0] == 404
    assert request(port, "PUT", "/sda/9/acc", {"X-Timestamp": ts(),
                                               "X-Account-Meta-Owner": "me"})[0] == 201
    assert report(port, ts, "/sda/9/acc/c1", 2, 200) == 201
    assert report(port, ts, "/sda/9/acc/c2", 3, 30, policy="1") == 201
    status, headers, _ = request(port, "HEAD", "/sda/9/acc")
    assert status == 204
    assert (headers["x-account-container-count"], headers["x-account-object-count"],
            headers["x-account-bytes-used"]) == ("2", "5", "230")
    assert headers["x-account-storage-policy-gold-object-count"] == "2"
    assert headers["x-account-storage-policy-silver-bytes-used"] == "30"
    assert headers["x-account-storage-policy-silver-container-count"] == "1"
    assert headers["x-account-meta-owner"] == "me"

    status, headers, body = request(port, "GET", "/sda/9/acc?format=json")
    assert status == 200 and headers["content-type"] == "application/json; charset=utf-8"
    assert [(c["name"], c["count"], c["bytes"]) for c in json.loads(body)] == [
        ("c1", 2, 200), ("c2", 3, 30)]
    root = etree.fromstring(request(port, "GET", "/sda/9/acc?format=xml")[2])
    assert root.get("name") == "acc" and [c.findtext("name") for c in root] == ["c1", "c2"]
    assert request(port, "GET", "/sda/9/acc?marker=c1")[2] == b"c2\n"

    assert request(port, "POST", "/sda/9/acc", {"X-Timestamp": ts(),
                                                "X-Account-Meta-Owner": ""})[0] == 204
    assert "x-account-meta-owner" not in request(port, "HEAD", "/sda/9/acc")[1]
    assert request(port, "DELETE", "/sda/9/acc", {"X-Timestamp": ts()})[0] == 204
    status, headers, _ = request(port, "HEAD", "/sda/9/acc")
    assert status == 404 and headers["x-account-status"] == "Deleted"
    assert request(port, "PUT", "/sda/9/acc", {"X-Timestamp": ts()})[0] == 403
    assert report(port, ts, "/sda/9/acc/c3", 1, 1) == 404


def test_container_report_marks_deletion(port, ts):
    request(port, "PUT", "/sda/9/acc2", {"X-Timestamp": ts()})
    assert report(port, ts, "/sda/9/acc2/c", 0, 0) == 201
    put_ts, delete_ts = ts(), ts()
    status = request(port, "PUT", "/sda/9/acc2/c", {
        "X-Timestamp": ts(), "X-Put-Timestamp": put_ts, "X-Delete-Timestamp": delete_ts,
        "X-Object-Count": "0", "X-Bytes-Used": "0"})[0]
    assert status == 204
    assert request(port, "GET", "/sda/9/acc2")[0] == 204


def test_bad_input(port, ts):
    request(port, "PUT", "/sda/9/acc3", {"X-Timestamp": ts()})
    assert request(port, "PUT", "/sda/9/acc3/c", {"X-Timestamp": ts()})[0] == 400
    assert request(port, "PUT", "/sda/9/..", {"X-Timestamp": ts()})[0] == 400
    assert request(port, "PUT", "/sda/9/acc3", {"X-Timestamp": "x"})[0] == 400
    assert request(port, "PUT", "/nodev/9/acc3", {"X-Timestamp": ts()})[0] == 507
    assert request(port, "POST", "/sda/9/acc3", {"X-Timestamp": ts(),
                                                 "X-Account-Meta-X": "v" * 257})[0] == 400
    assert request(port, "GET", "/sda/9/acc3?limit=10001")[0] == 412
    assert request(port, "GET", "/sda/9/acc3?delimiter=--")[0] == 204
    assert raw_request(port, b"GET /sda/9/acc3?end_marker=%FE HTTP/1.1") == 400
    assert raw_request(port, b"HEAD /sda/9/acc\xe9 HTTP/1.1") == 412  # as Swift
    assert request(port, "HEAD", "/sda/9/acc3")[0] == 204
