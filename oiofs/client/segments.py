"""Segmented upload of big files as Static Large Objects (SLO), segments in parallel.

A file bigger than ``segment_size`` is cut into segments stored as ordinary objects in
``<container>_segments`` (or the given ``segment_container``) under
``<object>/slo/<upload time>/<size>/<segment size>/<index:08d>``, the naming
``swift upload`` uses, ``threads`` segment PUTs at a time, each read straight from the
file at its offset (``os.pread``, no copy in memory beyond one chunk per thread) and
checked against its MD5. Then one ``PUT <object>?multipart-manifest=put`` names them with
their ETags and sizes; the cluster checks every segment before it stores the manifest.

If a segment fails (after the retries), the segments already stored are deleted (best
effort) and :class:`~oiofs.client.errors.SegmentUploadError` is raised: no manifest is
written, so the object keeps its previous version.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, BinaryIO

from oiofs.client.errors import ClientError, IntegrityError, SegmentUploadError

if TYPE_CHECKING:
    from oiofs.client.connection import Connection

DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024
DEFAULT_THREADS = 4
#: the cluster's max_manifest_segments (docs/large-objects.md)
MAX_SEGMENTS = 1000


class FileSlice(io.RawIOBase):
    """A read-only, seekable view of ``length`` bytes of a file at ``offset`` (pread)."""

    def __init__(self, fd: int, offset: int, length: int):
        super().__init__()
        self._fd, self._offset, self._length, self._pos = fd, offset, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + pos))
        return self._pos

    def read(self, size: int = -1) -> bytes:
        left = self._length - self._pos
        if size is None or size < 0 or size > left:
            size = left
        data = os.pread(self._fd, size, self._offset + self._pos) if size else b""
        self._pos += len(data)
        return data


def plan(size: int, segment_size: int) -> list[tuple[int, int]]:
    """``[(offset, length), ...]`` of the segments of a ``size``-byte file."""
    if segment_size < 1:
        raise ValueError("segment_size must be at least 1 byte")
    count = max(1, -(-size // segment_size))
    if count > MAX_SEGMENTS:
        raise ValueError(f"{size} bytes in segments of {segment_size} make {count} "
                         f"segments; the cluster takes at most {MAX_SEGMENTS}: use "
                         f"segment_size >= {-(-size // MAX_SEGMENTS)}")
    return [(off, min(segment_size, size - off)) for off in range(0, size, segment_size)]


def slo_etag(etags: list[str]) -> str:
    """The ETag of an SLO: the MD5 of its segments' ETags concatenated."""
    return hashlib.md5("".join(etags).encode(), usedforsecurity=False).hexdigest()


def upload(conn: Connection, container: str, obj: str, source: str | BinaryIO,
           segment_size: int, threads: int, segment_container: str | None,
           content_type: str | None, metadata: dict[str, str] | None) -> str:
    """See :meth:`oiofs.client.Connection.upload`."""
    fileobj = open(source, "rb") if isinstance(source, str) else source
    try:
        start = fileobj.tell()
        try:
            fd = fileobj.fileno()
            size = os.fstat(fd).st_size - start
        except (OSError, io.UnsupportedOperation):
            fd = None  # an in-memory or wrapped file: one PUT only
            size = fileobj.seek(0, io.SEEK_END) - start
            fileobj.seek(start)
        if size <= segment_size:
            return conn.put_object(container, obj, fileobj, length=size,
                                   content_type=content_type, metadata=metadata)
        if fd is None:
            raise ValueError(f"{size} bytes need segments, which are read in parallel "
                             "from a real file: give a path or a file with fileno()")
        return _upload_slo(conn, container, obj, fd, start, size, segment_size,
                           max(1, threads), segment_container or f"{container}_segments",
                           content_type, metadata)
    finally:
        if isinstance(source, str):
            fileobj.close()


def _upload_slo(conn, container, obj, fd, start, size, segment_size, threads, seg_container,
                content_type, metadata) -> str:
    pieces = plan(size, segment_size)
    conn.put_container(seg_container)
    prefix = f"{obj}/slo/{time.time():.6f}/{size}/{segment_size}/"
    names = [f"{prefix}{i:08d}" for i in range(len(pieces))]
    etags: list[str | None] = [None] * len(pieces)
    stored: list[str] = []
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="oiofs-segment") as pool:
        futures = {pool.submit(conn.put_object, seg_container, names[i],
                               FileSlice(fd, start + off, length), length=length): i
                   for i, (off, length) in enumerate(pieces)}
        failure = None
        for future in as_completed(futures):
            i = futures[future]
            if future.cancelled():
                continue
            try:
                etags[i] = future.result()
                stored.append(names[i])
            except (ClientError, OSError) as err:
                if failure is None:
                    failure = err
                    for other in futures:
                        other.cancel()
    if failure is not None:
        _cleanup(conn, seg_container, stored)
        raise SegmentUploadError(f"segmented upload of {container}/{obj} failed: {failure}",
                                 stored) from failure
    manifest = [{"path": f"/{seg_container}/{name}", "etag": etag, "size_bytes": length}
                for name, etag, (_off, length) in zip(names, etags, pieces, strict=True)]
    headers = {"Content-Type": content_type} if content_type else {}
    etag = conn.put_object(container, obj, json.dumps(manifest).encode(), headers=headers,
                           metadata=metadata, query={"multipart-manifest": "put"},
                           verify=False)
    expected = slo_etag([e for e in etags if e])
    if etag and etag != expected:
        raise IntegrityError(f"{container}/{obj}: the cluster answered SLO ETag {etag}, "
                             f"the segments make {expected}")
    return etag


def _cleanup(conn: Connection, seg_container: str, names: list[str]) -> None:
    from oiofs.client.bulk import delete_many
    delete_many(conn, seg_container, names, threads=4)
