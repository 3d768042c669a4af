"""Response bodies streamed from a backend to the client in bounded memory.

A WSGI server iterates the body and calls ``close()`` when done (or when the client went
away): closing drops the backend connection unless the body was read to its end, so a
half-read connection never goes back to the pool.
"""

from __future__ import annotations

from oiofs.common.connection_pool import HTTPResponse
from oiofs.common.exceptions import OiofsError
from oiofs.proxy.backend import NODE_ERRORS


class BodyCutShort(OiofsError):
    """A backend body failed mid-way and could not be resumed: the client's connection
    must be dropped (raised out of the response body to the WSGI server)."""


class BackendBody:
    """Iterates a backend response's body in chunks of ``chunk_size`` bytes.

    ``resume`` (optional) is called as ``resume(bytes_sent) -> HTTPResponse | None`` when
    the node fails mid-body; it may return a response carrying the rest of the body from
    another node. Without one, or when it returns ``None``, iterating raises
    :class:`BodyCutShort`: the WSGI server then closes the client's connection, so the
    client sees a body shorter than its ``Content-Length`` at once (a body that merely
    ended would leave the kept-alive connection waiting for bytes that never come); the
    proxy never pads or invents data.
    """

    __slots__ = ("resp", "chunk_size", "resume", "sent", "logger")

    def __init__(self, resp: HTTPResponse, chunk_size: int = 65536, resume=None,
                 logger=None):
        self.resp = resp
        self.chunk_size = chunk_size
        self.resume = resume
        self.sent = 0
        self.logger = logger

    def __iter__(self):
        while True:
            try:
                data = self.resp.read(self.chunk_size)
            except NODE_ERRORS as err:
                if self.logger is not None:
                    self.logger.warning("body read failed after %d bytes: %s", self.sent,
                                        err)
                self.resp.close()
                new = self.resume(self.sent) if self.resume is not None else None
                if new is None:
                    raise BodyCutShort(f"body cut short after {self.sent} bytes") from err
                self.resp = new
                continue
            if not data:
                return
            self.sent += len(data)
            yield data

    def close(self) -> None:
        """Release the backend connection (dropped unless fully read)."""
        self.resp.close()
