"""oiofs.client: the Python client library for the oiofs (Swift v1) HTTP API.

The public surface (semver: changed only with a major version) is what this module
exports: :class:`Connection`, :class:`RetryPolicy`, :class:`Credentials`, the exceptions
of :mod:`oiofs.client.errors`, :func:`generate_temp_url` and :func:`temp_url_signature`,
and :class:`ObjectDownload` as returned by :meth:`Connection.get_object`. Every other
module is an implementation detail. See docs/client.md.
"""

from oiofs.client.auth import Credentials
from oiofs.client.connection import Connection
from oiofs.client.download import ObjectDownload
from oiofs.client.errors import (
    AuthenticationFailed,
    BadRequest,
    ClientError,
    ConfigurationError,
    Conflict,
    Forbidden,
    HTTPStatusError,
    IntegrityError,
    LengthRequired,
    NotFound,
    NotImplementedByServer,
    ObjectChanged,
    PreconditionFailed,
    RangeNotSatisfiable,
    RateLimited,
    RequestEntityTooLarge,
    SegmentUploadError,
    ServerError,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    UnprocessableEntity,
)
from oiofs.client.retry import NO_RETRY, RetryPolicy
from oiofs.client.tempurl import generate_temp_url, temp_url_signature
from oiofs.client.transport import ClientResponse
from oiofs.client.urls import metadata_of

__all__ = [
    "AuthenticationFailed", "BadRequest", "ClientError", "ClientResponse",
    "ConfigurationError", "Conflict", "Connection", "Credentials", "Forbidden",
    "HTTPStatusError", "IntegrityError", "LengthRequired", "NO_RETRY", "NotFound",
    "NotImplementedByServer", "ObjectChanged", "ObjectDownload", "PreconditionFailed",
    "RangeNotSatisfiable", "RateLimited", "RequestEntityTooLarge", "RetryPolicy",
    "SegmentUploadError", "ServerError", "ServiceUnavailable", "TransportError",
    "Unauthorized", "UnprocessableEntity", "generate_temp_url", "metadata_of",
    "temp_url_signature",
]
