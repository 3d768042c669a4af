"""The on-disk metadata encoding of object files: JSON, a checksum, and a trailer if large.

Every object file (``.data``, ``.meta``, ``.ts``) carries one extended attribute,
``user.oiofs.meta``, whose value is::

    b"oiofs1 " + <32 hex digits: MD5 of BODY> + b" " + BODY

where ``BODY`` is compact UTF-8 JSON, one of:

* ``{"m": {...metadata...}}`` - the metadata itself (*inline*), the usual case;
* ``{"t": [offset, length, "<md5 hex>"]}`` - the metadata JSON is stored in the file itself,
  in the ``length`` bytes at ``offset`` (the *trailer*), right after the object's data.
  ``offset`` is therefore the data length, and readers never read past it.

Why a trailer: ext4 keeps all the extended attributes of a file in one 4 KiB block (about
4040 bytes of value in practice), while the API lets an object carry 4 KiB of user metadata
plus a 1 KiB name, a content type and system metadata. Metadata whose inline encoding
would exceed :data:`INLINE_LIMIT` (or that the filesystem refuses inline) goes to the
trailer, so every object the API accepts can be stored. The trailer is written before the
file is fsynced and renamed into place, so it is as durable as the data.

Metadata is a ``dict`` of ``str`` to ``str`` (object metadata values may hold lone
surrogates standing for bytes that were not UTF-8, see :func:`dumps_metadata`); any file
whose attribute is missing, has another format, fails a checksum or does not decode raises
:class:`~oiofs.common.exceptions.DiskFileCorrupt` (the caller quarantines it).
"""

from __future__ import annotations

import errno
import json
import os

from oiofs.common.exceptions import (
    DiskFileCorrupt,
    DiskFileMetadataTooLarge,
    DiskFileNoSpace,
    DiskFileXattrNotSupported,
)
from oiofs.common.hashing import md5

XATTR_NAME = "user.oiofs.meta"
MAGIC = b"oiofs1 "
_HEADER_LEN = len(MAGIC) + 32 + 1
#: inline values up to this size; ext4 fits ~4040 bytes and other xattrs (security labels)
#: may share the space, so leave a margin
INLINE_LIMIT = 3072
#: metadata larger than this is refused outright (far above what the API can send)
MAX_METADATA_SIZE = 1 << 20

_NOT_SUPPORTED = (errno.ENOTSUP, errno.EOPNOTSUPP)
_NO_ROOM = (errno.ENOSPC, errno.E2BIG, errno.ERANGE)


def _pack(body: bytes) -> bytes:
    return MAGIC + md5(body).hexdigest().encode("ascii") + b" " + body


