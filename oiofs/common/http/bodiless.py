"""What keeps bodies off answers that must not have one.

HTTP forbids a body after the headers of an answer to ``HEAD`` and of any ``1xx``, ``204``
or ``304`` answer (RFC 9110 6.4.1). A keep-alive client reads no body there, so any byte
sent after those headers is taken as the start of the next answer on the connection (Go
clients such as rclone log "Unsolicited response received on idle HTTP channel" and the
next request fails). eventlet's server writes whatever the application yields; oiofs
servers run with :class:`oiofs.common.runtime.HttpProtocol`, whose answer path applies
:func:`body_forbidden` itself (once per request, with no wrapper around the application),
so handlers, middlewares and error paths may build their answers without thinking of
``HEAD``. :func:`without_forbidden_bodies` does the same as a WSGI wrapper, for an
application served by anything else.

Headers are left alone: a ``HEAD`` answer keeps the ``Content-Length`` a ``GET`` would
have had, as HTTP allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

#: statuses whose answers never carry a body (besides the 1xx ones)
NO_BODY_STATUSES = frozenset((204, 304))


def body_forbidden(method: str, status: int) -> bool:
    """True when an answer with ``status`` to a ``method`` request must have no body."""
    return method == "HEAD" or status in NO_BODY_STATUSES or 100 <= status < 200


def _close(body: object) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


def without_forbidden_bodies(app: WSGIApplication) -> WSGIApplication:
    """``app`` as a WSGI application that never sends a forbidden body.

    When the answer's status is known as ``app`` returns (the usual case), a forbidden
    body is closed unread and replaced by an empty one; a lazy application that starts
    its answer while iterating is filtered chunk by chunk.
    """

    def guarded(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        forbidden: list[bool] = []

        def start(status: str, headers: list[tuple[str, str]],
                  exc_info: tuple[type[BaseException], BaseException, TracebackType]
                  | tuple[None, None, None] | None = None) -> Callable[[bytes], object]:
            forbidden[:] = [body_forbidden(method, int(status[:3]))]
            return start_response(status, headers, exc_info)

        body = app(environ, start)
        if forbidden:
            if forbidden[0]:
                _close(body)
                return []
            return body
        return _filtered(body, forbidden)

    return guarded


def _filtered(body: Iterable[bytes], forbidden: list[bool]) -> Iterable[bytes]:
    try:
        for chunk in body:
            if not (forbidden and forbidden[0]):
                yield chunk
    finally:
        _close(body)
