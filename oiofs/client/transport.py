"""One HTTP exchange over a thread-safe keep-alive pool, with errors made typed.

The wire format is :mod:`oiofs.common.connection_pool`'s (the same small HTTP/1.1 client
the proxy uses towards its storage nodes): one implementation of HTTP in the project.
This module adds what a client library needs on top of it: a pool safe to share between
OS threads, streamed request bodies (known length or chunked), header values in UTF-8,
and every low-level failure turned into :class:`~oiofs.client.errors.TransportError`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from oiofs.client.body import UploadBody
from oiofs.client.errors import ERROR_BODY_LIMIT, TransportError
from oiofs.common.connection_pool import (
    READ_SIZE,
    ConnectionPool,
    HTTPConnection,
    HTTPResponse,
    build_request_head,
)
from oiofs.common.exceptions import ClientException, ConnectionTimeout, NodeTimeout

#: the low-level failures of the wire layer (anything else is a bug, and propagates)
WIRE_ERRORS = (ClientException, ConnectionTimeout, NodeTimeout, OSError)


class SharedPool(ConnectionPool):
    """A :class:`~oiofs.common.connection_pool.ConnectionPool` safe across OS threads.

    Idle connections are kept per ``(host, port)``, at most ``max_idle`` each; a
    connection is handed to one thread at a time and comes back only once its response
    was read to the end (so a pooled connection is always at a request boundary).
    """

    def __init__(self, conn_timeout: float = 10.0, node_timeout: float = 60.0,
                 max_idle: int = 16):
        super().__init__(conn_timeout=conn_timeout, node_timeout=node_timeout,
                         max_idle=max_idle)
        self._lock = threading.Lock()
        #: idle connections found closed by the server, plus requests sent again because a
        #: reused connection died before answering (what a keep-alive client lives with)
        self.stale = 0

    def note_stale(self) -> None:
        with self._lock:
            self.stale += 1

    def get(self, host: str, port: int) -> HTTPConnection:
        """An idle connection that is still open, or a new one."""
        while True:
            with self._lock:
                idle = self._idle.get((host, port))
                conn = idle.pop() if idle else None
            if conn is None:
                return self.connect(host, port)
            if conn.is_alive():
                conn.reused = True
                return conn
            conn.close()
            self.note_stale()

    def put(self, conn: HTTPConnection) -> None:
        """Keep a connection whose last response was read to the end."""
        with self._lock:
            super().put(conn)

    def close_all(self) -> None:
        """Close every idle connection (connections in use close when released)."""
        with self._lock:
            super().close_all()


def _wire_value(value) -> str:
    """A header value as the wire layer wants it: UTF-8 bytes seen as latin-1 text."""
    return str(value).encode("utf-8").decode("latin-1")


def _text_value(value: str) -> str:
    """A received header value as text: UTF-8 when it decodes, else as sent."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


