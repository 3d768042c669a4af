"""A real container server (2 workers) and account server as subprocesses, over HTTP."""

import http.client
import json
import threading
import time

import pytest
from lxml import etree

from tests.support.db_servers import raw_request, request
from tests.support.servers import ServerProcess, free_port, write_cluster_conf, write_server_conf


class Clock:
    def __init__(self):
        self.now = time.time()
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            self.now += 0.001
            return "%016.5f" % self.now


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    base = tmp_path_factory.mktemp("containers")
    oiofs_dir = str(base / "etc")
    write_cluster_conf(oiofs_dir)
    devices = base / "devices"
    (devices / "sda").mkdir(parents=True)
    procs = []
    ports = {}
    try:
        for kind, workers in (("account", 1), ("container", 2)):
            port = free_port()
            conf = write_server_conf(str(base / f"{kind}.conf"), f"egg:oiofs#{kind}", {
                "bind_port": port, "workers": workers, "devices": str(devices),
                "mount_check": "false", "oiofs_dir": oiofs_dir, "log_level": "WARNING"})
            procs.append(ServerProcess(kind, conf, port).start())
            ports[kind] = port
        yield ports
    finally:
        for proc in procs:
            # SIGKILL: a graceful SIGTERM can leave an idle worker asleep in the hub
            # until the 15 s deadline (see the report on oiofs.common.wsgi)
            proc.kill()


@pytest.fixture
def ts():
    return Clock()


def account_headers(ports, partition="1"):
    return {"X-Account-Host": f"127.0.0.1:{ports['account']}", "X-Account-Device": "sda",
            "X-Account-Partition": partition}


def put_object(port, ts, path, size=3, conn=None):
    return request(port, "PUT", path, {"X-Timestamp": ts(), "X-Size": str(size),
                                       "X-Content-Type": "text/plain", "X-Etag": "e" * 32},
                   conn)[0]


