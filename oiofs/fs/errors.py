"""The exceptions of the filesystem stores, as the seed names them.

Every store raises these and nothing else on purpose, so the FUSE layer can turn each one
into one errno in one place (:func:`oiofs.fs.fuse_ops.errno_of`).
"""

from __future__ import annotations

import errno

from oiofs.common.exceptions import OiofsError


class StoreError(OiofsError):
    """Root of the store errors; ``errno`` is what a filesystem call reports for it."""

    errno = errno.EIO


class NoSuchFilesystemObjectError(StoreError):
    """The file or directory does not exist in the store."""

    errno = errno.ENOENT


#: The seed's spelling, kept as an alias for code written against it.
NoSuchFilesytemObjectError = NoSuchFilesystemObjectError


class AlreadyExistsError(StoreError):
    """The file or directory to create already exists."""

    errno = errno.EEXIST


class DirectoryNotEmptyError(StoreError):
    """A directory to delete (without recursion) still has entries."""

    errno = errno.ENOTEMPTY


class NotADirectoryStoreError(StoreError):
    """A path used as a directory is a file."""

    errno = errno.ENOTDIR


class IsADirectoryStoreError(StoreError):
    """A path used as a file is a directory."""

    errno = errno.EISDIR


class StoreAccessError(StoreError):
    """The store could not be reached or refused the request (network, auth, 5xx)."""

    errno = errno.EIO


class StoreSpaceLimitError(StoreError):
    """The store or the cache has no room for the data."""

    errno = errno.ENOSPC


class FileTooBigError(StoreError):
    """The file is bigger than :meth:`Store.get_max_filesize` allows."""

    errno = errno.EFBIG


class InvalidPathValueError(StoreError, ValueError):
    """A path is not an absolute, normalised filesystem path."""

    errno = errno.EINVAL
