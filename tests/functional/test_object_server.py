"""A real object server subprocess on 127.0.0.1, driven over HTTP.

One server serves the whole module (starting one costs more than most tests). Container
updates go to a small real HTTP listener started by the test. Crash tests, which need their
own server, are in test_object_durability.py.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from oiofs.common.hashing import hash_path, md5
from oiofs.common.http.multipart import boundary_from_content_type, iter_byterange_parts
from tests.support.object_server import (
    CLIENT_TIMEOUT,
    NODE_TIMEOUT,
    T0,
    T1,
    T2,
    UPDATE_TIMEOUT,
    hash_dir_of,
    listdir,
    object_server_dirs,
    put_object,
    raw_put,
    read_status,
    request,
    start_object_server,
)
from tests.support.servers import free_port
from tests.support.waiting import wait_for


class ContainerListener:
    """A tiny real HTTP server standing for container servers: records every request.

    ``status`` is what it answers (``update_status``, if set, to ``UPDATE``); ``delay``
    how long it takes to answer; ``gate``, if set, holds the first request until set.
    """

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 201
        self.update_status: int | None = None
        self.delay = 0.0
        self.gate: threading.Event | None = None
        listener = self

        class QuietHandler(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        def app(environ, start_response):
            if listener.delay:
                time.sleep(listener.delay)
            if listener.gate is not None and not listener.requests:
                listener.gate.wait(10)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            method = environ["REQUEST_METHOD"]
            listener.requests.append({
                "method": method,
                "path": environ["PATH_INFO"].encode("latin-1").decode("utf-8"),
                "headers": {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
                            if k.startswith("HTTP_")},
                "body": environ["wsgi.input"].read(length) if length else b"",
            })
            status = listener.update_status if method == "UPDATE" and \
                listener.update_status else listener.status
            start_response(f"{status} X", [("Content-Length", "0")])
            return [b""]

        self.server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


# --- fixtures ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One object server for the module, with its devices directory (device ``sda``)."""
    root = str(tmp_path_factory.mktemp("objsrv"))
    oiofs_dir, devices = object_server_dirs(root)
    srv = start_object_server(root, oiofs_dir, devices)
    srv.devices = devices
    try:
        yield srv
    finally:
        srv.stop()
        print(srv.log_text())


@pytest.fixture
def listener():
    lst = ContainerListener()
    try:
        yield lst
    finally:
        lst.close()


@pytest.fixture
def obj(request):
    """A fresh object name per test (the server is shared)."""
    return f"o-{request.node.name}"


# --- tests ---------------------------------------------------------------------------

def test_object_life_cycle(server, obj):
    port, path = server.port, f"/sda/3/a/c/{obj}"
    body = os.urandom(200_000)
    assert put_object(port, path, body, T0, **{"X-Object-Meta-Color": "blue"}) == 201
    status, headers, data = request(port, "GET", path)
    assert (status, data) == (200, body)
    assert headers["etag"] == f'"{md5(body).hexdigest()}"'
    assert headers["x-object-meta-color"] == "blue"
    status, headers, data = request(port, "HEAD", path)
    assert (status, data, headers["content-length"]) == (200, b"", str(len(body)))
    status, _, _ = request(port, "POST", path, {"X-Timestamp": T1, "X-Object-Meta-Size": "L"})
    assert status == 202
    status, headers, _ = request(port, "HEAD", path)
    assert headers["x-object-meta-size"] == "L" and "x-object-meta-color" not in headers
    assert request(port, "DELETE", path, {"X-Timestamp": T2})[0] == 204
    status, headers, _ = request(port, "GET", path)
    assert (status, headers["x-backend-timestamp"]) == (404, T2)
    assert listdir(hash_dir_of(server.devices, "3", "a", "c", obj)) == [T2 + ".ts"]


