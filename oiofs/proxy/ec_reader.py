"""Reading erasure-coded objects: ``k`` fragment archives in, the object's bytes out.

:meth:`ECReader.open` answers a GET or HEAD of an erasure-coded object with an
:class:`ECResponse`, which looks to the proxy like a node's answer (``status``,
``headers``, ``items``, ``read``...), so the object controller and the copy code use it as
they use a replicated object's node answer (``docs/erasure-coding.md``):

* **HEAD** asks ``n - quorum_size(n) + 1`` nodes at once (3 of 6: any set of nodes that
  acknowledged a PUT, POST or DELETE holds one of them) and shows the newest state among
  them (:func:`oiofs.proxy.checked_read.read_checked`; a newer tombstone answers 404),
  with the object's length and ETag from the archive's system metadata.
* **GET** asks ``k`` nodes at once, data fragments first (slot *i* holds fragment *i*),
  and keeps the archives of the newest timestamp that ``k`` distinct fragment indexes
  agree on, asking more nodes (other primaries, then handoffs) while it has fewer. It then
  shows the metadata of the archive with the newest ``.meta`` (a POST may have missed
  some); it reads one fragment of each archive per segment, checks each fragment's pyeclib
  checksum, decodes the segment and sends the bytes asked for. A node that fails, sends a
  fragment whose checksum does not match, or holds another timestamp is replaced by
  another node's fragment of the same write, also in the middle of the body.
* A ``Range`` costs one HEAD first (the object's length is needed to find the segments);
  then only the segments holding the range are read (``Range`` on the archives).
* Conditional headers are evaluated by the nodes against the object's ETag
  (``X-Backend-Etag-Is-At``); ``If-Range`` by the proxy.
"""

from __future__ import annotations

from collections.abc import Iterator

from oiofs.common.backend_protocol import (
    DATA_TIMESTAMP_HEADER,
    EC_CONTENT_LENGTH,
    EC_ETAG,
    EC_FRAG_INDEX,
    EC_SYSMETA_PREFIX,
    ETAG_IS_AT_HEADER,
)
from oiofs.common.connection_pool import HTTPResponse
from oiofs.common.ec_segments import SegmentLayout, SegmentSpan, fragment_problem
from oiofs.common.exceptions import ClientException
from oiofs.common.http.conditional import if_range_allows
from oiofs.common.http.etag import quote_etag
from oiofs.common.http.multipart import ByteRangesLayout, make_boundary
from oiofs.common.http.ranges import (
    content_range,
    parse_range_header,
    ranges_to_serve,
    unsatisfied_content_range,
)
from oiofs.common.storage_policy import ECPolicy
from oiofs.common.timestamp import Timestamp
from oiofs.proxy.backend import NODE_ERRORS, Backend, HandoffIter, node_path
from oiofs.proxy.checked_read import read_checked
from oiofs.proxy.error_limiter import ErrorLimiter
from oiofs.proxy.quorum import quorum_size, read_failure_status, response_timestamp

_DROPPED = frozenset(("content-length", "etag", "content-range", "transfer-encoding"))
_EC_PREFIX = EC_SYSMETA_PREFIX.lower()


class BadFragment(ClientException):
    """A fragment that cannot be part of a decoded answer (checksum, index, length)."""


def object_items(items: list[tuple[str, str]], headers: dict[str, str],
                 length: int | None) -> list[tuple[str, str]]:
    """A fragment archive's answer headers made the object's: its ETag and length, no
    erasure-coding system metadata."""
    out = [(k, v) for k, v in items
           if k.lower() not in _DROPPED and not k.lower().startswith(_EC_PREFIX)]
    etag = headers.get(EC_ETAG.lower())
    if etag:
        out.append(("ETag", quote_etag(etag)))
    if length is not None:
        out.append(("Content-Length", str(length)))
    return out


