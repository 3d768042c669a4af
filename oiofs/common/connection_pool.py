"""Keep-alive HTTP/1.1 client connections to backend servers, pooled per ``ip:port``.

The proxy makes several backend requests for every client request; opening a new TCP
connection for each costs a handshake, a slow-start and a TIME_WAIT socket. This module
keeps finished connections open and hands them out again:

>>> pool = ConnectionPool(conn_timeout=0.5, node_timeout=10)           # doctest: +SKIP
>>> resp = pool.request("127.0.0.1", 6200, "HEAD", "/sda/3/AUTH_a/c/o", {})  # doctest: +SKIP
>>> resp.status, resp.getheader("etag")                                # doctest: +SKIP
(200, '"d41d8cd98f00b204e9800998ecf8427e"')
>>> resp.close()  # back to the pool, its body read                   # doctest: +SKIP

A response gives its connection back to the pool only when its body has been read to the
end and the server did not ask to close; anything else (an error, a body left unread)
closes the connection, so a pooled connection is always at a request boundary. Before a
pooled connection is reused it is checked without blocking: a backend that closed it while
it was idle (restart, idle timeout) shows up as readable-at-EOF and the connection is
dropped. If a reused connection still fails before any byte of the answer arrived, the
request is replayed once on a fresh connection (only when its body is known in full).

The client is deliberately small: requests are written in one ``sendall``, the status line
and headers are parsed by hand (``http.client`` goes through ``email.parser``, which costs
more than the rest of a small request), bodies are read with ``Content-Length`` or chunked
framing. Sockets come from the ``socket`` module at call time, so they are green once
:func:`oiofs.common.runtime.monkey_patch` ran and plain otherwise.
"""

from __future__ import annotations

import errno
import select
import socket
import sys
from collections.abc import Mapping
from typing import Any

from oiofs.common.exceptions import (
    ClientException,
    ConnectionTimeout,
    NodeTimeout,
    NodeUnreachable,
)

#: bytes asked of the kernel per ``recv`` while parsing and reading bodies
READ_SIZE = 65536
#: refuse status/header lines longer than this (a backend never sends them)
MAX_LINE = 65536
MAX_HEADERS = 200
MAX_HEAD = 256 * 1024

_UNREACHABLE = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH,
                errno.EHOSTDOWN, errno.ENETDOWN}
_NO_BODY_STATUSES = frozenset((204, 304))


_REAL_POLL: list[Any] = []  # the real ``select.poll`` and ``POLLIN``, found at first use


def _real_poll() -> tuple[Any, int]:
    """``select.poll`` and ``select.POLLIN``. eventlet's monkey patching drops ``poll``
    from ``select`` (a zero-timeout poll never blocks, so the original is safe in a green
    thread): the original module is then asked of eventlet, which whoever patched loaded."""
    if not _REAL_POLL:
        module = select if hasattr(select, "poll") else \
            sys.modules["eventlet.patcher"].original("select")
        _REAL_POLL.extend((module.poll, module.POLLIN))
    return _REAL_POLL[0], _REAL_POLL[1]


class _StaleConnection(ClientException):
    """A reused connection died before the answer started: the request may be replayed."""


