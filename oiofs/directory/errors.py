"""The directory's errors, each with the HTTP status the server answers it with.

The server turns them into ``{"status": n, "message": "..."}`` in one place
(:meth:`oiofs.directory.server.DirectoryApp.dispatch`); the clients turn such answers
back into the same classes (:func:`error_for_status`).
"""

from __future__ import annotations

from oiofs.common.exceptions import OiofsError


class DirectoryError(OiofsError):
    """Any error the directory answers with; ``status`` is its HTTP status."""

    status = 500


class InvalidRequest(DirectoryError):
    """A missing or malformed parameter or body."""

    status = 400


class NoSuchService(DirectoryError):
    """No service of that type at that address is registered."""

    status = 404


class NoSuchReference(DirectoryError):
    """The reference does not exist."""

    status = 404


class ReferenceConflict(DirectoryError):
    """The reference is in a state that forbids the change (services still linked, a
    type already linked without ``replace``)."""

    status = 409


class NoServiceAvailable(DirectoryError):
    """No service of the type asked for scores above 0."""

    status = 503


class DirectoryUnavailable(DirectoryError):
    """No directory endpoint answered (client side), or its store is unreachable."""

    status = 503


_BY_STATUS: dict[int, type[DirectoryError]] = {
    400: InvalidRequest, 409: ReferenceConflict, 503: DirectoryUnavailable}


def error_for_status(status: int, message: str, kind: str = "") -> DirectoryError:
    """The exception a client raises for an error answer (``kind``: the class name the
    server sent, when it is one of ours).

    >>> type(error_for_status(404, "no such thing", "NoSuchReference")).__name__
    'NoSuchReference'
    >>> type(error_for_status(400, "bad")).__name__
    'InvalidRequest'
    """
    for klass in (InvalidRequest, NoSuchService, NoSuchReference, ReferenceConflict,
                  NoServiceAvailable, DirectoryUnavailable):
        if klass.__name__ == kind:
            return klass(message)
    err = _BY_STATUS.get(status, DirectoryError)(message)
    err.status = status
    return err