class ECResponse:
    """An erasure-coded object's answer with the interface of a node's
    :class:`~oiofs.common.connection_pool.HTTPResponse` (what the proxy uses of it)."""

    def __init__(self, status: int, items: list[tuple[str, str]],
                 body: Iterator[bytes] | None = None, length: int | None = 0,
                 closers: tuple = ()):
        self.status = status
        self.items = items
        self.headers = {k.lower(): v for k, v in items}
        self._body = body
        self._left = length
        self._buffer = b""
        self._closers = closers

    @property
    def content_length(self) -> int | None:
        """Bytes of body still to come."""
        return self._left

    def read(self, size: int = 65536) -> bytes:
        """Up to ``size`` bytes of the decoded body; ``b''`` at its end. A body that
        cannot be decoded any further raises ``ClientException`` (short body)."""
        while not self._buffer and self._body is not None:
            chunk = next(self._body, None)
            if chunk is None:
                self._body = None
                if self._left:
                    raise ClientException("erasure-coded body ended early")
                break
            self._buffer = chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        if self._left is not None:
            self._left -= len(data)
        return data

    def read_all(self, limit: int = 1 << 20) -> bytes:
        """The whole (small) body."""
        parts: list[bytes] = []
        total = 0
        while True:
            data = self.read()
            if not data:
                return b"".join(parts)
            total += len(data)
            if total > limit:
                self.close()
                raise ClientException(f"body larger than {limit}")
            parts.append(data)

    def discard(self) -> None:
        """Done without the body."""
        self.close()

    def close(self) -> None:
        """Release every archive connection still open."""
        body, self._body = self._body, None
        if body is not None and hasattr(body, "close"):
            body.close()
        for close in self._closers:
            close()
        self._closers = ()


class _Archive:
    """One open fragment archive of the chosen write."""

    __slots__ = ("resp", "node", "frag_index")

    def __init__(self, resp: HTTPResponse, node: dict, frag_index: int):
        self.resp = resp
        self.node = node
        self.frag_index = frag_index