def dumps_metadata(value) -> bytes:
    """Compact UTF-8 JSON of ``value``, as stored on disk and sent by replication.

    Object metadata values keep bytes that were not UTF-8 as lone surrogates (the object
    server's ``surrogateescape``); they are written as such (``surrogatepass``), and
    :func:`json.loads` of bytes reads them back the same way.
    """
    return json.dumps(value, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8", "surrogatepass")


_dumps = dumps_metadata


def to_wsgi(value: str) -> str:
    """A stored header value as WSGI wants it: its bytes seen as latin-1 text.

    Stored values are text; bytes of a value that were not UTF-8 are kept as lone
    surrogates (``surrogateescape``, see :func:`stored_text`) and go out as they came in.
    """
    return value if value.isascii() else \
        value.encode("utf-8", "surrogateescape").decode("latin-1")


def stored_text(value: str) -> str:
    """A WSGI header value as the text stored in object metadata, losing no byte.

    Valid UTF-8 becomes its text; other bytes become lone surrogates that
    :func:`to_wsgi` turns back into the same bytes (Swift stores object metadata values
    byte for byte, UTF-8 or not).
    """
    if value.isascii():
        return value
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:  # already text
        return value
    return raw.decode("utf-8", "surrogateescape")


def _setxattr(fd: int, value: bytes) -> None:
    try:
        os.setxattr(fd, XATTR_NAME, value)
    except OSError as err:
        if err.errno in _NOT_SUPPORTED:
            raise DiskFileXattrNotSupported(str(err)) from err
        raise


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def write_metadata(fd: int, metadata: dict[str, str], data_length: int) -> None:
    """Store ``metadata`` on the open file ``fd`` whose object data is ``data_length`` bytes.

    Inline in the extended attribute when it fits, else as a trailer at ``data_length``.
    Does not fsync: the caller does, once, for data and metadata together. Raises
    :class:`DiskFileMetadataTooLarge`, :class:`DiskFileNoSpace` or
    :class:`DiskFileXattrNotSupported`.
    """
    body = _dumps(metadata)
    if len(body) > MAX_METADATA_SIZE:
        raise DiskFileMetadataTooLarge(f"metadata of {len(body)} bytes")
    inline = _pack(b'{"m":' + body + b"}")
    if len(inline) <= INLINE_LIMIT:
        try:
            _setxattr(fd, inline)
            return
        except OSError as err:
            if err.errno not in _NO_ROOM:
                raise
            # the filesystem has less room than we assumed: fall back to the trailer
    try:
        _pwrite_all(fd, body, data_length)
        _setxattr(fd, _pack(_dumps({"t": [data_length, len(body), md5(body).hexdigest()]})))
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFileNoSpace(str(err)) from err
        raise


def _checked_body(value: bytes) -> bytes:
    if len(value) < _HEADER_LEN or not value.startswith(MAGIC) or \
            value[_HEADER_LEN - 1:_HEADER_LEN] != b" ":
        raise DiskFileCorrupt("metadata attribute has an unknown format")
    body = value[_HEADER_LEN:]
    if md5(body).hexdigest().encode("ascii") != value[len(MAGIC):_HEADER_LEN - 1]:
        raise DiskFileCorrupt("metadata attribute fails its checksum")
    return body


def _valid_metadata(value) -> dict[str, str]:
    if type(value) is not dict:
        raise DiskFileCorrupt("metadata is not a mapping")
    for key, item in value.items():
        if type(key) is not str or type(item) is not str:  # JSON gives exact types
            raise DiskFileCorrupt("metadata is not a mapping of strings")
    return value


def read_metadata(fd: int) -> tuple[dict[str, str], int | None]:
    """The metadata of the open file ``fd`` and where its data ends.

    Returns ``(metadata, data_length)``; ``data_length`` is ``None`` when the data runs to
    the end of the file (inline metadata), else the trailer's offset. Raises
    :class:`DiskFileCorrupt` when anything does not check out.
    """
    try:
        value = os.getxattr(fd, XATTR_NAME)
    except OSError as err:
        if err.errno == errno.ENODATA:
            raise DiskFileCorrupt("no metadata attribute") from None
        if err.errno in _NOT_SUPPORTED:
            raise DiskFileXattrNotSupported(str(err)) from err
        raise
    body = _checked_body(value)
    try:
        header = json.loads(body)
    except ValueError:
        raise DiskFileCorrupt("metadata attribute is not JSON") from None
    if not isinstance(header, dict):
        raise DiskFileCorrupt("metadata attribute is not an object")
    if "m" in header:
        return _valid_metadata(header["m"]), None
    try:
        offset, length, checksum = header["t"]
        if not (isinstance(offset, int) and isinstance(length, int)) or offset < 0 \
                or not 0 < length <= MAX_METADATA_SIZE:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise DiskFileCorrupt("metadata attribute has a bad trailer pointer") from None
    trailer = os.pread(fd, length, offset)
    if len(trailer) != length or md5(trailer).hexdigest() != checksum:
        raise DiskFileCorrupt("metadata trailer is short or fails its checksum")
    try:
        return _valid_metadata(json.loads(trailer)), offset
    except ValueError:
        raise DiskFileCorrupt("metadata trailer is not JSON") from None


def read_metadata_path(path: str) -> tuple[dict[str, str], int | None]:
    """:func:`read_metadata` of the file at ``path`` (for tools and daemons)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return read_metadata(fd)
    finally:
        os.close(fd)
