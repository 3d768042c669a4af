"""The oiofs exception hierarchy.

Every error raised on purpose by oiofs code derives from :class:`OiofsError`. Low-level
errors (``OSError`` with an errno, sqlite errors, socket timeouts) are translated into one
of these families once, at the edge where they happen; HTTP-facing errors carry their
status so each server turns them into a response in exactly one place.
"""

from __future__ import annotations

from collections.abc import Mapping


class OiofsError(Exception):
    """Root of every exception oiofs raises deliberately."""


# --- configuration -----------------------------------------------------------------


class ConfigError(OiofsError):
    """A configuration file or option is missing or invalid."""


# --- time ----------------------------------------------------------------------------


class InvalidTimestamp(OiofsError, ValueError):
    """A value cannot be read as an oiofs timestamp."""


# --- ring ----------------------------------------------------------------------------


class RingError(OiofsError):
    """Base for ring building and loading errors."""


class RingBuilderError(RingError):
    """The builder cannot do what was asked (bad device, bad parameters...)."""


class RingValidationError(RingError):
    """A ring or builder failed its consistency checks."""


class RingLoadError(RingError):
    """A ring file cannot be read."""


# --- disk files ------------------------------------------------------------------------


class DiskFileError(OiofsError):
    """Base for errors of the on-disk object files."""


class DiskFileNotExist(DiskFileError):
    """No object (or only a tombstone) is stored under that name."""


class DiskFileDeleted(DiskFileNotExist):
    """The newest file for the object is a tombstone; ``timestamp`` says when.

    ``timestamp`` is a :class:`~oiofs.common.timestamp.Timestamp`, typed ``object`` here
    because that module imports this one.
    """

    def __init__(self, timestamp: object = None,
                 metadata: dict[str, str] | None = None):
        super().__init__("deleted")
        self.timestamp = timestamp
        self.metadata = metadata or {}


class DiskFileExpired(DiskFileDeleted):
    """The object's ``X-Delete-At`` has passed."""


class DiskFileQuarantined(DiskFileNotExist):
    """The object's files were bad and have been moved to quarantine."""


class DiskFileCollision(DiskFileError):
    """The file under a hash belongs to another object name."""


class DiskFileNoSpace(DiskFileError):
    """The device is full (ENOSPC/EDQUOT)."""


class DiskFileDeviceUnavailable(DiskFileError):
    """The device is not mounted or cannot be used."""


class DiskFileXattrNotSupported(DiskFileError):
    """The filesystem does not support user extended attributes."""


class DiskFileMetadataTooLarge(DiskFileError):
    """The metadata cannot be stored for this object."""


class DiskFileCorrupt(DiskFileError):
    """A file's metadata is unreadable, fails its checksum, or disagrees with the file.

    Raised by the on-disk format readers; the object layer quarantines the files and
    answers as if the object were not there (:class:`DiskFileQuarantined`).
    """


# --- databases -------------------------------------------------------------------------


class DbError(OiofsError):
    """Base for errors of the sqlite brokers."""


class DbNotFound(DbError):
    """The database file does not exist."""


class DbAlreadyExists(DbError):
    """The database was asked to be created but already exists."""


class DbLockTimeout(DbError):
    """A database lock could not be taken in time."""


class DbQuarantined(DbError):
    """The database was corrupt and has been moved to quarantine."""


# --- network ---------------------------------------------------------------------------


class ConnectionTimeout(OiofsError):
    """A connection to another node was not established in time."""


class NodeTimeout(OiofsError):
    """Another node did not answer in time."""


class ClientException(OiofsError):
    """A request to another node failed; ``http_status`` is set when one was received."""

    def __init__(self, msg: str, http_status: int | None = None,
                 http_headers: Mapping[str, str] | None = None, http_body: bytes = b"",
                 http_host: str | None = None, http_port: int | None = None,
                 http_device: str | None = None):
        super().__init__(msg)
        self.http_status = http_status
        self.http_headers = http_headers or {}
        self.http_body = http_body
        self.http_host = http_host
        self.http_port = http_port
        self.http_device = http_device


class NodeUnreachable(ClientException):
    """Nothing accepts connections at the node's address (refused, unreachable): it is down."""


class LockTimeout(OiofsError):
    """A file lock could not be taken in time."""


# --- HTTP errors -----------------------------------------------------------------------


class HTTPError(OiofsError):
    """An error that answers an HTTP request with ``status`` and a short text.

    Raise it anywhere below a server's ``__call__``; the server turns it into the
    response in one place (``oiofs.common.base_app``).
    """

    status = 500
    description = "Internal Server Error"

    def __init__(self, description: str | None = None,
                 headers: Mapping[str, str] | None = None):
        super().__init__(description or self.description)
        #: the text given when raised; ``None`` answers with the status's generic page
        self.detail = description or None
        if description:
            self.description = description
        self.headers = dict(headers or {})


def _http_error(name: str, status: int, description: str) -> type[HTTPError]:
    return type(name, (HTTPError,), {"status": status, "description": description,
                                     "__doc__": f"HTTP {status}: {description}."})


HTTPBadRequest = _http_error("HTTPBadRequest", 400, "Bad Request")
HTTPUnauthorized = _http_error("HTTPUnauthorized", 401, "Unauthorized")
HTTPForbidden = _http_error("HTTPForbidden", 403, "Forbidden")
HTTPNotFound = _http_error("HTTPNotFound", 404, "Not Found")
HTTPMethodNotAllowed = _http_error("HTTPMethodNotAllowed", 405, "Method Not Allowed")
HTTPNotAcceptable = _http_error("HTTPNotAcceptable", 406, "Not Acceptable")
HTTPRequestTimeout = _http_error("HTTPRequestTimeout", 408, "Request Timeout")
HTTPConflict = _http_error("HTTPConflict", 409, "Conflict")
HTTPGone = _http_error("HTTPGone", 410, "Gone")
HTTPLengthRequired = _http_error("HTTPLengthRequired", 411, "Length Required")
HTTPPreconditionFailed = _http_error("HTTPPreconditionFailed", 412, "Precondition Failed")
HTTPRequestEntityTooLarge = _http_error("HTTPRequestEntityTooLarge", 413,
                                        "Request Entity Too Large")
HTTPUnsupportedMediaType = _http_error("HTTPUnsupportedMediaType", 415,
                                       "Unsupported Media Type")
HTTPRequestedRangeNotSatisfiable = _http_error("HTTPRequestedRangeNotSatisfiable", 416,
                                               "Requested Range Not Satisfiable")
HTTPUnprocessableEntity = _http_error("HTTPUnprocessableEntity", 422, "Unprocessable Entity")
HTTPTooManyRequests = _http_error("HTTPTooManyRequests", 429, "Too Many Requests")
HTTPClientDisconnect = _http_error("HTTPClientDisconnect", 499, "Client Disconnect")
HTTPInternalServerError = _http_error("HTTPInternalServerError", 500, "Internal Server Error")
HTTPNotImplemented = _http_error("HTTPNotImplemented", 501, "Not Implemented")
HTTPBadGateway = _http_error("HTTPBadGateway", 502, "Bad Gateway")
HTTPServiceUnavailable = _http_error("HTTPServiceUnavailable", 503, "Service Unavailable")
HTTPInsufficientStorage = _http_error("HTTPInsufficientStorage", 507, "Insufficient Storage")