class _FragmentReader:
    """The archives of one write, read segment by segment from ``k`` nodes, a failing
    node replaced by the next of ``nodes`` (module docstring)."""

    def __init__(self, reader: ECReader, nodes: Iterator[dict], part: int, suffix: str,
                 headers: dict):
        self.reader = reader
        self.policy = reader.policy
        self.backend = reader.backend
        self.nodes = nodes
        self.part = part
        self.suffix = suffix
        self.headers = headers
        self.archives: list[_Archive] = []
        self.timestamp: str | None = None
        self.statuses: list[int] = []
        self.tombstone: str | None = None

    def _request(self, count: int, frag_range: tuple[int, int] | None
                 ) -> list[tuple[dict, HTTPResponse | None]]:
        batch = []
        for _ in range(count):
            node = next(self.nodes, None)
            if node is None:
                break
            batch.append(node)
        headers = dict(self.headers)
        if frag_range is not None:
            headers["Range"] = f"bytes={frag_range[0]}-{frag_range[1] - 1}"
        answers = self.backend.request_many(
            [(node, "GET", node_path(node, self.part, self.suffix), headers)
             for node in batch])
        return list(zip(batch, answers, strict=True))

    def open(self, frag_range: tuple[int, int] | None,
             timestamp: str | None = None) -> HTTPResponse | None:
        """Open ``k`` archives of one write (``timestamp``, or the newest that ``k``
        fragment indexes agree on); ``None`` on success, else a node's conditional
        answer (304/412) to pass on. Failure leaves ``self.archives`` short."""
        k = self.policy.ec_ndata
        found: dict[str, dict[int, _Archive]] = {}
        while True:
            wanted = timestamp or (max(found) if found else None)
            have = len(found.get(wanted, ())) if wanted else 0
            if have >= k:
                break
            batch = self._request(k - have, frag_range)
            if not batch:
                break
            for node, resp in batch:
                if resp is None:
                    self.statuses.append(503)
                    continue
                self.statuses.append(resp.status)
                if resp.status == 404:
                    stamp = resp.headers.get("x-backend-timestamp")
                    if stamp and (self.tombstone is None or stamp > self.tombstone):
                        self.tombstone = stamp
                    resp.discard()
                    continue
                if resp.status in (304, 412):
                    self._close_found(found)
                    return resp
                stamp = resp.headers.get(DATA_TIMESTAMP_HEADER.lower(), "")
                index = resp.headers.get(EC_FRAG_INDEX.lower(), "")
                if resp.status not in (200, 206) or not index.isdigit() or \
                        (timestamp is not None and stamp != timestamp) or \
                        int(index) in found.get(stamp, {}):
                    resp.close()
                    continue
                found.setdefault(stamp, {})[int(index)] = _Archive(resp, node, int(index))
        complete = sorted((s for s, got in found.items() if len(got) >= k), reverse=True)
        chosen = complete[0] if complete else None
        if chosen is not None and self.tombstone is not None and \
                Timestamp(self.tombstone) > Timestamp(chosen):
            chosen = None  # deleted after that write
        for stamp, got in found.items():
            if stamp == chosen:
                archives = sorted(got.values(), key=lambda a: a.frag_index)
                self.archives = archives[:k]
                for extra in archives[k:]:
                    extra.resp.close()
            else:
                self._close_found({stamp: got})
        self.timestamp = chosen
        return None

    @staticmethod
    def _close_found(found: dict[str, dict[int, _Archive]]) -> None:
        for got in found.values():
            for archive in got.values():
                archive.resp.close()

    def failure_status(self) -> int:
        """404 or 503 when :meth:`open` found no complete write."""
        if self.tombstone is not None and 404 in self.statuses:
            return 404
        return read_failure_status(self.statuses, self.policy.quorum(
            self.policy.node_count))

    def close(self) -> None:
        """Drop every archive connection still open."""
        for archive in self.archives:
            archive.resp.close()
        self.archives = []

    def _read_fragment(self, archive: _Archive, size: int) -> bytes:
        parts, got = [], 0
        while got < size:
            data = archive.resp.read(size - got)
            if not data:
                raise BadFragment(f"archive {archive.frag_index} ended early")
            parts.append(data)
            got += len(data)
        fragment = b"".join(parts)
        problem = fragment_problem(self.policy.driver, fragment, archive.frag_index)
        if problem:
            raise BadFragment(f"archive {archive.frag_index}: {problem}")
        return fragment

    def _replace(self, failed: _Archive, segment: int, layout: SegmentLayout,
                 stop: int) -> _Archive | None:
        """Another node's archive of the same write, positioned at ``segment``."""
        failed.resp.close()
        in_use = {a.frag_index for a in self.archives}
        start = segment * layout.fragment_size
        while True:
            batch = self._request(1, (start, stop))
            if not batch:
                return None
            node, resp = batch[0]
            if resp is None:
                continue
            index = resp.headers.get(EC_FRAG_INDEX.lower(), "")
            if resp.status != 206 or not index.isdigit() or int(index) in in_use or \
                    resp.headers.get(DATA_TIMESTAMP_HEADER.lower()) != self.timestamp:
                resp.close()
                continue
            return _Archive(resp, node, int(index))

    def iter_span(self, span: SegmentSpan, layout: SegmentLayout) -> Iterator[bytes]:
        """The decoded bytes of ``span``, segment by segment (closes the archives)."""
        stop = layout.fragment_range(span)[1]
        skip, left = span.skip, span.length
        driver = self.policy.driver
        try:
            for segment in range(span.first, span.last + 1):
                size = layout.fragment_len(segment)
                fragments = []
                for position, archive in enumerate(list(self.archives)):
                    while True:
                        try:
                            fragments.append(self._read_fragment(archive, size))
                            break
                        except (BadFragment, *NODE_ERRORS) as err:
                            self.backend.node_error(archive.node, err)
                            self.reader.logger.warning(
                                "EC archive %s failed at segment %d: %s",
                                archive.frag_index, segment, err)
                            replacement = self._replace(archive, segment, layout, stop)
                            if replacement is None:
                                raise ClientException("too few fragments left") from None
                            self.archives[position] = archive = replacement
                data = driver.decode(fragments)
                if skip:
                    data = data[skip:]
                    skip = 0
                if len(data) > left:
                    data = data[:left]
                left -= len(data)
                if data:
                    yield data
        finally:
            self.close()


