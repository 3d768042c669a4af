"""Helpers shared by the proxy's functional tests (no tests here).

:class:`Client` speaks to the proxy over one keep-alive ``http.client`` connection as a
tempauth user (or anonymously); :func:`raw_request` sends exact bytes on a fresh socket
for what ``http.client`` refuses to send (bad lengths, odd paths, ``Expect`` dances).
"""

from __future__ import annotations

import http.client
import socket
import uuid
from urllib.parse import quote, urlsplit


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Resp:
    """A finished response: ``status``, ``headers`` (lower-case keys), ``body``."""

    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self):
        return f"<Resp {self.status} {self.body[:200]!r}>"


class Client:
    """A Swift v1 client for tests: ``client.request("PUT", "/c/o", body=b"...")``."""

    def __init__(self, cluster, user: str | None = "test:tester",
                 storage_url: str | None = None, token: str | None = None):
        if user is not None and token is None:
            storage_url, token = cluster.auth(user)
        self.storage_url = storage_url or f"{cluster.proxy_url}/v1/AUTH_test"
        self.token = token
        parts = urlsplit(self.storage_url)
        self.host, self.port = parts.hostname, parts.port
        self.base_path = parts.path
        self.conn = None

    def request(self, method: str, path: str = "", body: bytes | None = None,
                headers: dict | None = None, quote_path: bool = True,
                absolute: bool = False) -> Resp:
        """One request below the storage URL (or at ``path`` itself with ``absolute``)."""
        hdrs = dict(headers or {})
        if self.token and "X-Auth-Token" not in hdrs:
            hdrs["X-Auth-Token"] = self.token
        full = path if absolute else self.base_path + (quote(path) if quote_path else path)
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, full, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
                continue
            result = Resp(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
            if resp.will_close:
                self.close()
            return result
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def raw_request(port: int, data: bytes, read_timeout: float = 10.0,
                then: bytes | None = None, wait_for_continue: bool = False) -> bytes:
    """Send ``data`` on a new connection; with ``wait_for_continue`` read the interim
    answer, then send ``then``; return everything the server sent until it closed (or
    went quiet for ``read_timeout``)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    received = b""
    try:
        sock.sendall(data)
        if wait_for_continue:
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    return received
                received += chunk
            if not received.startswith(b"HTTP/1.1 100"):
                return received
        if then is not None:
            sock.sendall(then)
        sock.shutdown(socket.SHUT_WR)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            received += chunk
    finally:
        sock.close()
    return received


def status_of(raw: bytes) -> int:
    """The status code of the (last final) answer in a raw response."""
    statuses = [int(line.split()[1]) for line in raw.split(b"\r\n")
                if line.startswith(b"HTTP/1.") and len(line.split()) > 1]
    finals = [s for s in statuses if s >= 200]
    return finals[0] if finals else (statuses[0] if statuses else 0)
