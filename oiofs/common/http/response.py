"""A minimal WSGI response for hot paths: a status, a header dict and a body iterable.

werkzeug's ``Response`` normalises and copies its headers several times per request (for
location rewriting, content-length guessing...), which costs more than an object GET itself.
:class:`WsgiResponse` sends exactly what it is given. It has the attributes
:class:`oiofs.common.base_app.BaseServerApp` relies on (``status_code``, a mutable
``headers`` mapping, and being a WSGI app), so handlers may return either kind.

Header values must already be WSGI strings (latin-1 text; UTF-8 bytes seen as latin-1).

>>> resp = WsgiResponse(201, {"ETag": '"abc"'})
>>> calls = []
>>> list(resp({"REQUEST_METHOD": "PUT"}, lambda s, h: calls.append((s, h))))
[]
>>> calls
[('201 Created', [('ETag', '"abc"'), ('Content-Length', '0')])]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}
STATUS_LINES[499] = "499 Client Disconnect"

_NO_BODY_STATUSES = frozenset({204, 304})


class WsgiResponse:
    """A response sent as given.

    ``body`` is ``bytes`` (``Content-Length`` is set from it) or an iterable of ``bytes``
    for which the caller sets ``Content-Length``; an iterable's ``close()`` is honoured by
    the WSGI server. For HEAD requests and 204/304 answers no body is sent, and an iterable
    body is closed at once.
    """

    __slots__ = ("status_code", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str] | None = None,
                 body: bytes | Iterable[bytes] = b""):
        self.status_code = status
        self.headers = headers if headers is not None else {}
        self.body = body

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., object]) -> Iterable[bytes]:
        status = self.status_code
        headers = self.headers
        body = self.body
        if isinstance(body, bytes):
            if status not in _NO_BODY_STATUSES and "Content-Length" not in headers:
                headers["Content-Length"] = str(len(body))
            body = [body] if body else []
        if status in _NO_BODY_STATUSES or environ.get("REQUEST_METHOD") == "HEAD":
            close = getattr(body, "close", None)
            if close is not None:
                close()
            body = []
        start_response(STATUS_LINES.get(status) or f"{status} Unknown",
                       list(headers.items()))
        return body