class ECReader:
    """GET and HEAD of an erasure-coded policy's objects (module docstring)."""

    def __init__(self, backend: Backend, policy: ECPolicy, logger):
        self.backend = backend
        self.policy = policy
        self.logger = logger

    def node_order(self, ring, part: int, primaries: list[dict],
                   max_nodes: int) -> Iterator[dict]:
        """Primaries in slot order (data fragments first), then handoffs, error-limited
        primaries last."""
        limiter = self.backend.limiter
        deferred = []
        for node in primaries:
            if limiter.is_limited(ErrorLimiter.key(node)):
                deferred.append(node)
            else:
                yield node
        yield from HandoffIter(ring, part, limiter, max(0, max_nodes - len(primaries)))
        yield from deferred

    def open(self, ring, part: int, primaries: list[dict], suffix: str, method: str,
             headers: dict, max_nodes: int) -> tuple[ECResponse | None, int]:
        """The object's answer (an :class:`ECResponse`), or ``(None, 404|503)``.

        ``headers`` are the backend headers with the client's ``Range`` and conditions.
        """
        headers = dict(headers)
        headers[ETAG_IS_AT_HEADER] = EC_ETAG
        byte_range = headers.pop("Range", None)
        if_range = headers.pop("If-Range", None)
        nodes = self.node_order(ring, part, primaries, max_nodes)
        if method == "HEAD" or byte_range is not None:
            # checked against enough archives to meet every acknowledged write (a POST
            # or DELETE has quorum_size(n) of them), the newest state wins
            count = self.policy.node_count
            resp, _node, status = read_checked(
                self.backend, nodes, "HEAD", part, suffix, headers,
                self.policy.quorum(count), count - quorum_size(count) + 1,
                repair_stale=False)
            if resp is None:
                return None, status
            if method == "HEAD" or resp.status != 200:
                resp.discard()
                length = resp.headers.get(EC_CONTENT_LENGTH.lower())
                return ECResponse(resp.status, object_items(
                    resp.items, resp.headers,
                    int(length) if length and resp.status == 200 else None)), resp.status
            return self._ranged(resp, part, suffix, headers, byte_range, if_range,
                                lambda: self.node_order(ring, part, primaries, max_nodes))
        return self._get(nodes, part, suffix, headers, None, None)

    def _ranged(self, head: HTTPResponse, part: int, suffix: str,
                headers: dict, byte_range: str, if_range: str | None,
                fresh_nodes) -> tuple[ECResponse | None, int]:
        """A GET with a ``Range``, after the HEAD ``head`` gave the object's length;
        ``fresh_nodes()`` is a new node order (each range of several reads its own)."""
        head.discard()
        length = int(head.headers.get(EC_CONTENT_LENGTH.lower(), "0"))
        etag = head.headers.get(EC_ETAG.lower())
        stamp = head.headers.get(DATA_TIMESTAMP_HEADER.lower())
        ranges = None
        if if_range_allows(if_range, etag, _last_modified(head)):
            ranges = ranges_to_serve(parse_range_header(byte_range), length)
        if ranges == []:
            items = object_items(head.items, head.headers, 0)
            items.append(("Content-Range", unsatisfied_content_range(length)))
            return ECResponse(416, items), 416
        if not ranges:
            return self._get(fresh_nodes(), part, suffix, headers, None, stamp)
        if len(ranges) == 1:
            return self._get(fresh_nodes(), part, suffix, headers, (ranges[0], length),
                             stamp)
        content_type = head.headers.get("content-type", "application/octet-stream")
        layout = ByteRangesLayout(ranges, length, content_type, make_boundary())
        seg_layout = SegmentLayout.of(self.policy.driver, length,
                                      self.policy.ec_segment_size)

        def read_range(start: int, stop: int) -> Iterator[bytes]:
            fragments = _FragmentReader(self, fresh_nodes(), part, suffix, headers)
            span = seg_layout.span(start, stop)
            fragments.open(seg_layout.fragment_range(span), stamp)
            if fragments.timestamp is None:
                fragments.close()
                raise ClientException("no fragments for a range")
            yield from fragments.iter_span(span, seg_layout)

        items = [(k, v) for k, v in object_items(head.items, head.headers, None)
                 if k.lower() != "content-type"]
        items += [("Content-Type", layout.content_type),
                  ("Content-Length", str(layout.content_length))]
        return ECResponse(206, items, layout.iter_body(read_range),
                          layout.content_length), 206

    def _get(self, nodes: Iterator[dict], part: int, suffix: str, headers: dict,
             byte_range: tuple[tuple[int, int], int] | None, stamp: str | None
             ) -> tuple[ECResponse | None, int]:
        """A whole object, or one range of it (``((start, stop), object length)``), from
        ``k`` archives of one write."""
        fragments = _FragmentReader(self, nodes, part, suffix, headers)
        # the range's archive bytes are known only once the length is: a whole GET asks
        # whole archives, a ranged one (after its HEAD) only the segments it needs
        span_range = None
        if byte_range is not None:
            layout = SegmentLayout.of(self.policy.driver, byte_range[1],
                                      self.policy.ec_segment_size)
            span_range = layout.fragment_range(layout.span(*byte_range[0]))
        conditional = fragments.open(span_range, stamp)
        if conditional is not None:
            conditional.discard()
            return ECResponse(conditional.status, object_items(
                conditional.items, conditional.headers, None)), conditional.status
        if fragments.timestamp is None:
            fragments.close()
            return None, fragments.failure_status()
        # the answer's metadata is the newest of the archives' (a POST may have missed
        # some of them); the length and ETag are the same on every archive of a write
        first = max((archive.resp for archive in fragments.archives),
                    key=lambda resp: response_timestamp(resp.headers) or Timestamp(0))
        total = int(first.headers.get(EC_CONTENT_LENGTH.lower(), "0"))
        layout = SegmentLayout.of(self.policy.driver, total, self.policy.ec_segment_size)
        if byte_range is None:
            if total == 0:
                fragments.close()
                return ECResponse(200, object_items(first.items, first.headers, 0)), 200
            span = layout.span(0, total)
            return ECResponse(200, object_items(first.items, first.headers, total),
                              fragments.iter_span(span, layout), total,
                              (fragments.close,)), 200
        start, stop = byte_range[0]
        span = layout.span(start, stop)
        items = object_items(first.items, first.headers, stop - start)
        items.append(("Content-Range", content_range(start, stop, total)))
        return ECResponse(206, items, fragments.iter_span(span, layout), stop - start,
                          (fragments.close,)), 206