def build_request_head(method: str, path: str, host: str,
                       headers: Mapping[str, object]) -> bytes:
    """The request line and headers of an HTTP/1.1 request, ready to send.

    ``path`` must already be percent-encoded; header values are WSGI-style strings
    (latin-1) or anything ``str()`` turns into one.
    """
    parts = [f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"]
    for name, value in headers.items():
        parts.append(f"{name}: {value}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("latin-1")


class HTTPConnection:
    """One client connection: send a request, read its response, maybe be reused."""

    __slots__ = ("host", "port", "sock", "pool", "reused", "_buf", "_pos", "closed")

    def __init__(self, host: str, port: int, sock: socket.socket,
                 pool: ConnectionPool | None = None):
        self.host = host
        self.port = port
        self.sock = sock
        self.pool = pool
        self.reused = False
        self._buf = b""
        self._pos = 0
        self.closed = False

    # --- writing ----------------------------------------------------------------------

    def send(self, data: bytes | memoryview) -> None:
        """Send bytes; ``NodeTimeout`` or ``ClientException`` on failure."""
        try:
            self.sock.sendall(data)
        except TimeoutError:
            self.close()
            raise NodeTimeout(f"send to {self.host}:{self.port} timed out") from None
        except OSError as err:
            self.close()
            if self.reused:
                raise _StaleConnection(f"send to {self.host}:{self.port}: {err}") from None
            raise ClientException(f"send to {self.host}:{self.port}: {err}",
                                  http_host=self.host, http_port=self.port) from None

    def send_chunk(self, data: bytes | memoryview) -> None:
        """Send one piece of a chunked body (``b''`` ends the body)."""
        if data:
            self.send(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.send(b"0\r\n\r\n")

    # --- reading ----------------------------------------------------------------------

    def _recv(self, size: int = READ_SIZE) -> bytes:
        try:
            return self.sock.recv(size)
        except TimeoutError:
            self.close()
            raise NodeTimeout(f"read from {self.host}:{self.port} timed out") from None
        except OSError as err:
            self.close()
            raise ClientException(f"read from {self.host}:{self.port}: {err}",
                                  http_host=self.host, http_port=self.port) from None

    def _readline(self) -> bytes:
        """One line including its ``\\n`` (``b''`` at EOF before anything arrived)."""
        buf, pos = self._buf, self._pos
        end = buf.find(b"\n", pos)
        while end < 0:
            if len(buf) - pos > MAX_LINE:
                self.close()
                raise ClientException(f"line too long from {self.host}:{self.port}")
            data = self._recv()
            if not data:
                line = buf[pos:]
                self._buf, self._pos = b"", 0
                return line
            buf = buf[pos:] + data
            pos = 0
            end = buf.find(b"\n")
        self._buf, self._pos = buf, end + 1
        return buf[pos:end + 1]

    def read_some(self, size: int) -> bytes:
        """Up to ``size`` bytes: what is buffered, else one ``recv`` (``b''`` at EOF)."""
        buf, pos = self._buf, self._pos
        if pos < len(buf):
            end = pos + size
            if end >= len(buf):
                self._buf, self._pos = b"", 0
                return buf[pos:] if pos else buf
            self._pos = end
            return buf[pos:end]
        return self._recv(size)

    def read_exact(self, size: int) -> bytes:
        """Exactly ``size`` bytes (``ClientException`` if the server closes first)."""
        parts = []
        while size > 0:
            data = self.read_some(size)
            if not data:
                self.close()
                raise ClientException(f"short read from {self.host}:{self.port}")
            parts.append(data)
            size -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _read_head(self) -> bytes:
        """Everything up to the blank line ending a response head (``b''`` at EOF)."""
        buf, pos = self._buf, self._pos
        end = buf.find(b"\r\n\r\n", pos)
        while end < 0:
            if len(buf) - pos > MAX_HEAD:
                self.close()
                raise ClientException(f"response head too large from {self.host}:{self.port}")
            data = self._recv()
            if not data:
                self.close()
                if pos >= len(buf):
                    return b""
                raise ClientException(f"truncated headers from {self.host}:{self.port}")
            buf = buf[pos:] + data if pos < len(buf) else data
            pos = 0
            end = buf.find(b"\r\n\r\n")
        self._buf, self._pos = buf, end + 4
        return buf[pos:end]

    def get_response(self, method: str) -> HTTPResponse:
        """Read the status line and headers of the next response (1xx included)."""
        try:
            head = self._read_head()
        except ClientException:
            if self.reused:  # reset by a server that dropped the idle connection
                raise _StaleConnection(f"{self.host}:{self.port} reset the connection") \
                    from None
            raise
        if not head:
            if self.reused:
                raise _StaleConnection(f"{self.host}:{self.port} closed the connection")
            raise ClientException(f"{self.host}:{self.port} closed the connection",
                                  http_host=self.host, http_port=self.port)
        lines = head.decode("latin-1").split("\r\n")
        try:
            version, status_text, *rest = lines[0].split(None, 2)
            status = int(status_text)
        except ValueError:
            self.close()
            raise ClientException(f"bad status line from {self.host}:{self.port}: "
                                  f"{lines[0][:80]!r}") from None
        reason = rest[0] if rest else ""
        if len(lines) > MAX_HEADERS:
            self.close()
            raise ClientException(f"too many headers from {self.host}:{self.port}")
        headers: dict[str, str] = {}
        items: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip()
            value = value.strip()
            items.append((name, value))
            key = name.lower()
            if key in headers:
                headers[key] += ", " + value
            else:
                headers[key] = value
        return HTTPResponse(self, method, status, reason, headers, items,
                            version == "HTTP/1.0")

    # --- life -------------------------------------------------------------------------

    def is_alive(self) -> bool:
        """Whether an idle connection is still open with nothing unexpected to read.

        Polls the socket without waiting (plain or green, the same): nothing to read
        means healthy; EOF, stray bytes or an error mean the server closed (or broke) it
        while it sat in the pool.
        """
        if self.closed or self._pos < len(self._buf):
            return False
        poll, pollin = _REAL_POLL or _real_poll()
        try:
            poller = poll()
            poller.register(self.sock.fileno(), pollin)
            return not poller.poll(0)  # no exception to build, unlike a peeking recv
        except (OSError, ValueError):
            return False

    def release(self) -> None:
        """Give the connection back to its pool (or close it if it has none)."""
        if self.pool is not None and not self.closed:
            self.pool.put(self)
        else:
            self.close()

    def close(self) -> None:
        """Close the socket; the connection is never reused."""
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


class HTTPResponse:
    """A response being read: ``status``, ``headers`` (lower-case keys), and the body.

    ``items`` keeps the headers as sent (names in their case, in order). The body is read
    with :meth:`read`; reaching its end returns the connection to the pool. Call
    :meth:`close` when done in any case: it drops the connection if the body was not
    read to the end.
    """

    __slots__ = ("conn", "method", "status", "reason", "headers", "items", "_left",
                 "_chunked", "_chunk_left", "_close_after", "done")

    def __init__(self, conn: HTTPConnection, method: str, status: int, reason: str,
                 headers: dict[str, str], items: list[tuple[str, str]],
                 http10: bool = False):
        self.conn = conn
        self.method = method
        self.status = status
        self.reason = reason
        self.headers = headers
        self.items = items
        connection = headers.get("connection", "").lower()
        self._close_after = "close" in connection or (http10 and "keep-alive" not in
                                                      connection)
        self._chunked = False
        self._chunk_left = 0
        self._left: int | None = 0
        if status < 200 or status in _NO_BODY_STATUSES or method == "HEAD":
            self._left = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = True
            self._left = None
        else:
            length = headers.get("content-length")
            if length is not None and length.isdigit():
                self._left = int(length)
            else:
                self._left = None  # read until the server closes
                self._close_after = True
        self.done = False
        if self._left == 0 and status >= 200:
            self._finish()

    def getheader(self, name: str, default: str | None = None) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    @property
    def content_length(self) -> int | None:
        """Bytes of body still to come when known (``None`` for chunked or read-to-close)."""
        return None if self._chunked else self._left

    def _finish(self) -> None:
        self.done = True
        if self._close_after:
            self.conn.close()
        else:
            self.conn.release()

    def read(self, size: int = READ_SIZE) -> bytes:
        """Up to ``size`` bytes of body; ``b''`` once it is all read.

        A body cut short by the server raises ``ClientException`` (``NodeTimeout`` when the
        server stops sending): callers must not mistake a truncated body for a whole one.
        """
        if self.done:
            return b""
        conn = self.conn
        if self._chunked:
            return self._read_chunked(size)
        if self._left is None:
            data = conn.read_some(size)
            if not data:
                self.done = True
                conn.close()
            return data
        data = conn.read_some(min(size, self._left))
        if not data:
            self.done = True
            conn.close()
            raise ClientException(f"{conn.host}:{conn.port} sent a short body")
        self._left -= len(data)
        if self._left == 0:
            self._finish()
        return data

    def _read_chunked(self, size: int) -> bytes:
        conn = self.conn
        if self._chunk_left == 0:
            line = conn._readline()
            try:
                self._chunk_left = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                conn.close()
                self.done = True
                raise ClientException(f"bad chunk size from {conn.host}:{conn.port}") from None
            if self._chunk_left == 0:
                while conn._readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers: none expected, skip them
                self._finish()
                return b""
        data = conn.read_some(min(size, self._chunk_left))
        if not data:
            conn.close()
            self.done = True
            raise ClientException(f"{conn.host}:{conn.port} sent a short chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            conn.read_exact(2)  # the CRLF after the chunk data
        return data

    def read_all(self, limit: int = 1 << 20) -> bytes:
        """The whole (small) body; ``ClientException`` if longer than ``limit``."""
        parts = []
        total = 0
        while True:
            data = self.read()
            if not data:
                break
            total += len(data)
            if total > limit:
                self.close()
                raise ClientException(f"body from {self.conn.host}:{self.conn.port} "
                                      f"larger than {limit}")
            parts.append(data)
        return b"".join(parts)

    def discard(self, limit: int = 65536) -> None:
        """Read and drop a small body so the connection can be reused; else close it."""
        if self.done:
            return
        if self._left is not None and not self._chunked and self._left <= limit:
            try:
                while not self.done:
                    self.read()
            except (ClientException, NodeTimeout):
                pass
            return
        self.close()

    def close(self) -> None:
        """Done with this response: drop the connection unless the body was fully read."""
        if not self.done:
            self.done = True
            self.conn.close()


class ConnectionPool:
    """Idle keep-alive connections per ``(ip, port)``, at most ``max_idle`` each.

    Not thread-safe across OS threads; safe across green threads (no operation yields
    while the pool's lists are being changed).
    """

    def __init__(self, conn_timeout: float = 0.5, node_timeout: float = 10.0,
                 max_idle: int = 32):
        self.conn_timeout = conn_timeout
        self.node_timeout = node_timeout
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int], list[HTTPConnection]] = {}

    def connect(self, host: str, port: int) -> HTTPConnection:
        """A new connection.

        Raises :class:`NodeUnreachable` at once when the node refuses (nothing listens),
        :class:`ConnectionTimeout` when it does not accept within ``conn_timeout``.
        """
        try:
            sock = socket.create_connection((host, port), timeout=self.conn_timeout)
        except TimeoutError:
            raise ConnectionTimeout(f"connect to {host}:{port} timed out") from None
        except OSError as err:
            if err.errno in _UNREACHABLE:
                raise NodeUnreachable(f"connect to {host}:{port}: {err.strerror}",
                                      http_host=host, http_port=port) from None
            raise ClientException(f"connect to {host}:{port}: {err}", http_host=host,
                                  http_port=port) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.node_timeout)
        return HTTPConnection(host, port, sock, self)

    def get(self, host: str, port: int) -> HTTPConnection:
        """An idle connection that is still healthy, or a new one."""
        idle = self._idle.get((host, port))
        while idle:
            conn = idle.pop()
            if conn.is_alive():
                conn.reused = True
                return conn
            conn.close()
        return self.connect(host, port)

    def put(self, conn: HTTPConnection) -> None:
        """Keep a connection whose last response was read to the end."""
        key = (conn.host, conn.port)
        idle = self._idle.get(key)
        if idle is None:
            idle = self._idle[key] = []
        if len(idle) < self.max_idle:
            idle.append(conn)
        else:
            conn.close()

    def idle_count(self, host: str, port: int) -> int:
        """How many idle connections are kept for ``host:port``."""
        return len(self._idle.get((host, port), ()))

    def close_all(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

    # --- whole requests ---------------------------------------------------------------

    def send_request(self, host: str, port: int, method: str, path: str,
                     headers: Mapping[str, object], body: bytes | None = None,
                     fresh: bool = False) -> HTTPConnection:
        """Send a request whose body (if any) is known in full; the connection.

        The answer is read with :meth:`HTTPConnection.get_response`, or better with
        :meth:`request`, which also replays on a stale connection. ``fresh`` opens a new
        connection (for a request whose body will follow and so cannot be replayed).
        """
        head = build_request_head(method, path, f"{host}:{port}", headers)
        data = head + body if body else head
        conn = self.connect(host, port) if fresh else self.get(host, port)
        try:
            conn.send(data)
        except _StaleConnection:
            conn = self.connect(host, port)
            conn.send(data)
        return conn

    def request(self, host: str, port: int, method: str, path: str,
                headers: Mapping[str, object],
                body: bytes | None = None) -> HTTPResponse:
        """Make a request with a body known in full (or none) and read the answer's head.

        ``headers`` must include ``Content-Length`` when there is a body. The body of the
        answer is left to read on the returned response.
        """
        conn = self.send_request(host, port, method, path, headers, body)
        return self.finish_request(conn, method, path, headers, body)

    def finish_request(self, conn: HTTPConnection, method: str, path: str,
                       headers: Mapping[str, object],
                body: bytes | None = None) -> HTTPResponse:
        """Read the answer to a request sent by :meth:`send_request` (replaying if stale)."""
        try:
            return conn.get_response(method)
        except _StaleConnection:
            # The server closed the idle connection before it saw the request; it did not
            # act on it, so sending it again on a fresh connection is safe.
            conn = self.connect(conn.host, conn.port)
            head = build_request_head(method, path, f"{conn.host}:{conn.port}", headers)
            conn.send(head + body if body else head)
            return conn.get_response(method)
