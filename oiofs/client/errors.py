"""The exceptions of :mod:`oiofs.client`: every failure a caller can see is one of these.

``ClientError`` is the root (itself an :class:`~oiofs.common.exceptions.OiofsError`). A
request the server answered with an error status raises an :class:`HTTPStatusError`
subclass chosen by the status (``NotFound`` for 404, ``ServerError`` for any 5xx, ...),
carrying the status, reason, transaction id (``X-Trans-Id``), the response headers and
the first bytes of the body. A request that got no answer at all (refused, reset,
timed out) raises :class:`TransportError`. Both are raised only after the retry policy
gave up.
"""

from __future__ import annotations

from oiofs.common.exceptions import OiofsError

#: bytes of an error body kept on the exception (error pages are short)
ERROR_BODY_LIMIT = 64 * 1024


class ClientError(OiofsError):
    """Root of every error raised by :mod:`oiofs.client`."""


class ConfigurationError(ClientError, ValueError):
    """The connection cannot be set up as asked (no auth URL, unsupported scheme...)."""


class TransportError(ClientError):
    """No (complete) answer: the connection was refused, reset, or timed out.

    ``method`` and ``url`` say which request; ``timeout`` is true when it timed out.
    """

    def __init__(self, message: str, method: str = "", url: str = "",
                 timeout: bool = False):
        super().__init__(message)
        self.method = method
        self.url = url
        self.timeout = timeout


class HTTPStatusError(ClientError):
    """The server answered with a status the call does not accept.

    Attributes: ``status`` (int), ``reason``, ``trans_id`` (the ``X-Trans-Id`` header,
    ``""`` when absent), ``headers`` (lower-case names), ``body`` (bytes, at most
    :data:`ERROR_BODY_LIMIT`), ``method`` and ``url`` of the request.
    """

    def __init__(self, status: int, reason: str = "", method: str = "", url: str = "",
                 headers: dict[str, str] | None = None, body: bytes = b""):
        self.status = status
        self.reason = reason
        self.method = method
        self.url = url
        self.headers = headers or {}
        self.trans_id = self.headers.get("x-trans-id", "")
        self.body = body
        text = body[:200].decode("utf-8", "replace").strip()
        super().__init__(f"{method} {url} answered {status} {reason}".strip()
                         + (f": {text}" if text else "")
                         + (f" (trans-id {self.trans_id})" if self.trans_id else ""))


class BadRequest(HTTPStatusError):
    """400: the server refused the request as malformed."""


class Unauthorized(HTTPStatusError):
    """401: no valid token (still 401 after one re-authentication)."""


class AuthenticationFailed(Unauthorized):
    """The auth service refused the credentials, or answered without a token or URL."""


class Forbidden(HTTPStatusError):
    """403: the token is valid but not allowed to do this."""


class NotFound(HTTPStatusError):
    """404: no such account, container or object."""


class Conflict(HTTPStatusError):
    """409: e.g. deleting a container that is not empty."""


class LengthRequired(HTTPStatusError):
    """411: the server needs a Content-Length."""


class PreconditionFailed(HTTPStatusError):
    """412: an ``If-Match``/``If-None-Match``/``If-*-Since`` condition did not hold."""


class RequestEntityTooLarge(HTTPStatusError):
    """413: the object or metadata is over the cluster's limits."""


class RangeNotSatisfiable(HTTPStatusError):
    """416: the asked byte range is outside the object."""


class UnprocessableEntity(HTTPStatusError):
    """422: the body did not match the given ``ETag``."""


class RateLimited(HTTPStatusError):
    """429 or 498: slow down."""


class NotImplementedByServer(HTTPStatusError):
    """501: the cluster does not have the feature this request needs."""


class ServerError(HTTPStatusError):
    """Any 5xx (after the retries an idempotent request gets)."""


class ServiceUnavailable(ServerError):
    """503: the cluster could not reach enough nodes."""


class IntegrityError(ClientError):
    """Data does not match its checksum: a body's MD5 differs from its ``ETag``."""


class ObjectChanged(ClientError):
    """A download could not be resumed because the object changed (``If-Match`` failed)."""


class SegmentUploadError(ClientError):
    """A segmented upload failed; ``uploaded`` lists the segment names that were stored."""

    def __init__(self, message: str, uploaded: list[str] | None = None):
        super().__init__(message)
        self.uploaded = uploaded or []


_BY_STATUS: dict[int, type[HTTPStatusError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    411: LengthRequired, 412: PreconditionFailed, 413: RequestEntityTooLarge,
    416: RangeNotSatisfiable, 422: UnprocessableEntity, 429: RateLimited,
    498: RateLimited, 501: NotImplementedByServer, 503: ServiceUnavailable,
}


def status_error(status: int, reason: str = "", method: str = "", url: str = "",
                 headers: dict[str, str] | None = None, body: bytes = b"") -> HTTPStatusError:
    """The exception for an answer with ``status`` (not raised: the caller raises it)."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else HTTPStatusError
    return cls(status, reason, method, url, headers, body)