class ClientResponse:
    """An answer whose body is still to be read (streamed), from :meth:`Connection.request`.

    ``status``, ``reason``, ``headers`` (lower-case names, values as text) are known at
    once. Read the body with :meth:`read` or by iterating (chunks of ``chunk_size``), or
    drop it with :meth:`close`; use it as a context manager so that the connection goes
    back to the pool (body read to the end) or is closed (body left unread). A body cut
    short raises :class:`TransportError`, never ends quietly.
    """

    def __init__(self, resp: HTTPResponse, method: str, url: str,
                 chunk_size: int = READ_SIZE):
        self._resp = resp
        self.method = method
        self.url = url
        self.status = resp.status
        self.reason = resp.reason
        self.headers = {k: _text_value(v) for k, v in resp.headers.items()}
        self.chunk_size = chunk_size
        #: hex MD5 of the request body sent, when the request asked for it
        self.sent_md5: str | None = None

    @property
    def trans_id(self) -> str:
        return self.headers.get("x-trans-id", "")

    def read(self, size: int | None = None) -> bytes:
        """Up to ``size`` bytes (a chunk when ``None``); ``b""`` at the end of the body."""
        try:
            return self._resp.read(size or self.chunk_size)
        except WIRE_ERRORS as err:
            self._resp.close()
            raise TransportError(f"{self.method} {self.url}: body cut short: {err}",
                                 self.method, self.url,
                                 timeout=isinstance(err, (NodeTimeout, TimeoutError))
                                 ) from None

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read():
            yield chunk

    def read_all(self, limit: int = 16 * 1024 * 1024) -> bytes:
        """The whole body, for small answers (listings, errors); ``ValueError`` past
        ``limit`` bytes."""
        parts, total = [], 0
        for chunk in self:
            total += len(chunk)
            if total > limit:
                self.close()
                raise ValueError(f"{self.method} {self.url}: body over {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def error_body(self) -> bytes:
        """The start of an error answer's body (at most ERROR_BODY_LIMIT); never raises."""
        try:
            data = self._resp.read(ERROR_BODY_LIMIT)
            self._resp.discard()
        except WIRE_ERRORS:
            data = b""
        self.close()
        return data

    def close(self) -> None:
        """Done: the connection is reused if the body was read to the end, else closed."""
        self._resp.close()

    def __enter__(self) -> ClientResponse:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def exchange(pool: SharedPool, host: str, port: int, method: str, path: str,
             headers: dict[str, str], body: UploadBody | None, url: str,
             chunk_size: int = READ_SIZE) -> ClientResponse:
    """Send one request and read the head of its answer.

    ``path`` is quoted (query included). A body with a known length is sent with
    ``Content-Length``, else chunked. A connection the server closed while it was idle in
    the pool is detected and the request sent once more on a fresh connection (nothing
    was received, so the server did not act on it), if the body can be replayed. Every
    other failure raises :class:`TransportError`.
    """
    wire = {name: _wire_value(value) for name, value in headers.items()}
    if body is not None:
        if body.length is None:
            wire["Transfer-Encoding"] = "chunked"
        else:
            wire["Content-Length"] = str(body.length)
    elif method in ("PUT", "POST"):
        wire["Content-Length"] = "0"
    head = build_request_head(method, path, f"{host}:{port}", wire)
    conn = None
    for attempt in (1, 2):
        conn = None
        try:
            conn = pool.get(host, port)
            reused = conn.reused
            _send(conn, head, body, attempt)
            resp = conn.get_response(method)
            while 100 <= resp.status < 200:  # an interim answer: the real one follows
                resp = conn.get_response(method)
            return ClientResponse(resp, method, url, chunk_size)
        except WIRE_ERRORS as err:
            if conn is not None:
                conn.close()
            stale = conn is not None and reused and attempt == 1
            if stale and (body is None or body.replayable):
                pool.note_stale()
                continue
            raise TransportError(f"{method} {url}: {err}", method, url,
                                 timeout=isinstance(err, (ConnectionTimeout, NodeTimeout,
                                                          TimeoutError))) from None
        except BaseException:
            # the caller's body failed (or lied about its length): the request is half
            # sent, so the connection can never be reused
            if conn is not None:
                conn.close()
            raise
    raise AssertionError("unreachable")


def _send(conn: HTTPConnection, head: bytes, body: UploadBody | None, attempt: int) -> None:
    if body is None:
        conn.send(head)
        return
    chunks = body.chunks(restart=attempt > 1)
    if body.length is None:
        conn.send(head)
        for chunk in chunks:
            if chunk:
                conn.send_chunk(chunk)
        conn.send_chunk(b"")
        return
    first = next(chunks, b"")
    conn.send(head + first if len(first) < 16384 else head)
    if len(first) >= 16384:
        conn.send(first)
    sent = len(first)
    for chunk in chunks:
        sent += len(chunk)
        conn.send(chunk)
    if sent != body.length:
        raise ValueError(f"the body gave {sent} bytes, not the {body.length} announced")
