"""Tempauth v1 and one keep-alive HTTP connection per worker thread (``http.client``).

Each worker owns one :class:`Connection` for its whole life, as a real client with a
connection pool would: the cost of TCP set-up is not part of what is measured. A request
that fails on a connection the server closed while it sat idle is sent again once on a fresh
connection (what HTTP clients do for an idle keep-alive socket); any other failure surfaces.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote

from oiofs.bench.errors import AuthFailed
from oiofs.bench.target import Endpoint, parse_endpoint

READ_CHUNK = 64 * 1024

# Failures that mean "the server had closed this idle keep-alive socket": safe to resend once.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass
class Reply:
    """Status, headers (lower-case names) and, unless streamed away, the body of a response."""

    status: int
    headers: dict[str, str]
    body: bytes = b""

    def etag(self) -> str:
        """The ETag header without quotes ("" if absent)."""
        return self.headers.get("etag", "").strip('"')


def object_path(base: str, container: str, obj: str | None = None) -> str:
    """``base/container[/obj]`` with both names percent-encoded (``/`` kept in objects)."""
    path = f"{base}/{quote(container, safe='')}"
    if obj is not None:
        path += "/" + quote(obj, safe="/")
    return path


class _NoDelayConnection(http.client.HTTPConnection):
    """An HTTPConnection with Nagle off: small requests must not wait for delayed ACKs."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Connection:
    """One keep-alive connection to ``endpoint``, sending ``token`` with every request.

    Not thread-safe: one per worker thread.
    """

    def __init__(self, endpoint: Endpoint, token: str | None = None, timeout: float = 30.0):
        self.endpoint = endpoint
        self.token = token
        self.timeout = timeout
        self.stale_retries = 0
        self._conn: http.client.HTTPConnection | None = None
        self._used = False
        self._answered = False

    def close(self) -> None:
        """Close the socket (the next request opens a new one)."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._used = False

    def _open(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = _NoDelayConnection(self.endpoint.address, self.endpoint.port,
                                            timeout=self.timeout)
            self._used = False
        return self._conn

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if self.token:
            out["X-Auth-Token"] = self.token
        return out

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes | Callable[[], Iterable[bytes | memoryview]] | None = None,
                length: int | None = None,
                sink: Callable[[bytes], None] | None = None) -> Reply:
        """Send one request and read the whole response.

        ``body`` is bytes, or a callable returning an iterable of chunks (called again if
        the request has to be resent) with ``length`` its total size. With ``sink``, the
        response body is passed to it chunk by chunk instead of being kept in memory.
        Raises ``OSError`` or ``http.client.HTTPException`` on transport failures (after
        closing the connection).
        """
        headers = self._headers(headers)
        for attempt in (0, 1):
            reused = self._used
            self._answered = False
            try:
                return self._exchange(method, path, headers, body, length, sink)
            except _STALE:
                self.close()
                # Resend only if nothing came back: a body half passed to ``sink`` can't be
                # taken back, and a fresh connection that fails is a real failure.
                if attempt or not reused or self._answered:
                    raise
                self.stale_retries += 1
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def _exchange(self, method, path, headers, body, length, sink) -> Reply:
        conn = self._open()
        if callable(body):
            conn.putrequest(method, path, skip_accept_encoding=True)
            headers.setdefault("Content-Length", str(length or 0))
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            for chunk in body():
                conn.send(chunk)
        else:
            if body is None and method in ("PUT", "POST"):
                body = b""
            conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        self._used = self._answered = True
        reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()})
        if sink is None:
            reply.body = resp.read()
        else:
            while chunk := resp.read(READ_CHUNK):
                sink(chunk)
        if resp.will_close:
            self.close()
        return reply


def authenticate(auth_url: str, user: str, key: str,
                 timeout: float = 30.0) -> tuple[Endpoint, str]:
    """Log in with tempauth v1; the (loopback-checked) storage endpoint and the token.

    Raises :class:`~oiofs.bench.errors.TargetRefused` for a non-loopback auth or storage URL
    and :class:`~oiofs.bench.errors.AuthFailed` when the answer is not a usable 2xx.
    """
    endpoint = parse_endpoint(auth_url)
    conn = Connection(endpoint, timeout=timeout)
    path = endpoint.path + (f"?{endpoint.query}" if endpoint.query else "")
    try:
        reply = conn.request("GET", path or "/", {"X-Auth-User": user, "X-Auth-Key": key})
    except (OSError, http.client.HTTPException) as err:
        raise AuthFailed(f"auth request to {endpoint.url} failed: {err}") from None
    finally:
        conn.close()
    storage_url = reply.headers.get("x-storage-url")
    token = reply.headers.get("x-auth-token") or reply.headers.get("x-storage-token")
    if reply.status // 100 != 2 or not storage_url or not token:
        raise AuthFailed(f"auth for {user} answered {reply.status} "
                         f"(storage url {'present' if storage_url else 'missing'}, "
                         f"token {'present' if token else 'missing'})")
    return parse_endpoint(storage_url), token