def test_non_ascii_names_and_metadata(server):
    name = "dossier/été ☃"
    path = "/sda/3/a/c/" + "dossier/%C3%A9t%C3%A9%20%E2%98%83"
    meta = "ça va".encode().decode("latin-1")
    assert put_object(server.port, path, b"x", T0, **{"X-Object-Meta-Mood": meta}) == 201
    status, headers, _ = request(server.port, "GET", path)
    assert status == 200
    assert headers["x-object-meta-mood"].encode("latin-1").decode() == "ça va"
    assert listdir(hash_dir_of(server.devices, "3", "a", "c", name)) == [T0 + ".data"]


def test_ranges(server, obj):
    port, path = server.port, f"/sda/3/a/c/{obj}"
    body = bytes(range(256)) * 1000
    assert put_object(port, path, body, T0, **{"Content-Type": "x/y"}) == 201
    status, headers, data = request(port, "GET", path, {"Range": "bytes=1000-1999"})
    assert (status, data, headers["content-range"]) == (206, body[1000:2000],
                                                        f"bytes 1000-1999/{len(body)}")
    status, headers, data = request(port, "GET", path, {"Range": "bytes=0-9,100-,-5"})
    assert status == 206
    boundary = boundary_from_content_type(headers["content-type"])
    parts = [(p.start, p.stop, p.read(), p.headers["content-type"])
             for p in iter_byterange_parts(io.BytesIO(data), boundary)]
    assert parts == [(0, 10, body[:10], "x/y"), (100, len(body), body[100:], "x/y"),
                     (len(body) - 5, len(body), body[-5:], "x/y")]
    status, headers, _ = request(port, "GET", path, {"Range": f"bytes={len(body)}-"})
    assert (status, headers["content-range"]) == (416, f"bytes */{len(body)}")


def test_conditional_requests(server, obj):
    port, path = server.port, f"/sda/3/a/c/{obj}"
    assert put_object(port, path, b"abc", T0) == 201
    etag = f'"{md5(b"abc").hexdigest()}"'
    status, headers, data = request(port, "GET", path, {"If-None-Match": etag})
    assert (status, data, headers["etag"]) == (304, b"", etag)
    assert request(port, "GET", path, {"If-Match": '"other"'})[0] == 412
    assert request(port, "HEAD", path, {"If-Match": etag})[0] == 200
    status, headers, _ = request(port, "GET", path, {
        "If-Modified-Since": headers["last-modified"]})
    assert status == 304


def test_write_conflicts_and_errors(server, obj):
    port, path = server.port, f"/sda/3/a/c/{obj}"
    assert put_object(port, path, b"abc", T1) == 201
    status, headers, _ = request(port, "PUT", path, {
        "X-Timestamp": T0, "Content-Type": "x/y", "Content-Length": "1"}, b"z")
    assert (status, headers["x-backend-timestamp"]) == (409, T1)
    assert put_object(port, path, b"abc", T2, **{"If-None-Match": "*"}) == 412
    assert put_object(port, path, b"abc", T2, ETag="0" * 32) == 422
    assert listdir(hash_dir_of(server.devices, "3", "a", "c", obj)) == [T1 + ".data"]
    assert request(port, "GET", "/sda/3/a/c")[0] == 400
    assert request(port, "GET", "/nodev/3/a/c/o")[0] == 507
    assert listdir(os.path.join(server.devices, "sda", "tmp")) == []


def test_chunked_put(server, obj):
    port, path = server.port, f"/sda/3/a/c/{obj}"
    chunks = [os.urandom(n) for n in (1, 70_000, 3, 200_000)]
    status, headers, _ = request(port, "PUT", path, {
        "X-Timestamp": T0, "Content-Type": "x/y", "Transfer-Encoding": "chunked"},
        iter(chunks))
    body = b"".join(chunks)
    assert (status, headers["etag"]) == (201, f'"{md5(body).hexdigest()}"')
    assert request(port, "GET", path)[2] == body


