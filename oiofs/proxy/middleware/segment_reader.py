"""Serving a large object: its segments streamed one after another, and the response
around them (length, ETag, ranges, conditional requests), shared by DLO and SLO.

:class:`SegmentReader` makes one ``GET`` subrequest per piece of a segment (with a
``Range`` when only part of it is needed, and ``If-Match`` with the ETag the manifest
expects) and passes its body on chunk by chunk: at most one chunk of one segment is in
memory. A segment that is missing, changed (ETag or size no longer what the manifest says)
or cut short ends the response: the error is logged and :class:`SegmentError` is raised
into the WSGI server, which drops the connection, so the client sees a short body and never
bytes from another version (as Swift does). The same happens when ``max_get_time`` passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from oiofs.common.http.conditional import Precondition, evaluate_preconditions
from oiofs.common.http.etag import quote_etag
from oiofs.common.http.ranges import (
    content_range,
    parse_range_header,
    resolve_ranges,
    unsatisfied_content_range,
)
from oiofs.common.timestamp import parse_http_date
from oiofs.proxy.middleware.segments import Piece
from oiofs.proxy.middleware.subrequest import SubResponse, call, make_environ, object_path


class SegmentError(Exception):
    """A segment could not be served as the manifest describes it; ends the response."""


class SegmentReader:
    """Iterates the bytes of ``pieces`` (an iterator of :class:`Piece`), read as the user.

    ``pieces`` may itself make subrequests (listing pages, nested manifests) and raise
    :class:`SegmentError`; it is consumed lazily, one piece at a time.
    """

    def __init__(self, app, environ: dict, version: str, account: str,
                 pieces: Iterator[Piece], logger, name: str, max_time: float | None = None):
        self.app = app
        self.environ = environ
        self.version = version
        self.account = account
        self.pieces = pieces
        self.logger = logger
        self.name = name
        self.deadline = None if max_time is None else time.monotonic() + max_time
        self.current: SubResponse | None = None

    def _fail(self, message: str, *args) -> SegmentError:
        text = message % args
        self.logger.error("ERROR: while serving %s: %s (txn: %s)", self.name, text,
                          self.environ.get("oiofs.trans_id"))
        return SegmentError(text)

    def __iter__(self):
        pieces = iter(self.pieces)
        try:
            while True:
                try:
                    piece = next(pieces, None)
                except SegmentError as err:
                    raise self._fail("%s", err) from None
                if piece is None:
                    return
                if self.deadline is not None and time.monotonic() > self.deadline:
                    raise self._fail("max_get_time exceeded")
                yield from self._read_piece(piece)
        finally:
            self.close()

    def _read_piece(self, piece: Piece):
        segment = piece.segment
        headers = {}
        if not piece.whole:
            start, stop = piece.object_range
            headers["Range"] = f"bytes={start}-{stop - 1}"
        if segment.etag:
            headers["If-Match"] = quote_etag(segment.etag)
        env = make_environ(self.environ, "GET",
                           object_path(self.version, self.account, segment.path),
                           headers=headers)
        resp = self.current = call(self.app, env)
        if resp.status // 100 != 2:
            resp.close()
            raise self._fail("got %d fetching segment %s", resp.status, segment.path)
        etag = (resp.headers.get("etag") or "").strip('"')
        if piece.whole and segment.etag and etag.lower() != segment.etag.lower():
            resp.close()
            raise self._fail("segment %s: Etag %s, manifest says %s", segment.path, etag,
                             segment.etag)
        length = resp.headers.get("content-length")
        if length is not None and int(length) != piece.length:
            resp.close()
            raise self._fail("segment %s: %s bytes, manifest says %d", segment.path,
                             length, piece.length)
        sent = 0
        for chunk in resp.body:
            sent += len(chunk)
            if sent > piece.length:
                raise self._fail("segment %s is longer than the manifest says",
                                 segment.path)
            yield chunk
        resp.close()
        self.current = None
        if sent != piece.length:
            raise self._fail("segment %s ended after %d of %d bytes", segment.path, sent,
                             piece.length)

    def close(self) -> None:
        """Release the segment being read, if any."""
        if self.current is not None:
            self.current.close()
            self.current = None


def _last_modified(headers: dict) -> int | None:
    value = headers.get("last-modified")
    when = parse_http_date(value) if value else None
    return None if when is None else int(when)


def assembled_response(environ: dict, base_headers: list[tuple[str, str]],
                       length: int | None, etag: str | None,
                       body_for: Callable[[int, int | None], Iterator[bytes]],
                       ) -> tuple[str, list[tuple[str, str]], Iterable[bytes]]:
    """``(status line, headers, body)`` of a GET/HEAD of a large object.

    ``base_headers`` are the manifest's (without Content-Length, ETag, Content-Range);
    ``length`` and ``etag`` (unquoted) are the large object's, ``None`` when unknown (a
    DLO whose listing takes more than one page). ``body_for(start, stop)`` gives the body
    of bytes ``[start, stop)``. Conditional headers are evaluated against the large
    object's ETag and the manifest's ``Last-Modified``; one range is served as 206, an
    unsatisfiable one as 416; several ranges, or a range on an object of unknown length,
    get the whole object (200), which HTTP allows.
    """
    method = environ["REQUEST_METHOD"]
    headers = list(base_headers)
    lookup = {name.lower(): value for name, value in headers}
    outcome = evaluate_preconditions(
        lambda name: environ.get("HTTP_" + name.upper().replace("-", "_")), method,
        etag, _last_modified(lookup))
    if etag is not None:
        headers.append(("Etag", quote_etag(etag)))
    if outcome is not Precondition.PROCEED:
        status = ("304 Not Modified" if outcome is Precondition.NOT_MODIFIED
                  else "412 Precondition Failed")
        headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
        headers.append(("Content-Length", "0"))
        return status, headers, []
    specs = parse_range_header(environ.get("HTTP_RANGE"))
    if specs is not None and length is not None and len(specs) == 1:
        ranges = resolve_ranges(specs, length)
        if not ranges:
            headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
            headers += [("Content-Range", unsatisfied_content_range(length)),
                        ("Content-Length", "0")]
            return "416 Requested Range Not Satisfiable", headers, []
        start, stop = ranges[0]
        headers += [("Content-Range", content_range(start, stop, length)),
                    ("Content-Length", str(stop - start))]
        body = [] if method == "HEAD" else body_for(start, stop)
        return "206 Partial Content", headers, body
    if length is not None:
        headers.append(("Content-Length", str(length)))
    body = [] if method == "HEAD" else body_for(0, None)
    return "200 OK", headers, body
