"""The on-disk metadata encoding of object files: JSON, a checksum, and a trailer if large.

Every object file (``.data``, ``.meta``, ``.ts``) carries one extended attribute,
``user.oiofs.meta``, whose value is::

    b"oiofs1 " + <32 hex digits: MD5 of BODY> + b" " + BODY

where ``BODY`` is compact UTF-8 JSON, one of:

* ``{"m": {...metadata...}}`` - the metadata itself (*inline*), the usual case;
* ``{"t": [offset, length, "<md5 hex>"]}`` - the metadata JSON is stored in the file itself,
  in the ``length`` bytes at ``offset`` (the *trailer*), after the object's data.

and, for a ``.data`` written since block checksums exist,
``"b": [offset, block_size, data_length]`` beside either: the packed per-block checksum
list (:mod:`oiofs.obj.block_checksums`) of the first ``data_length`` bytes starts at
``offset``. The data length is ``data_length`` when ``"b"`` is there, else the trailer's
offset, else the file's size; readers never read past it. New files are laid out
``data | checksum list | trailer``; a list the auditor adds to an older file goes at its
end, after a trailer if one is there.

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
from typing import NamedTuple

from oiofs.common.exceptions import (
    DiskFileCorrupt,
    DiskFileMetadataTooLarge,
    DiskFileNoSpace,
    DiskFileXattrNotSupported,
)
from oiofs.common.hashing import md5
from oiofs.obj.block_checksums import list_length

XATTR_NAME = "user.oiofs.meta"
MAGIC = b"oiofs1 "
_HEADER_LEN = len(MAGIC) + 32 + 1
#: inline values up to this size; ext4 fits ~4040 bytes and other xattrs (security labels)
#: may share the space, so leave a margin
INLINE_LIMIT = 3072
#: metadata larger than this is refused outright (far above what the API can send)
MAX_METADATA_SIZE = 1 << 20

_NOT_SUPPORTED = (errno.ENOTSUP, errno.EOPNOTSUPP)


class BlockRef(NamedTuple):
    """Where a file's packed block checksum list starts, its block size, and the length
    of the data it covers (the object's data length)."""

    offset: int
    block_size: int
    data_length: int

    @property
    def end(self) -> int:
        """Where the list ends."""
        return self.offset + list_length(self.data_length, self.block_size)


class ObjectHeader(NamedTuple):
    """What the attribute of an object file says (:func:`read_header`)."""

    metadata: dict[str, str]
    #: where the data ends; ``None``: at the end of the file (no trailer, no list)
    data_length: int | None
    #: the block checksum list, ``None`` for files written without one
    blocks: BlockRef | None
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


def write_block_list(fd: int, data_length: int, packed: bytes,
                     block_size: int) -> BlockRef:
    """Write a packed block checksum list right after ``data_length`` bytes of data; where
    it is, for :func:`write_metadata`. Does not fsync."""
    try:
        _pwrite_all(fd, packed, data_length)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFileNoSpace(str(err)) from err
        raise
    return BlockRef(data_length, block_size, data_length)


def write_metadata(fd: int, metadata: dict[str, str], data_length: int,
                   blocks: BlockRef | None = None) -> None:
    """Store ``metadata`` on the open file ``fd`` whose object data is ``data_length`` bytes
    and whose block checksum list (if any) ``blocks`` locates.

    Inline in the extended attribute when it fits, else as a trailer after the data and
    the list. Does not fsync: the caller does, once, for data and metadata together.
    Raises :class:`DiskFileMetadataTooLarge`, :class:`DiskFileNoSpace` or
    :class:`DiskFileXattrNotSupported`.
    """
    body = _dumps(metadata)
    if len(body) > MAX_METADATA_SIZE:
        raise DiskFileMetadataTooLarge(f"metadata of {len(body)} bytes")
    tail = b"}" if blocks is None else b',"b":' + _dumps(list(blocks)) + b"}"
    inline = _pack(b'{"m":' + body + tail)
    if len(inline) <= INLINE_LIMIT:
        try:
            _setxattr(fd, inline)
            return
        except OSError as err:
            if err.errno not in _NO_ROOM:
                raise
            # the filesystem has less room than we assumed: fall back to the trailer
    at = data_length if blocks is None else max(blocks.end, data_length)
    header: dict[str, list] = {"t": [at, len(body), md5(body).hexdigest()]}
    if blocks is not None:
        header["b"] = list(blocks)
    try:
        _pwrite_all(fd, body, at)
        _setxattr(fd, _pack(_dumps(header)))
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
    the end of the file (inline metadata, no block list), else the offset of what follows
    it. Raises :class:`DiskFileCorrupt` when anything does not check out.
    """
    header = read_header(fd)
    return header.metadata, header.data_length


def _read_attribute(fd: int) -> dict:
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
    return header


def _block_ref(header: dict) -> BlockRef | None:
    if "b" not in header:
        return None
    try:
        ref = BlockRef(*header["b"])
        if any(type(value) is not int for value in ref) or ref.block_size <= 0 \
                or not 0 <= ref.data_length <= ref.offset:
            raise ValueError
    except (TypeError, ValueError):
        raise DiskFileCorrupt("metadata attribute has a bad block list pointer") from None
    return ref


def read_header(fd: int) -> ObjectHeader:
    """The metadata of the open file ``fd``, where its data ends and where its block
    checksum list is (:class:`ObjectHeader`).

    :class:`DiskFileCorrupt` when anything does not check out, a block list that the
    file is too short to hold included (a truncated file).
    """
    header = _read_attribute(fd)
    blocks = _block_ref(header)
    if "m" in header:
        metadata, data_length = _valid_metadata(header["m"]), None
    else:
        metadata, data_length = _read_trailer(fd, header)
    if blocks is not None:
        if data_length is not None and data_length < blocks.data_length:
            raise DiskFileCorrupt("the metadata trailer lies inside the data")
        data_length = blocks.data_length
        if os.fstat(fd).st_size < blocks.end:
            raise DiskFileCorrupt("the file is too short for its block checksum list")
    return ObjectHeader(metadata, data_length, blocks)


def _read_trailer(fd: int, header: dict) -> tuple[dict[str, str], int]:
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


def append_block_list(fd: int, packed: bytes, block_size: int,
                      data_length: int) -> BlockRef:
    """Give a ``.data`` written without block checksums its list (the auditor does, after
    checking the whole data against its MD5): the list goes at the end of the file, is
    fsynced, and only then does the attribute point at it (fsynced again).

    ``fd`` must be open for writing. :class:`DiskFileCorrupt` if the file has a list
    already or its attribute does not check out; ``OSError`` (no room in the attribute,
    no space) leaves the file readable as before.
    """
    header = _read_attribute(fd)
    if "b" in header:
        raise DiskFileCorrupt("the file has a block checksum list already")
    end = os.fstat(fd).st_size
    _pwrite_all(fd, packed, end)
    # the list must be on disk before the attribute points at it
    os.fsync(fd)
    ref = BlockRef(end, block_size, data_length)
    header["b"] = list(ref)
    _setxattr(fd, _pack(_dumps(header)))
    os.fsync(fd)
    return ref


def read_metadata_path(path: str) -> tuple[dict[str, str], int | None]:
    """:func:`read_metadata` of the file at ``path`` (for tools and daemons)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return read_metadata(fd)
    finally:
        os.close(fd)
