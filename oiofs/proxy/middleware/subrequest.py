"""Requests a filter makes on behalf of a client, through the rest of the pipeline.

A subrequest is a new WSGI environ built from the client's: it keeps what says *who* asks
(``REMOTE_USER``, the auth callback the auth filter put there, the token) and the
transaction id, so the proxy authorizes a segment read exactly as if the client had asked
for the segment itself (a segment container with its own ACLs is honoured). Everything
else (method, path, query, headers, body) is the filter's.

The answer is a :class:`SubResponse`: status, headers and the body iterable, which the
caller must consume or :meth:`SubResponse.close`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from urllib.parse import quote

from oiofs.common.exceptions import HTTPError
from oiofs.proxy.controllers.base import (
    AUTHORIZE_KEY,
    AUTHORIZE_OVERRIDE_KEY,
    SHOW_SYSMETA_KEY,
)
from oiofs.proxy.request import TRANS_ID_KEY, ensure_trans_id
from oiofs.proxy.response import status_line

_KEPT_KEYS = ("REMOTE_USER", AUTHORIZE_KEY, AUTHORIZE_OVERRIDE_KEY, TRANS_ID_KEY,
              "HTTP_X_AUTH_TOKEN", "HTTP_X_STORAGE_TOKEN", "REMOTE_ADDR", "SERVER_NAME",
              "SERVER_PORT",
              "SERVER_PROTOCOL", "HTTP_HOST", "HTTP_REFERER", "wsgi.url_scheme",
              "wsgi.version", "wsgi.errors", "wsgi.multithread", "wsgi.multiprocess",
              "wsgi.run_once", "eventlet.posthooks")


def to_wsgi(text: str) -> str:
    """Text as a WSGI string (its UTF-8 bytes decoded as latin-1)."""
    return text.encode("utf-8").decode("latin-1")


def object_path(version: str, account: str, path: str) -> str:
    """``/<version>/<account>/<container>/<object>`` (WSGI string) of a manifest path."""
    return to_wsgi(f"/{version}/{account}/{path.lstrip('/')}")


def make_environ(environ: dict, method: str, path: str, query: str = "",
                 headers: dict | None = None, body: bytes | None = None,
                 body_file=None, length: int | None = None) -> dict:
    """A subrequest environ: ``path`` is a WSGI string, ``headers`` use usual names."""
    env = {key: environ[key] for key in _KEPT_KEYS if key in environ}
    env.update({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                "SCRIPT_NAME": "", SHOW_SYSMETA_KEY: True})
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        env[key] = value
    if body is not None:
        env["wsgi.input"] = io.BytesIO(body)
        env["CONTENT_LENGTH"] = str(len(body))
    elif body_file is not None:
        env["wsgi.input"] = body_file
        if length is not None:
            env["CONTENT_LENGTH"] = str(length)
    else:
        env["wsgi.input"] = io.BytesIO(b"")
        env.setdefault("CONTENT_LENGTH", "0")
    return env


class SubResponse:
    """A subrequest's answer: ``status`` (int), ``headers`` (lower-case names), ``body``."""

    def __init__(self, status: int, header_list: list[tuple[str, str]], body: Iterable):
        self.status = status
        self.header_list = header_list
        self.headers = {name.lower(): value for name, value in header_list}
        self.body = body

    def read(self, limit: int) -> bytes:
        """The whole body (then closed); ``ValueError`` if it is longer than ``limit``."""
        chunks, size = [], 0
        try:
            for chunk in self.body:
                size += len(chunk)
                if size > limit:
                    raise ValueError(f"body longer than {limit} bytes")
                chunks.append(chunk)
        finally:
            self.close()
        return b"".join(chunks)

    def close(self) -> None:
        """Release the body (and its backend connection)."""
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


def call(app, env: dict) -> SubResponse:
    """Run ``env`` through ``app``: the answer, its body not read yet."""
    captured: list = []

    def start_response(status, headers, exc_info=None):
        captured[:] = [status, headers]

    body = app(env, start_response)
    if not captured:  # a generator app starts the response when first iterated
        body = iter(body)
        first = next(body, b"")
        rest = body
        body = Prepend(first, rest)
    status = int(captured[0].split(" ", 1)[0])
    return SubResponse(status, list(captured[1]), body)


class Prepend:
    """An iterable of ``first`` then ``rest``, closing ``rest``."""

    def __init__(self, first: bytes, rest):
        self.first, self.rest = first, rest

    def __iter__(self):
        if self.first:
            yield self.first
        yield from self.rest

    def close(self) -> None:
        close = getattr(self.rest, "close", None)
        if close is not None:
            close()



def listing_pages(app, environ: dict, path: str, query: str, page: int,
                  marker: str = "", max_bytes: int = 16 * 1024 * 1024) -> Iterator[dict]:
    """The JSON rows of the container listing at ``path`` (``query`` its parameters other
    than ``format``, ``limit`` and ``marker``), read ``page`` rows at a time as the client
    from ``marker`` (text) on; nothing for a missing container, the error otherwise."""
    while True:
        full = f"format=json&limit={page}&{query}"
        if marker:
            full += f"&marker={quote(marker)}"
        resp = call(app, make_environ(environ, "GET", path, full))
        if resp.status == 404:
            resp.close()
            return
        if resp.status // 100 != 2:
            resp.close()
            raise status_error(resp.status)
        rows = json.loads(resp.read(max_bytes) or b"[]")
        yield from rows
        if len(rows) < page:
            return
        marker = rows[-1]["name"]


def proxy_app(app):
    """The proxy application at the end of the pipeline below ``app`` (filters keep the
    next element as ``.app``): it answers cached container info for filters."""
    while app is not None and not hasattr(app, "cached_container_info"):
        app = getattr(app, "app", None)
    if app is None:
        raise ValueError("no proxy application below this filter")
    return app


def status_error(status: int) -> HTTPError:
    """An :class:`HTTPError` of a subrequest's failed ``status``, to hand to the client."""
    err = HTTPError(status_line(status).split(" ", 1)[1])
    err.status = status
    return err


def error_response(environ: dict, start_response, err: HTTPError):
    """Answer the client with ``err`` (its text as a plain-text body) from a filter."""
    return text_answer(environ, start_response, status_line(err.status),
                       (err.detail or err.description).encode("utf-8"),
                       list(err.headers.items()))


def text_answer(environ: dict, start_response, status: str, body: bytes,
                headers: list[tuple[str, str]] | None = None):
    """A filter's own short plain-text answer (no body for a ``HEAD``)."""
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))),
                            ("X-Trans-Id", ensure_trans_id(environ)), *(headers or ())])
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]
