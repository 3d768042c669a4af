"""Reading a request body: the one reader every server uses, with one error mapping.

The WSGI server (eventlet) decodes ``Content-Length`` and chunked framing; the body
arrives through ``environ["wsgi.input"]``. What can go wrong is the client's fault and
answers as Swift answers it, on the proxy and on every storage server alike:

=============================================  ======================================
what happened                                   answer
=============================================  ======================================
no byte for ``client_timeout`` seconds          408 :class:`HTTPRequestTimeout`
connection lost (``OSError``)                   499 :class:`HTTPClientDisconnect`
invalid chunked framing (eventlet's
``ChunkReadError``, a ``ValueError``)           499 :class:`HTTPClientDisconnect`
body ends before its ``Content-Length``         499 :class:`HTTPClientDisconnect`
=============================================  ======================================

Invalid chunk framing is a 499, not a 400: the framing is broken mid-body, after the
request was accepted, and nothing of the connection can be trusted any more; Swift maps
it the same way (its ``ChunkReadError``). See ``docs/backend-protocol.md``.

>>> import io
>>> body = RequestBody(io.BytesIO(b"hello world"), 5)
>>> body.read(64), body.read(64)
(b'hello', b'')
>>> RequestBody(io.BytesIO(b"abc"), 5).read_exact(5)
Traceback (most recent call last):
...
oiofs.common.exceptions.HTTPClientDisconnect: Client Disconnect
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from oiofs.common.exceptions import HTTPClientDisconnect, HTTPRequestTimeout


class RequestBody:
    """A request body read in pieces; client faults become 408 or 499 (module docstring).

    ``length`` is the body's ``Content-Length``, or ``None`` for a chunked body (read up
    to its end). Never reads past ``length``.
    """

    __slots__ = ("input", "left", "received")

    def __init__(self, wsgi_input: BinaryIO, length: int | None):
        self.input = wsgi_input
        #: bytes still expected (``None``: chunked, until the end)
        self.left = length
        #: bytes read so far
        self.received = 0

    @classmethod
    def of(cls, environ: dict[str, Any], length: int | None) -> RequestBody:
        """The body of the WSGI request ``environ``."""
        return cls(environ["wsgi.input"], length)

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b''`` at the end of the body."""
        if self.left is not None:
            if self.left <= 0:
                return b""
            size = min(size, self.left)
        try:
            data = self.input.read(size)
        except TimeoutError:
            raise HTTPRequestTimeout() from None
        except (OSError, ValueError):  # connection lost, or eventlet's ChunkReadError
            raise HTTPClientDisconnect() from None
        if self.left is not None:
            if not data:
                raise HTTPClientDisconnect()  # ended before its Content-Length
            self.left -= len(data)
        self.received += len(data)
        return data

    def read_exact(self, size: int) -> bytes:
        """Exactly ``size`` bytes (a small body, or a known-length part of one)."""
        parts = []
        while size > 0:
            data = self.read(size)
            if not data:
                raise HTTPClientDisconnect()
            parts.append(data)
            size -= len(data)
        return b"".join(parts)

    def chunks(self, size: int) -> Iterator[bytes]:
        """The rest of the body in pieces of at most ``size`` bytes."""
        while True:
            data = self.read(size)
            if not data:
                return
            yield data
