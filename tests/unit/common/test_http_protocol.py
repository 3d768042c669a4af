"""The fast request-head parser of ``runtime.HttpProtocol`` behind a real eventlet server.

The server runs in its own OS thread (with its own hub); the test talks to it over real
sockets, so both the parsed environ and the bytes on the wire are checked.
"""

import json
import logging
import socket
import threading

import pytest

from oiofs.common import constraints, runtime


def app(environ, start_response):
    body = environ["wsgi.input"].read() if environ["REQUEST_METHOD"] == "PUT" else b""
    seen = {k: v for k, v in environ.items() if k.startswith(("HTTP_", "CONTENT_"))}
    seen.update(path=environ["PATH_INFO"], query=environ.get("QUERY_STRING", ""),
                method=environ["REQUEST_METHOD"], body=body.decode("latin-1"))
    out = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Length", str(len(out)))])
    return [out]


def serve_in_thread(app_, protocol):
    """Serve ``app_`` with ``protocol`` in an OS thread of its own; the port."""
    ready = threading.Event()
    holder = {}

    def serve():
        sock = runtime.listen(("127.0.0.1", 0))
        holder["port"] = sock.getsockname()[1]
        ready.set()
        runtime.wsgi_server(sock, app_, log=logging.getLogger("test-http"), log_output=False,
                            protocol=protocol)

    threading.Thread(target=serve, daemon=True).start()
    ready.wait(10)
    return holder["port"]


@pytest.fixture(scope="module")
def port():
    return serve_in_thread(app, runtime.HttpProtocol)


def exchange(port, data, then=None):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        received = b""
        if then is not None:
            while b"\r\n\r\n" not in received:
                received += sock.recv(65536)
            sock.sendall(then)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
            if b"}" in chunk or b" 400 " in received[:20] or b" 431 " in received[:20]:
                break
    return received


def answer(raw):
    head, _, body = raw.rpartition(b"\r\n\r\n")
    return int(raw.split()[1]), json.loads(body) if body.startswith(b"{") else body


def test_headers_reach_the_environ(port):
    raw = exchange(port, b"GET /a/b%20c?x=1 HTTP/1.1\r\nHost: h\r\nX-Auth-Token:  tok \r\n"
                         b"X-Dup: 1\r\nx-dup: 2\r\nConnection: close\r\n\r\n")
    status, seen = answer(raw)
    assert status == 200
    assert seen["path"] == "/a/b c" and seen["query"] == "x=1"
    assert seen["HTTP_X_AUTH_TOKEN"] == "tok"
    assert seen["HTTP_X_DUP"] == "1,2"
    assert seen["CONTENT_TYPE"] == "text/plain"  # the stdlib default when none is sent


