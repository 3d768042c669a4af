"""Streaming downloads that resume after a broken connection.

When the body of an answer stops before its end (the connection is reset, closed early or
times out), :class:`ObjectDownload` asks for the rest: ``Range: bytes=<next>-<last>``
with ``If-Match: <ETag of the first answer>``, so the bytes that follow come from the very
same version of the object or not at all (412 becomes
:class:`~oiofs.client.errors.ObjectChanged`). The caller sees one uninterrupted stream.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from oiofs.client.errors import IntegrityError, ObjectChanged, PreconditionFailed, TransportError

if TYPE_CHECKING:
    from oiofs.client.connection import Connection

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
#: request headers that must not follow into a resumed request
_DROPPED = ("range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since")


def content_range(value: str | None) -> tuple[int, int] | None:
    """``(first, last)`` of a ``Content-Range: bytes first-last/total`` value."""
    match = _CONTENT_RANGE.fullmatch((value or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


class ObjectDownload:
    """A download in progress: ``status``, ``headers``, ``etag``; iterate for the body.

    ``resumes`` counts the broken connections recovered from. Use it as a context
    manager (or call :meth:`close`) when the body may be left unread.
    """

    def __init__(self, conn: Connection, container: str, obj: str, headers: dict,
                 query: dict | None, max_resumes: int, chunk_size: int = 65536):
        self._conn = conn
        self.container = container
        self.obj = obj
        self._headers = headers
        self._query = query
        self.max_resumes = max_resumes
        self.resumes = 0
        self._resp = conn.request("GET", container, obj, headers=headers, query=query)
        self._resp.chunk_size = chunk_size
        self.status = self._resp.status
        self.headers = self._resp.headers
        self.etag = self.headers.get("etag")
        self.received = 0
        self._first, self._last = 0, None
        if self.status == 206:
            extent = content_range(self.headers.get("content-range"))
            if extent:
                self._first, self._last = extent
        elif self.headers.get("content-length", "").isdigit():
            self._last = int(self.headers["content-length"]) - 1

    @property
    def content_length(self) -> int | None:
        """Bytes in the whole answer, when the server said."""
        return None if self._last is None else self._last - self._first + 1

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                chunk = self._resp.read()
            except TransportError as err:
                self._reopen(err)
                continue
            if not chunk:
                length = self.content_length
                if length is not None and self.received < length:
                    self._reopen(TransportError("body ended early", "GET", self._resp.url))
                    continue
                return
            self.received += len(chunk)
            yield chunk

    def _reopen(self, err: TransportError) -> None:
        """Replace the broken answer with one for the rest of the same version."""
        if self.resumes >= self.max_resumes or not self.etag or self._last is None:
            raise err
        self.resumes += 1
        start = self._first + self.received
        headers = {k: v for k, v in self._headers.items() if k.lower() not in _DROPPED}
        headers["Range"] = f"bytes={start}-{self._last}"
        headers["If-Match"] = self.etag
        try:
            resp = self._conn.request("GET", self.container, self.obj, headers=headers,
                                      query=self._query, accept=lambda s: s == 206)
        except PreconditionFailed as failed:
            raise ObjectChanged(f"{self.container}/{self.obj} changed during the download "
                                f"(If-Match {self.etag} failed, trans-id "
                                f"{failed.trans_id})") from None
        if content_range(resp.headers.get("content-range")) != (start, self._last):
            resp.close()
            raise TransportError(f"resumed GET of {self.container}/{self.obj} answered "
                                 f"{resp.headers.get('content-range')!r}, not bytes "
                                 f"{start}-{self._last}", "GET", resp.url)
        resp.chunk_size = self._resp.chunk_size
        self._resp = resp

    def close(self) -> None:
        """Drop the rest of the body."""
        self._resp.close()

    def __enter__(self) -> ObjectDownload:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def is_large_object(headers: dict[str, str]) -> bool:
    """Whether the answer is an assembled SLO/DLO (its ETag is then no MD5 of the body)."""
    return "x-static-large-object" in headers or "x-object-manifest" in headers


def download_to(dl: ObjectDownload, dest: str | BinaryIO, verify: bool = True) -> dict:
    """Write a download into a path or file object; see :meth:`Connection.download`."""
    check = verify and dl.status == 200 and not is_large_object(dl.headers) and dl.etag
    md5 = hashlib.md5(usedforsecurity=False) if check else None
    out = open(dest, "wb") if isinstance(dest, str) else dest
    try:
        with dl:
            for chunk in dl:
                out.write(chunk)
                if md5 is not None:
                    md5.update(chunk)
    finally:
        if isinstance(dest, str):
            out.close()
    if md5 is not None and md5.hexdigest() != (dl.etag or "").strip('"'):
        raise IntegrityError(f"{dl.container}/{dl.obj}: received MD5 {md5.hexdigest()}, "
                             f"ETag {dl.etag}")
    return dl.headers


def download_parallel(conn: Connection, container: str, obj: str, path: str,
                      threads: int, part_size: int, verify: bool = True,
                      headers: dict | None = None) -> dict:
    """Download into the file at ``path`` as ``threads`` ranged GETs at a time.

    The object is HEADed once; each part of ``part_size`` bytes is then fetched with
    ``Range`` and ``If-Match: <that ETag>`` (so all parts come from one version, else
    :class:`~oiofs.client.errors.ObjectChanged`), written at its offset with
    ``os.pwrite``, and resumed on its own if its connection breaks. A plain object's MD5
    is checked by reading the file back when ``verify``. Small objects (one part) take
    the sequential path.
    """
    from concurrent.futures import ThreadPoolExecutor

    head = conn.head_object(container, obj, headers)
    length = int(head.get("content-length", "0") or 0)
    etag = head.get("etag")
    if threads <= 1 or length <= part_size or not etag:
        return download_to(conn.get_object(container, obj, headers=headers), path, verify)
    extra = {k: v for k, v in (headers or {}).items() if k.lower() not in _DROPPED}

    def fetch(first: int) -> None:
        last = min(first + part_size, length) - 1
        try:
            dl = conn.get_object(container, obj,
                                 headers={**extra, "Range": f"bytes={first}-{last}",
                                          "If-Match": etag})
        except PreconditionFailed as failed:
            raise ObjectChanged(f"{container}/{obj} changed during the download "
                                f"(trans-id {failed.trans_id})") from None
        pos = first
        with dl:
            if dl.status != 206 or content_range(dl.headers.get("content-range")) \
                    != (first, last):
                raise TransportError(f"ranged GET of {container}/{obj} answered "
                                     f"{dl.status} {dl.headers.get('content-range')!r}",
                                     "GET", obj)
            for chunk in dl:
                os.pwrite(fd, chunk, pos)
                pos += len(chunk)
        if pos != last + 1:
            raise TransportError(f"part {first}-{last} of {container}/{obj} ended at {pos}",
                                 "GET", obj)

    with open(path, "wb") as out:
        fd = out.fileno()
        os.ftruncate(fd, length)
        with ThreadPoolExecutor(max_workers=threads,
                                thread_name_prefix="oiofs-download") as pool:
            for _ in pool.map(fetch, range(0, length, part_size)):
                pass
    if verify and not is_large_object(head):
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != etag.strip('"'):
            raise IntegrityError(f"{container}/{obj}: file MD5 {digest.hexdigest()}, "
                                 f"ETag {etag}")
    return head
