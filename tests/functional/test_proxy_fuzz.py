"""Hostile requests to the real proxy over raw sockets: never a 5xx, never silence.

Hypothesis builds requests from hostile pieces (NUL and invalid UTF-8 in paths, dot
segments, overlong names, raw control bytes; duplicate or absurd ``Content-Length``,
broken ``Range``/``X-Timestamp``/``X-Delete-At``, CR and non-ASCII in headers, huge
values; short and broken chunked bodies). Each request goes on its own connection, the
client half-closes it, and the answer must be a parseable HTTP answer below 500. The run is
bounded (a few hundred examples, a time budget) and the cluster must still answer after.
"""

from __future__ import annotations

import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.proxy_client import Client, unique
from tests.support.rawhttp import RawConnection

#: wall-clock budget of the fuzz run; examples past it are skipped (still counted)
BUDGET_SECONDS = 60.0

SEGMENT_PIECES = [
    b"a", b"obj", b"..", b".", b"%2e%2e", b"%2E", b"%00", b"\x00", b"\xff", b"\xc3",
    b"\xc3\xa0", b"\xed\xa0\x80", b"\xef\xbf\xbf", b"%ff%fe", b"%c3%a0", b"\x01", b"\x7f",
    b"\x1f", b"\x0b", b"\x85", b"%0d%0a", b"%0a", b"%", b"%zz", b"?", b"#", b";", b"\\",
    b"%2f", b"//", b"/", b"\xe2\x98\x83", b"\"", b"'", b"<x>", b"&amp;", b"+", b"~",
    b"x" * 300, b"y" * 1100,
]
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "OPTIONS", "PATCH", "FOO"]
HEADER_CHOICES = [
    ("Content-Length", ["0", "-1", "abc", "99999999999999999999", "1 2", "+5", "0x10"]),
    ("Range", ["bytes=", "bytes=5-1", "bytes=-", "bytes=a-b", "bits=0-1", "bytes=0-0,-1,9-",
               "bytes=" + ",".join(["0-0"] * 200), "bytes=99999999999999999999-"]),
    ("X-Timestamp", ["abc", "-1", "1e10", "nan", "inf", "9" * 40, "1.5_0001", ""]),
    ("X-Delete-At", ["abc", "-1", "1e10", "0", "99999999999999", "\u00e9", ""]),
    ("X-Delete-After", ["abc", "-5", "1.5", "99999999999999999999", ""]),
    ("If-Match", ["", "*", '"', "W/", '"a", "b'], ),
    ("If-None-Match", ["*", "junk", '""']),
    ("If-Modified-Since", ["yesterday", "Mon, 99 Foo 2025 99:99:99 GMT", "0"]),
    ("Destination", ["", "/", "c", "../../x", "%00/x", "\u00e9/\u00e9", "c/" + "x" * 2000]),
    ("X-Copy-From", ["", "/", "nocontainer", "%ff/x", "c/..", "c/%00"]),
    ("Content-Type", ["", "a/b;swift_bytes=-1", "\u00e9/\u00e9", "x" * 300]),
    ("X-Object-Meta-A", ["\u00e9\u00e9", "v" * 300, ""]),
    ("X-Object-Meta-" + "n" * 200, ["v"]),
    ("X-Container-Read", [".r:*", ".r:", "a:b,,", "\u00e9"]),
    ("Transfer-Encoding", ["chunked", "gzip", "chunked, chunked", "identity"]),
    ("Expect", ["100-continue", "200-ok"]),
    ("X-Newest", ["true", "maybe"]),
    ("Accept", ["*/*", "text/x;q=x", "application/xml;q=0", ""]),
    ("X-Huge", ["h" * 7000]),
]
RAW_HEADER_LINES = [
    b"X-Raw: \xff\xfe\r\n", b"X-Raw: \xc3\xa9\r\n", b"X-Cr: a\rb\r\n",
    b"X-Object-Meta-\xc3\xa9: v\r\n", b"Content-Length: 3\r\nContent-Length: 4\r\n",
    b"X-Nul: a\x00b\r\n", b"Host: a\r\nHost: b\r\n",
]
BODIES = [
    b"", b"abc", b"0\r\n\r\n", b"3\r\nab", b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcdef\r\n",
    b"5;ext=1\r\nabcde\r\n0\r\nX-Trailer: 1\r\n\r\n", b"\x00" * 10, b"x" * 5000,
]


