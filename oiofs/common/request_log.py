"""The one WSGI layer that logs and measures every request of a server or the proxy.

:func:`run_wsgi <oiofs.common.wsgi.run_wsgi>` puts :class:`RequestLog` around every
server it runs (the proxy's whole pipeline included, so answers from middlewares count
too). For each request it

* gives the proxy's requests their transaction id (``environ["oiofs.trans_id"]``, which
  the proxy sends on to every backend request as ``X-Trans-Id``); a storage server takes
  the ``X-Trans-Id`` it was sent;
* once the last byte of the answer is sent (or the client went away), writes one access
  line (:mod:`oiofs.common.access_log`) at INFO and reports the request to the
  component's :class:`~oiofs.common.metrics.Metrics`;
* answers ``GET /metrics`` itself with the Prometheus page when Prometheus is enabled.

Options (``[DEFAULT]``): ``log_requests`` (true; false writes no access lines) and, on
the proxy, ``trans_id_suffix`` (appended to every transaction id).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from oiofs.common.access_log import (
    LOG_CONTEXT_KEY,
    TRANS_ID_KEY,
    access_line,
    new_trans_id,
)
from oiofs.common.backend_protocol import POLICY_INDEX_HEADER, environ_key
from oiofs.common.config import conf_bool
from oiofs.common.logger import log_info_line
from oiofs.common.metrics import PROMETHEUS_CONTENT_TYPE, Metrics

_POLICY_KEY = environ_key(POLICY_INDEX_HEADER)
_ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


def proxy_request_type(path: str) -> str:
    """``account``, ``container`` or ``object`` for a ``/v1/...`` path, else ``other``.

    >>> proxy_request_type("/v1/AUTH_a/c/o/p"), proxy_request_type("/info")
    ('object', 'other')
    """
    if not path.startswith("/v1"):
        return "other"
    depth = len([part for part in path.split("/", 4)[2:] if part])
    return ("other", "account", "container", "object")[min(depth, 3)]


class _CountingInput:
    """A request body reader that counts the bytes read (for chunked requests)."""

    def __init__(self, wrapped: Any):
        self.wrapped = wrapped
        self.count = 0

    def read(self, *args: Any) -> bytes:
        data: bytes = self.wrapped.read(*args)
        self.count += len(data)
        return data

    def readline(self, *args: Any) -> bytes:
        data: bytes = self.wrapped.readline(*args)
        self.count += len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        for line in self.wrapped:
            self.count += len(line)
            yield line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def _close_then(body: Iterable[bytes], finish: Callable[[int], None] | None,
                sent: int) -> None:
    """Close the application's body, then finish the request's log (if not done yet)."""
    try:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    finally:
        if finish is not None:
            finish(sent)


class _LoggedBody:
    """The answer's body, counted as it is sent; closing it finishes the request's log."""

    __slots__ = ("body", "finish", "sent")

    def __init__(self, body: Iterable[bytes], finish: Callable[[int], None]):
        self.body = body
        self.finish: Callable[[int], None] | None = finish
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        finish, self.finish = self.finish, None
        _close_then(self.body, finish, self.sent)


class _LoggedList(list[bytes]):
    """A complete answer (a list of chunks) that finishes the request's log when closed.

    It stays a list: eventlet gives a body with a length its ``Content-Length``, and
    closes the connection after an early final answer to an ``Expect: 100-continue``
    request only for such bodies.
    """

    def __init__(self, body: Iterable[bytes], finish: Callable[[int], None]):
        super().__init__(body)
        self.body = body
        self.finish: Callable[[int], None] | None = finish

    def close(self) -> None:
        finish, self.finish = self.finish, None
        _close_then(self.body, finish, sum(map(len, self)))


class RequestLog:
    """WSGI wrapper: transaction id, access line, metrics and ``/metrics`` of a server."""

    def __init__(self, app: WSGIApplication, conf: dict[str, Any], logger: logging.Logger,
                 metrics: Metrics, server_type: str):
        self.app = app
        self.logger = logger
        self.metrics = metrics
        self.is_proxy = server_type == "proxy"
        self.kind = server_type
        self.trans_id_suffix = str(conf.get("trans_id_suffix") or "")
        self.log_requests = conf_bool(conf, "log_requests", True)

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        start = time.time()
        if self.is_proxy:
            trans_id: str | None = environ.get(TRANS_ID_KEY)
            if trans_id is None:
                trans_id = environ[TRANS_ID_KEY] = new_trans_id(self.trans_id_suffix)
            environ[LOG_CONTEXT_KEY] = {}
        else:
            trans_id = environ.get("HTTP_X_TRANS_ID")
        if environ.get("PATH_INFO") == "/metrics" and self.metrics.prometheus_dir \
                and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            page = self.metrics.render()
            start_response("200 OK", [("Content-Type", PROMETHEUS_CONTENT_TYPE),
                                      ("Content-Length", str(len(page)))])
            return [page]
        if not (self.log_requests or self.metrics.enabled):
            return self.app(environ, start_response)
        wsgi_input = environ.get("wsgi.input")
        counting = None
        if getattr(wsgi_input, "chunked_input", False):
            counting = environ["wsgi.input"] = _CountingInput(wsgi_input)
        status = [500]

        def start_answer(status_line: str, headers: list[tuple[str, str]],
                         exc_info: _ExcInfo | None = None) -> Callable[[bytes], object]:
            status[0] = int(status_line[:3])
            return start_response(status_line, headers, exc_info)

        def finish(sent: int) -> None:
            received = counting.count if counting is not None else \
                getattr(wsgi_input, "position", 0)
            self.log_request(environ, status[0], received, sent, start, trans_id)

        try:
            body = self.app(environ, start_answer)
        except BaseException:
            finish(0)
            raise
        if isinstance(body, (list, tuple)):
            return _LoggedList(body, finish)
        return _LoggedBody(body, finish)

    def log_request(self, environ: WSGIEnvironment, status: int, received: int, sent: int,
                    start: float, trans_id: str | None) -> None:
        """Write the access line and report the request to the metrics."""
        end = time.time()
        if self.is_proxy:
            policy = environ[LOG_CONTEXT_KEY].get("policy_index")
            kind = proxy_request_type(environ.get("PATH_INFO", ""))
        else:
            policy = environ.get(_POLICY_KEY)
            kind = self.kind
        if self.log_requests and self.logger.isEnabledFor(logging.INFO):
            log_info_line(self.logger, access_line(environ, status, received, sent, start,
                                                   end, trans_id, policy))
        self.metrics.request(kind, environ.get("REQUEST_METHOD", ""), status, end - start,
                             received, sent, policy)