def test_truncated_body_leaves_nothing(server, obj):
    port, path = server.port, f"/sda/3/a/c/{obj}"
    assert put_object(port, path, b"old", T0) == 201
    sock = raw_put(port, path, {"X-Timestamp": T1, "Content-Type": "x/y",
                                "Content-Length": "100000"}, [b"x" * 50_000])
    sock.shutdown(socket.SHUT_WR)  # the client goes away mid-body
    assert read_status(sock) == 499
    sock.close()
    assert request(port, "GET", path)[2] == b"old"
    assert listdir(hash_dir_of(server.devices, "3", "a", "c", obj)) == [T0 + ".data"]
    assert listdir(os.path.join(server.devices, "sda", "tmp")) == []


def test_broken_chunked_body_leaves_nothing(server, obj):
    port, path = server.port, f"/sda/3/a/c/{obj}"
    sock = raw_put(port, path, {"X-Timestamp": T0, "Content-Type": "x/y",
                                "Transfer-Encoding": "chunked"},
                   [b"5\r\nhello\r\nzz\r\n"])
    assert read_status(sock) == 499
    sock.close()
    assert request(port, "GET", path)[0] == 404
    assert listdir(hash_dir_of(server.devices, "3", "a", "c", obj)) == []


@pytest.mark.slow
def test_stalled_body_times_out(server, obj):
    port, path = server.port, f"/sda/3/a/c/{obj}"
    sock = raw_put(port, path, {"X-Timestamp": T0, "Content-Type": "x/y",
                                "Content-Length": "10"}, [b"12345"])
    began = time.monotonic()
    assert read_status(sock) == 408
    assert time.monotonic() - began < CLIENT_TIMEOUT + 5
    sock.close()
    assert request(port, "GET", path)[0] == 404
    assert listdir(os.path.join(server.devices, "sda", "tmp")) == []


def container_headers(port: int, device: str = "sdc") -> dict:
    return {"X-Container-Host": f"127.0.0.1:{port}", "X-Container-Device": device,
            "X-Container-Partition": "9", "X-Trans-Id": "tx-test"}


def test_container_updates(server, listener, obj):
    port, path = server.port, f"/sda/3/a/c/{obj}"
    assert put_object(port, path, b"abcd", T0, **{"Content-Type": "text/x"},
                      **container_headers(listener.port)) == 201
    update = wait_for(lambda: listener.requests, what="the container update")[0]
    assert (update["method"], update["path"]) == ("PUT", f"/sdc/9/a/c/{obj}")
    headers = update["headers"]
    assert headers["x-timestamp"] == T0
    assert headers["x-size"] == "4"
    assert headers["x-etag"] == md5(b"abcd").hexdigest()
    assert headers["x-content-type"] == "text/x"
    assert headers["x-backend-storage-policy-index"] == "0"
    assert headers["x-trans-id"] == "tx-test"
    status, _, _ = request(port, "DELETE", path, {"X-Timestamp": T1,
                                                  **container_headers(listener.port)})
    assert status == 204
    update = wait_for(lambda: listener.requests[1:], what="the delete update")[0]
    assert (update["method"], update["path"]) == ("DELETE", f"/sdc/9/a/c/{obj}")
    assert update["headers"]["x-timestamp"] == T1
    pending_dir = os.path.join(server.devices, "sda", "async_pending")
    name_hash = hash_path("a", "c", obj)
    assert not os.path.exists(os.path.join(pending_dir, name_hash[-3:]))


