"""The common shape of every oiofs WSGI server: dispatch by method, errors in one place.

A server subclasses :class:`BaseServerApp`, defines one method per HTTP verb it supports
(``def PUT(self, req) -> Response``) and, if it has its own low-level errors, a
:meth:`~BaseServerApp.translate_error` that maps them to :class:`HTTPError` classes. Any
:class:`HTTPError` raised below becomes its response here; anything else is logged with its
transaction id and answers 500. The access line of each request is written around the
whole application, by :class:`oiofs.common.request_log.RequestLog`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.wrappers import Request, Response

from oiofs.common.backend_protocol import TRANS_ID_HEADER
from oiofs.common.constraints import check_utf8, wsgi_to_str
from oiofs.common.exceptions import (
    HTTPError,
    HTTPInternalServerError,
    HTTPMethodNotAllowed,
    HTTPPreconditionFailed,
)
from oiofs.common.http.error_page import ERROR_CONTENT_TYPE, error_body
from oiofs.common.http.request import ServerRequest
from oiofs.common.logger import get_logger


class BaseServerApp:
    """A WSGI application whose verbs are methods named after them."""

    #: name used in logs and the ``Server`` header
    server_type = "oiofs-server"
    #: the verbs this server answers; others get 405
    allowed_methods: frozenset[str] = frozenset()

    def __init__(self, conf: dict[str, Any], logger: logging.Logger | None = None):
        self.conf = conf
        self.logger = logger or get_logger(conf, self.server_type)

    def translate_error(self, err: Exception) -> HTTPError | None:
        """Map a server-specific exception to an HTTP error (``None``: not handled)."""
        return None

    def error_response(self, err: HTTPError) -> Response:
        """The response for an HTTP error: its status, its text (or Swift's page for the
        status), plus its headers."""
        body = error_body(err.status, err.detail) if err.status >= 400 else b""
        headers = {"Content-Type": ERROR_CONTENT_TYPE} if body else {}
        headers.update(err.headers)
        return Response(body, status=err.status, headers=headers)

    def handle(self, req: Request) -> Response:
        """Dispatch ``req`` to the method named after its verb and map errors."""
        method = req.method
        try:
            path = req.environ.get("PATH_INFO", "")
            if path and not check_utf8(path):
                raise HTTPPreconditionFailed("Invalid UTF8 or contains NULL")
            if method not in self.allowed_methods:
                raise HTTPMethodNotAllowed(headers={"Allow": ", ".join(
                    sorted(self.allowed_methods))})
            handler: Callable[[Request], Response] = getattr(self, method)
            return handler(req)
        except HTTPError as err:
            return self.error_response(err)
        except Exception as err:  # the one place errors become statuses
            mapped = self.translate_error(err)
            if mapped is not None:
                return self.error_response(mapped)
            self.logger.exception("ERROR __call__ error with %s %s (txn: %s)", method,
                                  req.environ.get("PATH_INFO"),
                                  req.headers.get(TRANS_ID_HEADER, "-"))
            return self.error_response(HTTPInternalServerError())

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        req = ServerRequest(environ)
        resp = self.handle(req)
        trans_id = environ.get("HTTP_X_TRANS_ID")
        if trans_id:
            resp.headers[TRANS_ID_HEADER] = trans_id
        return resp(environ, start_response)


def request_path(req: Request) -> str:
    """The request's path as text; ``HTTPBadRequest`` if it is not valid UTF-8."""
    return wsgi_to_str(req.environ.get("PATH_INFO", ""))


def header_text(req: Request, name: str, default: str | None = None) -> str | None:
    """A header's value as text (UTF-8 decoded); ``HTTPBadRequest`` if not valid UTF-8."""
    value = req.headers.get(name)
    if value is None:
        return default
    return wsgi_to_str(value)


def given_content_type(environ: WSGIEnvironment) -> str | None:
    """The request's ``Content-Type`` as sent (a WSGI string), or ``None`` if none was.

    eventlet fills ``CONTENT_TYPE`` with ``text/plain`` when the header is absent; only in
    that case are the raw headers looked at to tell the two apart.
    """
    value: str | None = environ.get("CONTENT_TYPE")
    if value != "text/plain":
        return value or None
    raw = environ.get("headers_raw")
    if raw is None:
        return value
    for name, _ in raw:
        if name.lower() == "content-type":
            return value
    return None