def test_body_with_length_chunked_and_100_continue(port):
    status, seen = answer(exchange(port, b"PUT /o HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                                         b"Content-Type: a/b\r\nConnection: close\r\n\r\nhello"))
    assert (status, seen["body"], seen["CONTENT_TYPE"]) == (200, "hello", "a/b")
    status, seen = answer(exchange(port, b"PUT /o HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                                         b"Transfer-Encoding: chunked\r\n\r\n"
                                         b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"))
    assert seen["body"] == "abcde"
    raw = exchange(port, b"PUT /o HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                         b"Expect: 100-continue\r\nConnection: close\r\n\r\n", then=b"xyz")
    assert raw.startswith(b"HTTP/1.1 100 Continue")
    assert answer(raw)[1]["body"] == "xyz"


def test_http10_and_keepalive(port):
    raw = exchange(port, b"GET /x HTTP/1.0\r\n\r\n")  # closes after the answer
    assert answer(raw)[0] == 200
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for _ in range(2):  # two requests on one connection
            sock.sendall(b"GET /k HTTP/1.1\r\nHost: h\r\n\r\n")
            data = b""
            while not data.endswith(b"}"):
                data += sock.recv(65536)
            assert data.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("bad", [b"X-A: 1\r\n  folded\r\n", b"NoColon\r\n", b"Bad Name: v\r\n",
                                 b" X-Lead: v\r\n"])
def test_malformed_headers_refused(port, bad):
    raw = exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\n" + bad + b"\r\n")
    assert raw.startswith(b"HTTP/1.1 400") or raw.startswith(b"HTTP/1.0 400"), raw[:80]


def test_too_many_headers_refused(port):
    # Swift's count: room for every metadata item (90) plus 36 others
    limit = constraints.max_header_count()
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(limit))
    raw = exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\n" + headers + b"\r\n")
    assert b" 431 " in raw[:20]
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(limit - 1))
    raw = exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\n" + headers + b"\r\n")
    assert raw.startswith(b"HTTP/1.1 200"), raw[:80]


def test_unusual_request_lines_use_the_stdlib(port):
    raw = exchange(port, b"GET /x HTTP/2.0\r\nHost: h\r\n\r\n")
    assert b"505" in raw and b"200 OK" not in raw  # the stdlib's own refusal


@pytest.mark.parametrize("name", ["voil\u00e0", "\u00c5", "a\u00a0b", "\u2603/\U0001f600"])
def test_raw_utf8_request_target(port, name):
    """Bytes 0x85 and 0xa0 (in "\u00c5" and "\u00e0") are not separators of the line."""
    raw = exchange(port, b"GET /c/" + name.encode() + b"?q=\xc3\xa9 HTTP/1.1\r\nHost: h\r\n"
                         b"Connection: close\r\n\r\n")
    status, seen = answer(raw)
    assert status == 200
    assert seen["path"].encode("latin-1").decode() == "/c/" + name
    assert seen["query"].encode("latin-1") == b"q=\xc3\xa9"


@pytest.mark.parametrize("method", [b"GET", b"HEAD", b"PUT"])
@pytest.mark.parametrize("framing", [
    b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
    b"Content-Length: 3\r\nContent-Length: 4\r\n",
])
def test_ambiguous_framing_refused_without_body_after_head(port, method, framing):
    raw = exchange(port, method + b" /x HTTP/1.1\r\nHost: h\r\n" + framing +
                   b"Connection: close\r\n\r\n")
    assert b" 400 " in raw[:20]
    if method == b"HEAD":
        assert raw.endswith(b"\r\n\r\n")  # nothing after the headers


# --- the environ and the answer path (runtime.HttpProtocol's own, eventlet's semantics) ---

def capturing_app(environ, start_response):
    """Answers ``/<status>[/lazy]``: the status, a body even where none may be sent
    (``lazy``: started while iterating); records the environ."""
    parts = environ["PATH_INFO"].split("/")
    status = int(parts[1]) if parts[1].isdigit() else 200
    CAPTURED.append(dict(environ))
    line = f"{status} Whatever"
    if parts[-1] == "lazy":
        def lazy():
            start_response(line, [("X-Lazy", "yes")])
            yield b"lazy body"
        return lazy()
    start_response(line, [("Content-Length", "4")])
    return [b"body"]


CAPTURED: list = []


@pytest.fixture(scope="module")
def ports():
    import eventlet.wsgi
    return {"ours": serve_in_thread(capturing_app, runtime.HttpProtocol),
            "eventlet": serve_in_thread(capturing_app, eventlet.wsgi.HttpProtocol)}


def read_answers(sock, count):
    """Read ``count`` answers with Content-Length or none (HEAD/204); the raw bytes."""
    received = b""
    sock.settimeout(5)
    while received.count(b"\r\n\r\n") < count:
        received += sock.recv(65536)
    return received


def test_environ_is_eventlets(ports):
    request = (b"PUT /a/b%20c/%C3%A9?x=1&y HTTP/1.1\r\nHost: h\r\nX-Trans-Id: tx1\r\n"
               b"X-Object-Meta-A: 1\r\nx-object-meta-a: 2\r\nX_Under: no\r\n"
               b"Content-Type: text/x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
    environs = {}
    for name, port in ports.items():
        CAPTURED.clear()
        exchange(port, request)
        environs[name] = CAPTURED[0]
    ignored = ("wsgi.input", "eventlet.input", "eventlet.set_idle", "REMOTE_PORT",
               "SERVER_PORT")  # two servers, two connections
    ours, theirs = ({k: v for k, v in env.items() if k not in ignored}
                    for env in (environs["ours"], environs["eventlet"]))
    assert ours == theirs
    assert ours["HTTP_X_OBJECT_META_A"] == "1,2" and "HTTP_X_UNDER" not in ours
    assert ours["PATH_INFO"] == "/a/b c/\xc3\xa9" and ours["QUERY_STRING"] == "x=1&y"
    assert environs["ours"]["wsgi.input"].content_length == 3


@pytest.mark.parametrize("path", [b"/200", b"/204", b"/304", b"/204/lazy", b"/200/lazy"])
def test_no_body_where_forbidden_and_the_connection_stays_usable(ports, path):
    method = b"HEAD" if path.startswith(b"/200") else b"GET"
    with socket.create_connection(("127.0.0.1", ports["ours"]), timeout=5) as sock:
        sock.sendall(method + b" " + path + b" HTTP/1.1\r\nHost: h\r\n\r\n"
                     b"GET /201 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    first, _, second = received.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 " + path.split(b"/")[1])
    assert b"Transfer-Encoding" not in first  # no chunked framing for a bodyless answer
    # nothing of the first body: the next bytes are the second answer
    assert second.startswith(b"HTTP/1.1 201 ") and second.endswith(b"\r\n\r\nbody")


def test_lazy_body_is_chunked_and_date_sent(ports):
    raw = exchange(ports["ours"], b"GET /200/lazy HTTP/1.1\r\nHost: h\r\n"
                                  b"Connection: close\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head and b"\r\nDate: " in head
    assert body == b"9\r\nlazy body\r\n0\r\n\r\n"


@pytest.mark.parametrize("head", [
    # in the read buffer at once, CRLF lines: taken from the buffer in one piece
    b"GET /f HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-B:  two words \r\nConnection: close\r\n\r\n",
    # bare LF line ends: line by line, as before
    b"GET /f HTTP/1.1\nHost: h\nX-A: 1\r\nX-B:  two words \nConnection: close\n\n",
    # a block longer than the one-piece bound: line by line
    b"GET /f HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-B:  two words \r\nX-Pad: " + b"p" * 7990
    + b"\r\nConnection: close\r\n\r\n",
])
def test_header_block_read_whole_or_line_by_line_alike(port, head):
    status, seen = answer(exchange(port, head))
    assert status == 200
    assert (seen["HTTP_X_A"], seen["HTTP_X_B"], seen["HTTP_CONNECTION"]) == (
        "1", "two words", "close")


def test_header_block_arriving_in_pieces_and_pipelined_requests(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /p1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n")
        threading.Event().wait(0.2)  # the server has the first lines only
        sock.sendall(b"X-B: 2\r\n\r\nGET /p2 HTTP/1.1\r\nHost: h\r\nX-C: 3\r\n\r\n")
        data = b""
        while data.count(b"}") < 2:
            data += sock.recv(65536)
    first, second = [json.loads(b"{" + part.split(b"{", 1)[1])
                     for part in data.split(b"HTTP/1.1 200")[1:]]
    assert (first["path"], first["HTTP_X_A"], first["HTTP_X_B"]) == ("/p1", "1", "2")
    assert (second["path"], second["HTTP_X_C"]) == ("/p2", "3")
    assert "HTTP_X_A" not in second


def test_header_line_too_long_still_refused(port):
    raw = exchange(port, b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + b"v" * 9000 + b"\r\n\r\n")
    assert b" 400 " in raw[:20]
