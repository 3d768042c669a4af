"""The proxy's responses: a status, a list of headers and a body iterable.

Cheaper than a general response class: headers are a plain list of ``(name, value)``
pairs, bodies are lists or generators handed to the WSGI server untouched.
"""

from __future__ import annotations

from http import HTTPStatus

from oiofs.common.backend_protocol import BACKEND_PREFIX
from oiofs.common.exceptions import HTTPError
from oiofs.common.http.error_page import ERROR_CONTENT_TYPE, error_body

STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}
STATUS_LINES[499] = "499 Client Disconnect"

#: backend response headers never passed to clients
HOP_HEADERS = frozenset(("connection", "keep-alive", "transfer-encoding", "date", "server",
                         "te", "trailer", "upgrade", "proxy-authenticate",
                         "proxy-authorization", "x-trans-id", "x-openstack-request-id"))


def status_line(status: int) -> str:
    """``'201 Created'`` for 201; unknown codes get a generic phrase."""
    line = STATUS_LINES.get(status)
    if line is None:
        line = STATUS_LINES[status] = f"{status} Unknown"
    return line


class Response:
    """What a controller returns; the application sends it."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: list[tuple[str, str]] | None = None,
                 body=None):
        self.status = status
        self.headers = headers if headers is not None else []
        self.body = body if body is not None else []

    @classmethod
    def simple(cls, status: int, body: bytes = b"", headers=None,
               content_type: str = "text/plain; charset=utf-8") -> Response:
        """A response with a small body known in full."""
        hdrs = list(headers or ())
        if body:
            hdrs.append(("Content-Type", content_type))
        hdrs.append(("Content-Length", str(len(body))))
        return cls(status, hdrs, [body] if body else [])

    @classmethod
    def from_error(cls, err: HTTPError) -> Response:
        """The response of an :class:`HTTPError`: its status, its text (or Swift's page
        for the status) and its headers."""
        body = error_body(err.status, err.detail) if err.status >= 400 else b""
        return cls.simple(err.status, body, list(err.headers.items()),
                          content_type=ERROR_CONTENT_TYPE)

    def get(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


def pass_headers(items, skip_prefixes=(BACKEND_PREFIX,)) -> list[tuple[str, str]]:
    """Backend response headers a client may see (hop-by-hop and internal ones removed)."""
    out = []
    for name, value in items:
        lname = name.lower()
        if lname in HOP_HEADERS or lname.startswith(skip_prefixes):
            continue
        out.append((name, value))
    return out