def test_full_flow_with_account_updates(servers, ts):
    cport, aport = servers["container"], servers["account"]
    assert request(aport, "PUT", "/sda/1/acct", {"X-Timestamp": ts()})[0] == 201
    status, headers, _ = request(cport, "PUT", "/sda/2/acct/cont",
                                 {"X-Timestamp": ts(), **account_headers(servers)})
    assert status == 201 and headers["x-backend-storage-policy-index"] == "0"
    listing = json.loads(request(aport, "GET", "/sda/1/acct?format=json")[2])
    assert [(c["name"], c["count"]) for c in listing] == [("cont", 0)]

    # 16 concurrent keep-alive clients put 160 object rows
    names = [f"dir{i % 4}/obj{i:03d}" for i in range(160)]
    failures = []

    def worker(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", cport, timeout=30)
        for name in chunk:
            status = put_object(cport, ts, f"/sda/2/acct/cont/{name}", conn=conn)
            if status != 201:
                failures.append((name, status))
        conn.close()

    threads = [threading.Thread(target=worker, args=(names[i::16],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    status, headers, body = request(cport, "GET", "/sda/2/acct/cont?format=json")
    assert status == 200
    assert [r["name"] for r in json.loads(body)] == sorted(names)
    assert headers["x-container-object-count"] == "160"
    assert headers["x-container-bytes-used"] == str(160 * 3)

    assert request(cport, "DELETE", "/sda/2/acct/cont",
                   {"X-Timestamp": ts(), **account_headers(servers)})[0] == 409
    for name in names:
        assert request(cport, "DELETE", f"/sda/2/acct/cont/{name}",
                       {"X-Timestamp": ts()})[0] == 204
    assert request(cport, "DELETE", "/sda/2/acct/cont",
                   {"X-Timestamp": ts(), **account_headers(servers)})[0] == 204
    status, headers, _ = request(cport, "HEAD", "/sda/2/acct/cont")
    assert status == 404 and "x-backend-delete-timestamp" in headers
    # the account server heard about the deletion
    status, headers, _ = request(aport, "HEAD", "/sda/1/acct")
    assert headers["x-account-container-count"] == "0"
    assert request(aport, "GET", "/sda/1/acct")[0] == 204


def test_missing_account_is_404_but_the_container_exists(servers, ts):
    cport = servers["container"]
    status, _, _ = request(cport, "PUT", "/sda/2/nobody/c",
                           {"X-Timestamp": ts(), **account_headers(servers)})
    assert status == 404
    assert request(cport, "HEAD", "/sda/2/nobody/c")[0] == 204


def test_unreachable_account_server_does_not_fail_the_put(servers, ts):
    cport = servers["container"]
    headers = {"X-Timestamp": ts(), "X-Account-Host": f"127.0.0.1:{free_port()}",
               "X-Account-Device": "sda", "X-Account-Partition": "1"}
    assert request(cport, "PUT", "/sda/2/acct/lonely", headers)[0] == 201


def test_listings_in_every_format(servers, ts):
    cport = servers["container"]
    assert request(cport, "PUT", "/sda/3/a/list", {"X-Timestamp": ts()})[0] == 201
    names = ["caf\u00e9", "d/1", "d/2", "x<&>y", "\u2603"]
    for name in names:
        assert put_object(cport, ts, f"/sda/3/a/list/{name}") == 201
    status, headers, body = request(cport, "GET", "/sda/3/a/list")
    assert status == 200 and headers["content-type"] == "text/plain; charset=utf-8"
    assert body.decode("utf-8").splitlines() == names
    status, headers, body = request(cport, "GET", "/sda/3/a/list?format=json&delimiter=/")
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert [r.get("name", r.get("subdir")) for r in json.loads(body)] == [
        "caf\u00e9", "d/", "x<&>y", "\u2603"]
    status, headers, body = request(cport, "GET", "/sda/3/a/list",
                                    {"Accept": "application/xml"})
    assert headers["content-type"] == "application/xml; charset=utf-8"
    root = etree.fromstring(body)
    assert [o.findtext("name") for o in root] == names
    assert request(cport, "GET", "/sda/3/a/list?format=json&prefix=zzz")[2] == b"[]"
    assert request(cport, "GET", "/sda/3/a/list?prefix=zzz")[0] == 204
    assert request(cport, "GET", "/sda/3/a/list?path=d")[2] == b"d/1\nd/2\n"
    assert request(cport, "GET", "/sda/3/a/list?reverse=on&limit=2")[2].decode() == (
        "\u2603\nx<&>y\n")


def test_bad_input_is_refused_and_the_server_survives(servers, ts):
    cport = servers["container"]
    request(cport, "PUT", "/sda/4/a/c", {"X-Timestamp": ts()})
    cases = [
        ("PUT", "/sda/4/../c", {"X-Timestamp": ts()}, 400),
        ("PUT", "/sda/4/a/..", {"X-Timestamp": ts()}, 400),
        ("PUT", "/../4/a/c", {"X-Timestamp": ts()}, 400),
        ("PUT", "/sda/4/a", {"X-Timestamp": ts()}, 400),
        ("PUT", "/nodev/4/a/c", {"X-Timestamp": ts()}, 507),
        ("PUT", "/sda/4/a/c", {"X-Timestamp": "yesterday"}, 400),
        ("PUT", "/sda/4/a/c", {}, 400),
        ("POST", "/sda/4/a/c", {"X-Timestamp": ts(), "X-Container-Meta-Big": "x" * 300}, 400),
        ("POST", "/sda/4/a/c", {"X-Timestamp": ts(), "X-Container-Meta-" + "k" * 200: "v"}, 400),
        ("GET", "/sda/4/a/c?limit=10001", {}, 412),
        ("PUT", "/sda/4/a/c/o", {"X-Timestamp": ts(), "X-Size": "big",
                                 "X-Content-Type": "t", "X-Etag": "e"}, 400),
        ("PUT", "/sda/4/a/c", {"X-Timestamp": ts(), "X-Backend-Storage-Policy-Index": "99"},
         400),
    ]
    for method, path, headers, expected in cases:
        conn = http.client.HTTPConnection("127.0.0.1", cport, timeout=30)
        conn.request(method, path, headers=headers)  # paths sent as they are
        assert conn.getresponse().status == expected, (method, path)
        conn.close()
    # bytes that are not UTF-8, in the path and in the query
    # (a path: 412 "Invalid UTF8 or contains NULL", as Swift; a query parameter: 400)
    assert raw_request(cport, b"GET /sda/4/a/c\xff HTTP/1.1") == 412
    assert raw_request(cport, b"GET /sda/4/a/c?prefix=%FF HTTP/1.1") == 400
    assert raw_request(cport, b"GET /sda/4/a/%C3%28 HTTP/1.1") == 412
    assert request(cport, "HEAD", "/sda/4/a/c")[0] == 204