@pytest.fixture(scope="module")
def fuzz_target(cluster):
    client = Client(cluster)
    name = unique("fuzz")
    assert client.request("PUT", f"/{name}").status == 201
    assert client.request("PUT", f"/{name}/obj", body=b"0123456789").status == 201
    yield client, name
    client.close()


@st.composite
def hostile_requests(draw, container: str, token: str):
    method = draw(st.sampled_from(METHODS))
    shape = draw(st.sampled_from(["object", "container", "account", "odd"]))
    pieces = draw(st.lists(st.sampled_from(SEGMENT_PIECES), min_size=0, max_size=4))
    tail = b"".join(pieces)
    if shape == "object":
        target = b"/v1/AUTH_test/" + container.encode() + b"/" + (tail or b"obj")
    elif shape == "container":
        target = b"/v1/AUTH_test/" + tail
    elif shape == "account":
        target = b"/v1/" + tail
    else:
        target = b"/" + tail
    if draw(st.booleans()):
        target += b"?" + draw(st.sampled_from([
            b"format=xml", b"format=json&format=xml", b"limit=-1", b"limit=99999999",
            b"prefix=%00", b"prefix=\xff", b"marker=\xc3\xa9", b"delimiter=ab",
            b"multipart-manifest=get", b"%zz=%zz", b"a=b&&&=", b"format=xml&prefix=\x01",
        ]))
    lines = []
    if draw(st.booleans()):
        lines.append(f"X-Auth-Token: {token}\r\n".encode())
    for name, values in draw(st.lists(st.sampled_from(HEADER_CHOICES), max_size=3)):
        value = draw(st.sampled_from(values))
        lines.append(name.encode() + b": " + value.encode("utf-8") + b"\r\n")
    lines += draw(st.lists(st.sampled_from(RAW_HEADER_LINES), max_size=2))
    body = draw(st.sampled_from(BODIES))
    if body and not any(line.lower().startswith((b"content-length", b"transfer-encoding"))
                        for line in lines):
        declared = draw(st.sampled_from([len(body), len(body) + 7, max(0, len(body) - 1)]))
        lines.append(b"Content-Length: %d\r\n" % declared)
    return method, (method.encode() + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + b"".join(lines) + b"Connection: close\r\n\r\n" + body)


def exchange(port: int, method: str, data: bytes):
    """Send ``data``, half-close, parse the answer (raises if there is none); also
    whatever the server sent after it (nothing, since every request says close)."""
    with RawConnection(port, timeout=30) as conn:
        try:
            conn.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early and closed; its answer is still readable
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        answer = conn.answer(head=method == "HEAD")
        try:
            rest = conn.fp.read()
        except OSError:
            rest = b""
        return answer, rest


def test_hostile_requests_get_a_clean_answer(cluster, fuzz_target):
    client, container = fuzz_target
    port = cluster.layout.proxy_port
    started = time.monotonic()
    seen: dict[int, int] = {}

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(hostile_requests(container, client.token))
    def check(request):
        if time.monotonic() - started > BUDGET_SECONDS:
            return
        method, data = request
        answer, rest = exchange(port, method, data)
        seen[answer.status] = seen.get(answer.status, 0) + 1
        assert 100 <= answer.status < 500, (data[:300], answer)
        assert rest == b"", (data[:300], answer, rest[:200])  # e.g. a body after HEAD

    check()
    print("fuzz statuses:", dict(sorted(seen.items())))
    assert sum(seen.values()) >= 50, seen  # the budget allowed a real run
    # the cluster still answers, and the fuzzed container is intact
    assert client.request("GET", f"/{container}/obj").body == b"0123456789"
    assert client.request("HEAD", "").status == 204