class KeepAliveListener:
    """A raw HTTP/1.1 server that keeps connections open: counts connections and requests
    (every request it gets has no body and is answered 201)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn, conn.makefile("rb") as reader:
            while True:
                line = reader.readline()
                if not line:
                    return
                self.requests.append(line.decode("latin-1").split()[1])
                while reader.readline() not in (b"\r\n", b""):
                    pass
                conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")

    def close(self):
        self.sock.close()


def test_container_updates_reuse_their_connection(server):
    listener = KeepAliveListener()
    try:
        for i, ts in enumerate((T0, T1, T2)):
            assert put_object(server.port, f"/sda/3/a/c/keep{i}", b"x", ts,
                              **container_headers(listener.port)) == 201
            wait_for(lambda n=i: len(listener.requests) > n, what=f"update {i}")
        assert listener.requests == [f"/sdc/9/a/c/keep{i}" for i in range(3)]
        assert listener.connections == 1
    finally:
        listener.close()


def put_together(server, listener, names: list[str], ts: str, expect: int) -> list[dict]:
    """PUT ``names`` at once while the listener holds the first container update: the
    updates of the others pile up behind it in the object server. The first ``expect``
    requests the listener got."""
    listener.gate = threading.Event()
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda n=name: statuses.append(put_object(
        server.port, f"/sda/3/a/c/{n}", b"abc", ts, **container_headers(listener.port))))
        for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    listener.gate.set()  # every PUT was answered: the waiting updates are all queued
    assert statuses == [201] * len(names)
    return wait_for(lambda: len(listener.requests) >= expect and listener.requests[:expect],
                    what="the updates")


def test_container_updates_that_pile_up_go_as_one_update(server, listener):
    names = [f"pile{i}" for i in range(6)]
    listener.status = 202
    first, batch = put_together(server, listener, names, T0, expect=2)
    assert first["method"] == "PUT" and first["path"].startswith("/sdc/9/a/c/pile")
    assert (batch["method"], batch["path"]) == ("UPDATE", "/sdc/9/a/c")
    rows = json.loads(batch["body"])
    assert sorted([first["path"].rsplit("/", 1)[1]] + [r["obj"] for r in rows]) == names
    for row in rows:
        assert row["op"] == "PUT"
        assert row["headers"]["X-Size"] == "3"
        assert row["headers"]["X-Timestamp"] == T0
        assert row["headers"]["X-Etag"] == md5(b"abc").hexdigest()
    time.sleep(0.2)  # nothing else comes, and nothing was left for the updater
    assert len(listener.requests) == 2
    assert not any(os.path.exists(pending_path(server, name, T0)) for name in names)


def test_piled_up_updates_go_one_by_one_to_a_server_without_update(server, listener):
    names = [f"old{i}" for i in range(4)]
    listener.update_status = 405
    requests = put_together(server, listener, names, T0, expect=5)
    assert [r["method"] for r in requests] == ["PUT", "UPDATE", "PUT", "PUT", "PUT"]
    assert sorted(r["path"] for r in requests if r["method"] == "PUT") == \
        [f"/sdc/9/a/c/{name}" for name in names]
    assert not any(os.path.exists(pending_path(server, name, T0)) for name in names)


def test_a_failed_batch_leaves_an_async_pending_per_row(server, listener):
    names = [f"fail{i}" for i in range(4)]
    listener.status = 503
    put_together(server, listener, names, T0, expect=2)
    for name in names:
        wait_for(lambda n=name: os.path.exists(pending_path(server, n, T0)),
                 what=f"the async pending of {name}")
    assert [r["method"] for r in listener.requests] == ["PUT", "UPDATE"]


def pending_path(server, obj: str, ts: str) -> str:
    name_hash = hash_path("a", "c", obj)
    return os.path.join(server.devices, "sda", "async_pending", name_hash[-3:],
                        f"{name_hash}-{ts}")


def test_async_pending_when_the_container_server_is_down(server, obj):
    port, path = server.port, f"/sda/3/a/c/{obj}"
    down = free_port()  # nothing listens there: connection refused
    assert put_object(port, path, b"abcd", T0, **container_headers(down)) == 201
    pending = wait_for(lambda: os.path.exists(pending_path(server, obj, T0)) and
                       pending_path(server, obj, T0), what="the async pending")
    with open(pending, encoding="utf-8") as handle:
        update = json.load(handle)
    assert (update["op"], update["account"], update["container"], update["obj"]) == (
        "PUT", "a", "c", obj)
    assert update["headers"]["X-Size"] == "4"
    assert update["headers"]["X-Timestamp"] == T0
    assert request(port, "DELETE", path, {"X-Timestamp": T1, **container_headers(down)})[0] \
        == 204
    with open(wait_for(lambda: os.path.exists(pending_path(server, obj, T1)) and
                       pending_path(server, obj, T1)), encoding="utf-8") as handle:
        assert json.load(handle)["op"] == "DELETE"


def test_async_pending_when_the_container_server_fails(server, listener, obj):
    listener.status = 503
    assert put_object(server.port, f"/sda/3/a/c/{obj}", b"x", T0,
                      **container_headers(listener.port)) == 201
    wait_for(lambda: os.path.exists(pending_path(server, obj, T0)), what="async pending")


@pytest.mark.slow
def test_slow_container_server_does_not_hold_the_response(server, listener, obj):
    listener.delay = NODE_TIMEOUT + 1  # slower than the update may take
    began = time.monotonic()
    assert put_object(server.port, f"/sda/3/a/c/{obj}", b"x", T0,
                      **container_headers(listener.port)) == 201
    elapsed = time.monotonic() - began
    assert elapsed < UPDATE_TIMEOUT + 0.9, elapsed
    # the update keeps going after the response, fails at node_timeout, and is saved
    wait_for(lambda: os.path.exists(pending_path(server, obj, T0)), timeout=NODE_TIMEOUT + 5,
             what="the async pending of the timed-out update")
    assert time.monotonic() - began >= NODE_TIMEOUT - 0.1


def test_mismatched_container_headers_are_logged_not_fatal(server, obj):
    headers = {"X-Container-Host": "127.0.0.1:1,127.0.0.1:2", "X-Container-Device": "sdc",
               "X-Container-Partition": "9"}
    assert put_object(server.port, f"/sda/3/a/c/{obj}", b"x", T0, **headers) == 201
    assert "do not pair up" in wait_for(lambda: "do not pair up" in server.log_text() and
                                        server.log_text())


def test_keep_alive_connection_serves_many_requests(server, obj):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        for i in range(20):
            ts = f"17000000{i:02d}.00000"
            conn.request("PUT", f"/sda/3/a/c/{obj}", body=b"v%d" % i,
                         headers={"X-Timestamp": ts, "Content-Type": "x/y"})
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 201
            conn.request("GET", f"/sda/3/a/c/{obj}")
            resp = conn.getresponse()
            assert resp.read() == b"v%d" % i
    finally:
        conn.close()
    assert listdir(hash_dir_of(server.devices, "3", "a", "c", obj)) == ["1700000019.00000.data"]


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def worker_pid(server) -> int:
    with open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children") as handle:
        return int(handle.read().split()[0])


def test_file_descriptors_are_released(server, obj):
    """Whole, ranged, conditional, HEAD and abandoned GETs all close the object file."""
    port, path = server.port, f"/sda/3/a/c/{obj}"
    body = os.urandom(3 * 1024 * 1024)
    assert put_object(port, path, body, T0) == 201
    pid = worker_pid(server)
    request(port, "GET", path)  # warm up whatever the server keeps open
    baseline = open_fds(pid)
    etag = f'"{md5(body).hexdigest()}"'
    for headers in ({}, {"Range": "bytes=0-10,20-30"}, {"If-None-Match": etag},
                    {"If-Match": '"x"'}, {"Range": "bytes=999999999-"}):
        for method in ("GET", "HEAD"):
            request(port, method, path, headers)
    for _ in range(5):  # clients that hang up after the first bytes of a big body
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        sock.close()
    # the server notices the hang-ups as it writes; poll until it has
    wait_for(lambda: open_fds(pid) <= baseline, what="descriptors back to the baseline")


def test_expect_100_continue(server, obj):
    """The proxy's way: headers first, body only after 100 Continue; errors come before."""
    port, path = server.port, f"/sda/3/a/c/{obj}"
    headers = {"X-Timestamp": T1, "Content-Type": "x/y", "Content-Length": "5",
               "Expect": "100-continue"}
    sock = raw_put(port, path, headers, [])
    assert read_status(sock) == 100
    sock.sendall(b"hello")
    data = b""
    while b"HTTP/1.1 201" not in data:
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    sock.close()
    # an older timestamp is refused at once, without asking for the body
    sock = raw_put(port, path, dict(headers, **{"X-Timestamp": T0}), [])
    assert read_status(sock) == 409
    sock.close()
    assert request(port, "GET", path)[2] == b"hello"
