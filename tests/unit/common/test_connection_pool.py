"""The keep-alive client pool against a real HTTP/1.1 server on 127.0.0.1."""

import hashlib
import http.server
import socket
import threading
import time

import pytest

from oiofs.common.connection_pool import ConnectionPool, build_request_head
from oiofs.common.exceptions import ClientException, NodeTimeout, NodeUnreachable
from tests.support.servers import free_port
from tests.support.waiting import wait_for


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if not any(n.lower() == "transfer-encoding" for n, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        port = str(self.client_address[1]).encode()
        if self.path == "/port":
            self._answer(200, port, [("X-Meta", "a"), ("X-Meta", "b")])
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/drop":  # answer, then close without saying so
            self._answer(200, port)
            self.close_connection = True
        elif self.path == "/short":  # promise 100 bytes, send 5, close
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"12345")
            self.close_connection = True
        elif self.path == "/slow":
            time.sleep(1.0)
            self._answer(200, b"late")
        elif self.path == "/big":
            self._answer(200, b"x" * 200000)
        else:
            self._answer(404, b"nope")

    do_HEAD = do_GET

    def do_PUT(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self._answer(201, b"", [("Etag", hashlib.md5(body).hexdigest()),
                                ("X-Port", str(self.client_address[1]))])


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, address: None  # resets are expected here
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def pool():
    p = ConnectionPool(conn_timeout=1.0, node_timeout=0.5)
    yield p
    p.close_all()


def get(pool, port, path, method="GET"):
    resp = pool.request("127.0.0.1", port, method, path, {})
    return resp, resp.read_all()


def test_connections_are_reused(server, pool):
    _, first = get(pool, server, "/port")
    assert pool.idle_count("127.0.0.1", server) == 1
    resp, second = get(pool, server, "/port")
    assert first == second  # same client port: same TCP connection
    assert resp.headers["x-meta"] == "a, b"
    assert [v for k, v in resp.items if k == "X-Meta"] == ["a", "b"]


def test_head_and_404(server, pool):
    resp = pool.request("127.0.0.1", server, "HEAD", "/port", {})
    assert resp.status == 200 and resp.done and resp.read() == b""
    resp, body = get(pool, server, "/missing")
    assert resp.status == 404 and body == b"nope"
    assert pool.idle_count("127.0.0.1", server) == 1


def test_chunked_response(server, pool):
    resp, body = get(pool, server, "/chunked")
    assert body == b"hello chunked world"
    assert resp.content_length is None
    _, again = get(pool, server, "/port")  # connection still at a request boundary
    assert again.isdigit()


def test_connection_closed_while_idle_is_not_reused(server, pool):
    _, first = get(pool, server, "/drop")
    assert pool.idle_count("127.0.0.1", server) == 1  # server did not say it closes
    conn = pool._idle[("127.0.0.1", server)][0]
    # the server's FIN is in flight
    wait_for(lambda: not conn.is_alive(), 5, "the server's FIN", interval=0.01)
    _, second = get(pool, server, "/port")
    assert first != second


def test_stale_connection_is_replayed_on_a_fresh_one(server, pool):
    conn = pool.connect("127.0.0.1", server)
    conn.send(build_request_head("GET", "/drop", "x", {}))
    conn.get_response("GET").read_all()  # server now closes its end
    conn.closed = False  # pretend it went back to the pool unnoticed
    conn.reused = True
    wait_for(lambda: not conn.is_alive(), 5, "the server's FIN", interval=0.01)
    body = b"abc"
    head = {"Content-Length": "3"}
    try:
        conn.send(build_request_head("PUT", "/x", "x", head) + body)
    except ClientException:
        pass
    resp = pool.finish_request(conn, "PUT", "/x", head, body)
    assert resp.status == 201
    assert resp.headers["etag"] == hashlib.md5(body).hexdigest()


def test_unread_body_drops_connection(server, pool):
    resp = pool.request("127.0.0.1", server, "GET", "/big", {})
    assert resp.read(10) == b"x" * 10
    resp.close()
    assert pool.idle_count("127.0.0.1", server) == 0


def test_short_body_is_an_error(server, pool):
    resp = pool.request("127.0.0.1", server, "GET", "/short", {})
    with pytest.raises(ClientException):
        resp.read_all()
    assert pool.idle_count("127.0.0.1", server) == 0


def test_refused_is_unreachable_at_once(pool):
    port = free_port()
    start = time.monotonic()
    with pytest.raises(NodeUnreachable):
        pool.request("127.0.0.1", port, "GET", "/", {})
    assert time.monotonic() - start < 0.5


def test_node_timeout(server, pool):
    with pytest.raises(NodeTimeout):
        pool.request("127.0.0.1", server, "GET", "/slow", {})


def test_expect_100_continue(server, pool):
    body = b"y" * 1000
    conn = pool.get("127.0.0.1", server)
    conn.send(build_request_head("PUT", "/obj", "x", {"Content-Length": str(len(body)),
                                                      "Expect": "100-continue"}))
    interim = conn.get_response("PUT")
    assert interim.status == 100
    conn.send(body)
    final = conn.get_response("PUT")
    assert final.status == 201
    assert final.headers["etag"] == hashlib.md5(body).hexdigest()
    final.read_all()
    assert pool.idle_count("127.0.0.1", server) == 1


def test_chunked_upload_framing():
    # A raw server reading one chunked request, to check the bytes we send.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    received = []

    def serve():
        sock, _ = listener.accept()
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            data += sock.recv(65536)
        received.append(data)
        sock.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        sock.close()

    thread = threading.Thread(target=serve)
    thread.start()
    pool = ConnectionPool()
    conn = pool.get("127.0.0.1", port)
    conn.send(build_request_head("PUT", "/o", "h", {"Transfer-Encoding": "chunked"}))
    conn.send_chunk(b"abc")
    conn.send_chunk(b"")
    assert conn.get_response("PUT").status == 201
    thread.join()
    listener.close()
    assert received[0].endswith(b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