def _last_modified(resp: HTTPResponse) -> int | None:
    """``Last-Modified`` of an answer as whole seconds, for ``If-Range``."""
    stamp = resp.headers.get("x-timestamp")
    try:
        return Timestamp(stamp).ceil_seconds if stamp else None
    except ValueError:
        return None


class ECRead:
    """One read of an erasure-coded object (:class:`~oiofs.proxy.object_reader.ObjectRead`):
    the answer of :meth:`ECReader.open`; the reader replaces failing nodes itself, so a
    second attempt and a resumer have nothing more to offer."""

    def __init__(self, reader: ECReader, ring, part: int, nodes: list[dict], suffix: str,
                 headers: dict, max_nodes: int):
        self.reader = reader
        self.args = (ring, part, nodes, suffix)
        self.headers = headers
        self.max_nodes = max_nodes
        self.tried = False

    def answer(self, method: str) -> tuple[ECResponse | None, dict | None, int]:
        """The object's answer; ``(None, None, 503)`` when asked again."""
        if self.tried:
            return None, None, 503
        self.tried = True
        resp, status = self.reader.open(*self.args, method, self.headers, self.max_nodes)
        return resp, None, status

    def resumer(self, resp, length: int | None) -> None:
        """None: fragments are replaced inside the body already."""
        return None
