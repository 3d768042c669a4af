"""Requests to a real account or container server (the path is quoted; bytes sent as
they are with ``raw_request``)."""

import http.client
import socket
from urllib.parse import quote

from tests.support.object_server import read_status


def request(port, method, path, headers=None, conn=None):
    """One request; returns ``(status, headers, body)`` (reusing ``conn`` if given)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        path, sep, query = path.partition("?")
        conn.request(method, quote(path) + sep + query, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        if own:
            conn.close()


def raw_request(port, request_line: bytes, headers: bytes = b"") -> int:
    """Send bytes as they are (invalid UTF-8 included); the status code."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request_line + b"\r\nHost: x\r\nContent-Length: 0\r\n" + headers
                     + b"Connection: close\r\n\r\n")
        return read_status(sock)
